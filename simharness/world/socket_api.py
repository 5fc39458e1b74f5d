"""The loop's raw socket methods on the simulated network.

`loop.sock_connect`, `sock_accept`, `sock_recv`, `sock_recv_into`, `sock_sendall`,
`connect_accepted_socket`, and the `sock=` forms of `create_connection` and
`create_server`, for `SimSocket`s (what `socket.socket(...)` returns in a simulated
run, see `world/sockets.py`). A connection made by `sock_connect` is the same
`Connection` `create_connection` makes: its handshake is an event of the explorer
(key "conn-N>") and its bytes travel as `transport.py` describes. A socket read and
written with the sock_* methods gets an end whose protocol, `RawEnd`, stands for the
kernel's buffers.
"""

from __future__ import annotations

import asyncio
import errno
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simharness.errors import UnsupportedInSimulation
from simharness.world.addresses import connect_targets, port_number
from simharness.world.network import Network, network, start_transport
from simharness.world.sockets import SimSocket
from simharness.world.transport import KERNEL_BUFFER, Connection, SimTransport

if TYPE_CHECKING:
    from simharness.engine.loop import ControlledLoop


def _release(waiters: list[asyncio.Future[None]]) -> None:
    """Wake every task waiting in `waiters` (and empty it)."""
    taken = waiters[:]
    waiters.clear()
    for waiter in taken:
        if not waiter.done():
            waiter.set_result(None)


class Backlog:
    """A listening socket's queue of established connections, waiting for `sock_accept`."""

    def __init__(self, loop: ControlledLoop) -> None:
        self._loop = loop
        self._queue: deque[Connection] = deque()
        self._waiters: list[asyncio.Future[None]] = []
        self._open = True

    def is_serving(self) -> bool:
        return self._open

    def accept(self, connection: Connection) -> None:
        """A handshake completed: the kernel queues it until the program accepts it."""
        self._queue.append(connection)
        _release(self._waiters)

    async def next(self) -> Connection:
        while not self._queue:
            if not self._open:
                raise OSError(errno.EBADF, "Bad file descriptor")
            waiter = self._loop.create_future()
            self._waiters.append(waiter)
            await waiter
        return self._queue.popleft()

    def take_all(self) -> list[Connection]:
        taken, self._queue = list(self._queue), deque()
        return taken

    def close(self) -> None:
        """The listening socket closed: queued connections are reset, as the kernel does."""
        self._open = False
        for connection in self.take_all():
            connection.dead_end(server_side=True, reset=True)
        _release(self._waiters)  # a task in sock_accept now sees EBADF

    def forget(self) -> None:
        self._open = False
        self._queue.clear()


class RawEnd(asyncio.Protocol):
    """The receive and send buffers of a socket used with the loop's sock_* methods."""

    def __init__(self, loop: ControlledLoop) -> None:
        self.loop = loop
        self.data = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.transport: SimTransport | None = None
        self._waiters: list[asyncio.Future[None]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, SimTransport)
        self.transport = transport
        # sock_sendall returns once the kernel holds every byte: pause beyond its buffer.
        transport.set_write_buffer_limits(high=0)

    def data_received(self, data: bytes) -> None:
        self.data += data
        if len(self.data) >= KERNEL_BUFFER and self.transport is not None:
            self.transport.pause_reading()  # the receive buffer is full: the sender waits
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return True  # a socket stays open after the peer's FIN until the program closes it

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()

    def resume_writing(self) -> None:
        self._wake()

    def _wake(self) -> None:
        _release(self._waiters)

    async def wait(self) -> None:
        waiter = self.loop.create_future()
        self._waiters.append(waiter)
        await waiter

    def take(self, limit: int) -> bytes:
        chunk = bytes(self.data[:limit])
        del self.data[:limit]
        transport = self.transport
        if transport is not None and not transport.is_reading() and len(self.data) < KERNEL_BUFFER:
            transport.resume_reading()
        return chunk


# ----- helpers ---------------------------------------------------------------------------
def _socket(loop: ControlledLoop, sock: Any, api: str) -> SimSocket:
    if not isinstance(sock, SimSocket):
        raise loop.refuse(UnsupportedInSimulation(
            f"loop.{api}" + ("" if api.endswith(")") else "()"),
            f"a {type(sock).__name__} is not on the simulated network: only sockets made by "
            "socket.socket() on the loop's thread during the run are"))
    if sock.sim_closed:
        raise OSError(errno.EBADF, "Bad file descriptor")
    if loop.get_debug() and sock.gettimeout() != 0:
        raise ValueError("the socket must be non-blocking")
    return sock


def _raw_end(loop: ControlledLoop, sock: SimSocket) -> RawEnd:
    if sock.raw is not None:
        return sock.raw
    if sock.connection is None:
        raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")
    if sock.end is not None:
        raise loop.refuse(UnsupportedInSimulation("loop.sock_*() on a socket a transport owns",
                                                  "the transport reads this socket"))
    raw = RawEnd(loop)
    connection = sock.connection
    sock.end = (connection.attach_server(raw, None, sock) if sock.server_side
                else connection.attach_client(raw, sock))
    sock.raw = raw
    sock.end.start()
    return raw


