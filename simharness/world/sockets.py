"""Socket objects of the simulated network, and the gate that hands them to scenario code.

A `SimSocket` is what `socket.socket(...)` returns to scenario code during a simulated
run: a non-blocking-capable AF_INET/AF_INET6 SOCK_STREAM socket with no descriptor,
bound to simulated addresses. Libraries that build their own sockets and hand them to
the loop (aiohttp >= 3.10 through aiohappyeyeballs: `socket.socket`, `setblocking`,
`loop.sock_connect`, then `loop.create_connection(sock=...)`) therefore run unmodified.
The loop-side operations live in `world/socket_api.py`.

The gate replaces `socket.socket` while an exploration runs (an entry of
`execution.ENVIRONMENT_PATCHES`, like the SQLite adapter), and only on the thread that
runs the controlled loop, while a run is in progress: helper threads, the caller and
the real backend keep real sockets. It stays a class whose `isinstance` answers for
real sockets, so code that checks `isinstance(x, socket.socket)` keeps working.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import ssl  # noqa: F401  (imported before the gate: `ssl.SSLSocket` must subclass the real socket)
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from simharness.engine import execution
from simharness.engine.loop import ControlledLoop
from simharness.errors import UnsupportedInSimulation

if TYPE_CHECKING:
    from simharness.world.network import Network
    from simharness.world.socket_api import RawEnd
    from simharness.world.transport import Connection, SimTransport

_RealSocket = socket.socket
V4, V6 = socket.AF_INET, socket.AF_INET6
_TYPE_FLAGS = getattr(socket, "SOCK_NONBLOCK", 0) | getattr(socket, "SOCK_CLOEXEC", 0)


def sockaddr(family: int, host: str, port: int) -> tuple[Any, ...]:
    """The socket address tuple the real socket module uses for this family."""
    return (host, port) if family == V4 else (host, port, 0, 0)


def _refuse(net: Network | None, api: str, hint: str) -> UnsupportedInSimulation:
    error = UnsupportedInSimulation(api, hint)
    return net.loop.refuse(error) if net is not None else error


class SimSocket(_RealSocket):
    """A TCP socket on the simulated network (no file descriptor: `fileno()` is -1).

    It is a `socket.socket` subclass whose real part is never opened; every method a
    library uses on a stream socket is answered from the simulated network. Options
    (TCP_NODELAY, SO_REUSEADDR, SO_KEEPALIVE...) are accepted and remembered without
    effect. Its hash is its creation number within the run, so sets of sockets iterate
    the same in every process.
    """

    def __init__(self, family: int = -1, type: int = -1, proto: int = -1, fileno: Any = None, *,
                 net: Network | None = None) -> None:
        # socket.socket.__init__ is never called: the C socket stays closed (fd -1).
        self._net = net
        if fileno is not None:
            raise _refuse(net, "socket.socket(fileno=...)", "a real descriptor cannot join the simulated network")
        family = V4 if family == -1 else int(family)
        kind = socket.SOCK_STREAM if type == -1 else int(type)
        if family not in (V4, V6):
            raise _refuse(net, f"socket.socket({socket.AddressFamily(family).name})",
                          "the simulated network has IPv4 and IPv6 stream sockets only")
        if kind & ~_TYPE_FLAGS != socket.SOCK_STREAM:
            raise _refuse(net, f"socket.socket({socket.SocketKind(kind & ~_TYPE_FLAGS).name})",
                          "UDP and raw sockets are not simulated")
        self._family = socket.AddressFamily(family)
        self._proto = 0 if proto == -1 else int(proto)
        self._timeout: float | None = 0.0 if kind & getattr(socket, "SOCK_NONBLOCK", 0) else None
        self._options: dict[tuple[int, int], Any] = {}
        self._sockname: tuple[Any, ...] | None = None
        self._peername: tuple[Any, ...] | None = None
        self._number = net.next_socket_number() if net is not None else 0
        self.sim_closed = False
        self.listener: Any = None                   # a Backlog or SimServer once listening
        self.connection: Connection | None = None   # once connected or accepted
        self.server_side = False
        self.end: SimTransport | None = None        # the transport over `connection`, once made
        self.raw: RawEnd | None = None              # set when the loop's sock_* methods use it

    @classmethod
    def connected(cls, family: int, sockname: tuple[Any, ...], peername: tuple[Any, ...] | None,
                  net: Network | None = None) -> SimSocket:
        """A socket already at an address (a server's, or one end of a connection)."""
        sock = cls(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, net=net)
        sock._sockname, sock._peername, sock._timeout = sockname, peername, 0.0
        return sock

    # ----- what a socket says about itself -------------------------------------------
    family = property(lambda self: self._family)  # type: ignore[assignment]
    type = property(lambda self: socket.SOCK_STREAM)  # type: ignore[assignment]
    proto = property(lambda self: self._proto)  # type: ignore[assignment]

    def __hash__(self) -> int:
        return self._number

    def __eq__(self, other: object) -> bool:
        return self is other

    def __repr__(self) -> str:
        state = " [closed]" if self.sim_closed else ""
        peer = f", raddr={self._peername}" if self._peername else ""
        return (f"<simharness.SimSocket{state} family={self._family.name}, "
                f"laddr={self._sockname}{peer}>")

    def fileno(self) -> int:
        return -1  # there is no descriptor: code that selects on it cannot be simulated

    @property
    def address(self) -> tuple[Any, ...]:
        """The local address, also after closing (the network's own bookkeeping reads it)."""
        if self._sockname is None:  # unbound, as the kernel reports it
            return sockaddr(self._family, "0.0.0.0" if self._family == V4 else "::", 0)
        return self._sockname

    def getsockname(self) -> tuple[Any, ...]:
        self._check_open()
        return self.address

    def getpeername(self) -> tuple[Any, ...]:
        self._check_open()
        if self._peername is None:
            raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")
        return self._peername

    def setsockopt(self, level: int, option: int, value: Any, *rest: Any) -> None:
        self._check_open()
        self._options[(level, option)] = value

    def getsockopt(self, level: int, option: int, *rest: Any) -> Any:
        self._check_open()
        if (level, option) == (socket.SOL_SOCKET, socket.SO_ERROR):
            return 0
        if (level, option) == (socket.SOL_SOCKET, socket.SO_TYPE):
            return int(socket.SOCK_STREAM)
        return self._options.get((level, option), 0)

    def setblocking(self, flag: bool) -> None:
        self._timeout = None if flag else 0.0

    def getblocking(self) -> bool:
        return self._timeout != 0.0

    def settimeout(self, value: float | None) -> None:
        self._timeout = value

    def gettimeout(self) -> float | None:
        return self._timeout

    def get_inheritable(self) -> bool:
        return False

    def set_inheritable(self, inheritable: bool) -> None:
        pass

    # ----- binding, listening, closing -----------------------------------------------
    def _check_open(self) -> None:
        if self.sim_closed:
            raise OSError(errno.EBADF, "Bad file descriptor")

    def _network(self, api: str) -> Network:
        if self._net is None:
            raise UnsupportedInSimulation(f"socket.{api}()", "this socket belongs to no simulated run")
        return self._net

    def bind(self, address: Any) -> None:
        self._check_open()
        net = self._network("bind")
        if self._sockname is not None:
            raise OSError(errno.EINVAL, "Invalid argument")
        self._sockname = net.bind_address(self._family, address)

    def listen(self, backlog: int = 128) -> None:
        self._check_open()
        net = self._network("listen")
        if self._sockname is None:  # listen() on an unbound socket binds a free port first
            self._sockname = net.bind_address(self._family, ("", 0))
        if self.listener is None:
            from simharness.world.socket_api import listen_backlog  # it builds on this module
            listen_backlog(net, self)

    def close(self) -> None:
        if self.sim_closed:
            return
        self.sim_closed = True
        if self.listener is not None and self._net is not None:
            self._net.unlisten(self.listener)
            self.listener.close()
        elif self.end is not None:
            self.end.close()
        elif self.connection is not None:  # connected, never used: the peer sees EOF
            self.connection.dead_end(server_side=self.server_side, reset=False)
        self.listener = self.connection = None

    def attach(self, connection: Connection, server_side: bool) -> None:
        """This socket is now one end of `connection` (after sock_connect or sock_accept)."""
        self.connection, self.server_side = connection, server_side
        mine, theirs = ((connection.server_addr, connection.client_addr) if server_side
                        else (connection.client_addr, connection.server_addr))
        self._sockname, self._peername = mine, theirs

    def detach(self) -> int:
        self.close()
        return -1

    def shutdown(self, how: int) -> None:
        self._check_open()
        if self.end is None:
            raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")
        if how in (socket.SHUT_WR, socket.SHUT_RDWR):
            self.end.write_eof()

    # ----- blocking and descriptor-level calls: not simulated ------------------------
    def _direct(self, api: str) -> Any:
        raise _refuse(self._net, f"socket.{api}()", "use the loop's sock_* methods or a transport "
                      "in simulation; direct socket I/O cannot be scheduled")

    def connect(self, address: Any) -> None:
        self._direct("connect")

    def connect_ex(self, address: Any) -> int:
        return self._direct("connect_ex")  # type: ignore[no-any-return]

    def accept(self) -> tuple[Any, Any]:
        return self._direct("accept")  # type: ignore[no-any-return]

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        return self._direct("recv")  # type: ignore[no-any-return]

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        return self._direct("recv_into")  # type: ignore[no-any-return]

    def send(self, data: Any, flags: int = 0) -> int:
        return self._direct("send")  # type: ignore[no-any-return]

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._direct("sendall")

    def dup(self) -> socket.socket:
        """Another socket object for the same endpoint (closing one leaves the other open)."""
        self._check_open()
        copy = SimSocket.connected(self._family, self.address, self._peername)
        copy._proto, copy._timeout, copy._options = self._proto, self._timeout, dict(self._options)
        return copy

    def makefile(self, *args: Any, **kwargs: Any) -> Any:
        return self._direct("makefile")


# ----- the gate: socket.socket during a simulated run -----------------------------------
_gate_thread: list[int | None] = [None]


class _GateMeta(type):
    """Makes `isinstance(x, socket.socket)` true for real sockets while the gate is installed."""

    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, _RealSocket)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, _RealSocket)


class _SocketGate(_RealSocket, metaclass=_GateMeta):
    """`socket.socket` while an exploration runs: simulated on the loop's thread in a run."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is _SocketGate:
            loop = ControlledLoop.active
            if loop is not None and threading.get_ident() == _gate_thread[0]:
                from simharness.world.network import network
                return SimSocket(*args, net=network(loop), **kwargs)
            return _RealSocket(*args, **kwargs)
        return super().__new__(cls, *args, **kwargs)  # a class defined on the gate: a real socket


@contextlib.contextmanager
def socket_gate() -> Iterator[None]:
    """Install the gate for a series of runs on this thread (restores what it replaced)."""
    previous, previous_thread = socket.socket, _gate_thread[0]
    socket.socket = _SocketGate  # type: ignore[misc]
    _gate_thread[0] = threading.get_ident()
    try:
        yield
    finally:
        socket.socket = previous  # type: ignore[misc]
        _gate_thread[0] = previous_thread


if socket_gate not in execution.ENVIRONMENT_PATCHES:
    execution.ENVIRONMENT_PATCHES.append(socket_gate)