def listening_socket(loop: ControlledLoop, sock: Any) -> SimSocket:
    """The socket `create_server(sock=...)` serves on (bound, not connected)."""
    found = _socket(loop, sock, "create_server(sock=...)")
    if found.connection is not None:
        raise OSError(errno.EINVAL, "Invalid argument")
    if found.listener is None:
        found.listen()  # asyncio's start_serving calls listen(); it binds an unbound socket
    return found


async def transport_on_socket(loop: ControlledLoop, protocol_factory: Callable[[], asyncio.BaseProtocol],
                              sock: Any, api: str) -> tuple[SimTransport, asyncio.BaseProtocol]:
    """A transport over a connected socket (`create_connection(sock=)`, `connect_accepted_socket`)."""
    found = _socket(loop, sock, f"{api}(sock=...)")
    connection = found.connection
    if connection is None:
        raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")
    protocol = protocol_factory()
    if found.raw is not None:  # read with sock_recv before: what it buffered goes first
        transport, raw = found.end, found.raw
        assert transport is not None
        transport.set_protocol(protocol)
        transport.set_write_buffer_limits()
        found.raw = None
        loop.call_soon(_handover, transport, protocol, bytes(raw.data), raw.eof)
        await asyncio.sleep(0)
        return transport, protocol
    transport = (connection.attach_server(protocol, None, found) if found.server_side
                 else connection.attach_client(protocol, found))
    found.end = transport
    await start_transport(loop, transport)
    return transport, protocol


def _handover(transport: SimTransport, protocol: asyncio.BaseProtocol, data: bytes, eof: bool) -> None:
    protocol.connection_made(transport)
    if data:
        transport.feed(data)
    if eof:
        transport.feed_eof()


# ----- the loop methods ------------------------------------------------------------------
async def sock_connect(loop: ControlledLoop, sock: Any, address: Any) -> None:
    """`loop.sock_connect`: the handshake is the same explorer event as `create_connection`'s."""
    found = _socket(loop, sock, "sock_connect")
    if found.connection is not None:
        raise OSError(errno.EISCONN, "Transport endpoint is already connected")
    if not isinstance(address, tuple) or len(address) < 2:
        raise TypeError(f"{found.family.name} address must be a tuple (host, port)")
    targets = connect_targets(address[0], found.family)
    local = None
    if found.getsockname()[1] != 0:
        local = (found.family, found.getsockname()[0], found.getsockname()[1])
    connection = await network(loop).dial(targets, port_number(address[1]), local)
    found.attach(connection, server_side=False)


async def sock_accept(loop: ControlledLoop, sock: Any) -> tuple[SimSocket, tuple[Any, ...]]:
    """`loop.sock_accept`: the next connection the listening socket's backlog holds."""
    found = _socket(loop, sock, "sock_accept")
    if not isinstance(found.listener, Backlog):
        raise OSError(errno.EINVAL, "Invalid argument")
    connection = await found.listener.next()
    accepted = SimSocket.connected(connection.family, connection.server_addr, connection.client_addr,
                                   network(loop))
    accepted.attach(connection, server_side=True)
    return accepted, connection.client_addr


async def sock_recv(loop: ControlledLoop, sock: Any, nbytes: int) -> bytes:
    """`loop.sock_recv`: up to `nbytes` received bytes, b"" at end of file."""
    raw = _raw_end(loop, _socket(loop, sock, "sock_recv"))
    while not raw.data and not raw.eof:
        await raw.wait()
    if raw.data:
        return raw.take(nbytes)
    if raw.error is not None:
        raise raw.error
    return b""


async def sock_recv_into(loop: ControlledLoop, sock: Any, buf: Any) -> int:
    """`loop.sock_recv_into`: `sock_recv` into a writable buffer."""
    view = memoryview(buf).cast("B")
    data = await sock_recv(loop, sock, len(view))
    view[:len(data)] = data
    return len(data)


async def sock_sendall(loop: ControlledLoop, sock: Any, data: Any) -> None:
    """`loop.sock_sendall`: returns once the (simulated) kernel buffers hold every byte."""
    raw = _raw_end(loop, _socket(loop, sock, "sock_sendall"))
    transport = raw.transport
    assert transport is not None
    if raw.error is not None:
        raise raw.error
    if transport.is_closing():
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")
    transport.write(bytes(data))
    if transport.is_closing():  # the peer had reset the connection
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")
    while transport.get_write_buffer_size() > 0 and raw.error is None and not transport.is_closing():
        await raw.wait()


async def connect_accepted_socket(loop: ControlledLoop, protocol_factory: Callable[[], asyncio.BaseProtocol],
                                  sock: Any, **kwargs: Any) -> tuple[SimTransport, asyncio.BaseProtocol]:
    """`loop.connect_accepted_socket` for a socket `sock_accept` returned (no TLS)."""
    if kwargs.get("ssl") is not None:
        raise loop.refuse(UnsupportedInSimulation("loop.connect_accepted_socket(ssl=...)", "TLS is not simulated"))
    return await transport_on_socket(loop, protocol_factory, sock, "connect_accepted_socket")


def listen_backlog(net: Network, sock: SimSocket) -> None:
    """`sock.listen()`: connections now complete into a backlog for `sock_accept`."""
    net.listen(sock, Backlog(net.loop))
