"""The in-memory network of a simulated run: listeners, ports and connections.

`ControlledLoop.create_server` and `.create_connection` delegate here (addresses and
`getaddrinfo`: `world/addresses.py`). Each loop gets one `Network` (created on first use
and registered with `loop.add_source`, so it is torn down when the run ends). Ports are
deterministic per run: port 0 on a server counts up from 40000, client ports from
50000, in allocation order. Establishing a connection is an event the explorer
schedules (key "conn-N>", the client->server stream); bytes travel as described in
`world/transport.py`.

Longer than ~300 lines on purpose: listeners, port allocation, the server object and
the option checks of `create_server`/`create_connection` are one model of one host's
network; split, each part would reach into the others' state.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import sys
import weakref
from asyncio.trsock import TransportSocket
from collections.abc import Callable
from typing import Any

from simharness.engine.loop import ControlledLoop
from simharness.errors import UnsupportedInSimulation
from simharness.world import faults
from simharness.world.addresses import (LOOPBACK, V4, connect_targets, host_text, is_wildcard, port_number,
                                        server_addresses)
from simharness.world.faults import post_with_alternatives
from simharness.world.hosts import current_host
from simharness.world.real_listeners import real_listener_on
from simharness.world.sockets import SimSocket, sockaddr
from simharness.world.transport import Connection, SimTransport

__all__ = ["Connection", "Network", "SimServer", "create_connection", "create_server", "network"]

FIRST_SERVER_PORT = 40000
FIRST_CLIENT_PORT = 50000

_networks: weakref.WeakKeyDictionary[Any, Network] = weakref.WeakKeyDictionary()


class Network:
    """Per-run network state; registered with the loop as an `ExternalSource`."""

    def __init__(self, loop: ControlledLoop) -> None:
        self.loop = loop
        self.listening: list[tuple[SimSocket, SimServer]] = []
        self.connections: list[Connection] = []
        self.count = 0
        self.sockets_made = 0
        self._ports_in_use: set[int] = set()  # only asked, never iterated
        self._next = {"server": FIRST_SERVER_PORT, "client": FIRST_CLIENT_PORT}

    # ----- ExternalSource: nothing real is in flight ------------------------------------
    settles_instantly = True  # the loop need not ask before each decision

    def settle(self, timeout_s: float) -> str | None:
        return None

    def scenario_returned(self) -> None:
        """Faults last while the scenario runs: stalled and partitioned directions resume."""
        self._resume_faulted()

    def idle(self, timeout_s: float) -> bool:
        """Nothing else can happen: a peer that stopped reading (a fault) reads again.

        Every peer lives in the scenario's own process, so a peer that never reads again
        would hang the scenario's own code (its server's `wait_closed()`), which no real
        deployment of separate processes does: a stall outlasts every timer, not the run.
        """
        return self._resume_faulted()

    def _resume_faulted(self) -> bool:
        resumed = False
        for connection in self.connections:
            for pipe in (connection.up, connection.down):
                if pipe.stalled or pipe.held:
                    pipe.stalled = pipe.held = False
                    pipe.kick()
                    resumed = True
        return resumed

    def pending(self) -> str | None:
        stuck = [text for text in (c.describe() for c in self.connections) if text]
        return "network: " + "; ".join(stuck) if stuck else None

    def close(self) -> None:
        for connection in self.connections:
            for end in connection.ends:
                end.discard("")
            for pipe in (connection.up, connection.down):
                pipe.buffer.clear()
        for _, server in self.listening:
            server.forget()
        self.listening.clear()
        self.connections.clear()
        # The registry's value refers to its key: drop it, or every finished run's loop
        # (and its tasks, which asyncio's global task set still sees) stays alive.
        _networks.pop(self.loop, None)

    # ----- ports ------------------------------------------------------------------------
    def allocate(self, role: str) -> int:
        port = self._next[role]
        while port in self._ports_in_use:
            port += 1
        if port > 65535:
            raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")
        self._next[role] = port + 1
        self._ports_in_use.add(port)
        return port

    def next_socket_number(self) -> int:
        self.sockets_made += 1
        return self.sockets_made

    def bind_address(self, family: int, address: Any) -> tuple[Any, ...]:
        """The address `socket.bind(address)` takes on this host (port 0: a free one)."""
        if not isinstance(address, tuple) or len(address) not in ((2,) if family == V4 else (2, 3, 4)):
            raise TypeError(f"{'AF_INET' if family == V4 else 'AF_INET6'} address must be a tuple "
                            f"(host, port{'' if family == V4 else '[, flowinfo, scope_id]'})")
        host = "0.0.0.0" if family == V4 else "::"
        if address[0] not in ("", None):
            host = host_text(address[0])
        pairs = [p for p in server_addresses(host, 0) if p[0] == family]
        if not pairs:
            raise socket.gaierror(socket.EAI_ADDRFAMILY, "Address family for hostname not supported")
        return self.bind(family, pairs[0][1], port_number(address[1]))

    def bind(self, family: int, host: str, port: int) -> tuple[Any, ...]:
        """The address of a socket bound to (host, port); port 0 allocates one."""
        if port == 0:
            port = self.allocate("server")
        else:
            for sock, _ in self.listening:
                other_host, other_port = sock.address[:2]
                if (sock.family == family and other_port == port
                        and (other_host == host or is_wildcard(host) or is_wildcard(other_host))):
                    address = sockaddr(family, host, port)
                    raise OSError(errno.EADDRINUSE, f"error while attempting to bind on address "
                                  f"{address!r}: address already in use")
            self._ports_in_use.add(port)
        return sockaddr(family, host, port)

    def release(self, sock: SimSocket) -> None:
        port = sock.address[1]
        if not any(other is not sock and other.address[1] == port for other, _ in self.listening):
            self._ports_in_use.discard(port)

    def listen(self, sock: SimSocket, server: Any) -> None:
        """`server` (a SimServer, or a Backlog for `loop.sock_accept`) now owns `sock`."""
        self.listening.append((sock, server))
        sock.listener = server

    def unlisten(self, server: Any) -> None:
        mine = [sock for sock, owner in self.listening if owner is server]
        self.listening = [(s, owner) for s, owner in self.listening if owner is not server]
        for sock in mine:
            self.release(sock)

    def find_listener(self, family: int, host: str, port: int) -> Any:
        """The server accepting on (host, port); a bound socket listens only while serving."""
        for sock, server in self.listening:
            bound_host, bound_port = sock.address[:2]
            if (sock.family == family and bound_port == port and server.is_serving()
                    and (bound_host == host or is_wildcard(bound_host))):
                return server
        return None

    # ----- connections ----------------------------------------------------------------
    async def dial(self, targets: list[tuple[int, str]], port: int,
                   local: tuple[int, str, int] | None) -> Connection:
        """Connect to the first of `targets` that listens on `port`: the handshake is an event."""
        self.count += 1
        number = self.count
        future: asyncio.Future[Connection] = self.loop.create_future()
        family, host = targets[0]
        target = f"{host}:{port}" if family == V4 else f"[{host}]:{port}"
        alternatives = faults.connect_alternatives(self.loop, number, target, family, host, port, future)
        post_with_alternatives(self.loop, f"conn-{number}>", f"conn-{number} connect to {target}",
                               self.connect_event, (number, targets, port, local, future), alternatives)
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.exception() is None:
                future.result().dead_end(server_side=False, reset=False)
            raise

    def connect_event(self, number: int, targets: list[tuple[int, str]], port: int,
                      local: tuple[int, str, int] | None, future: asyncio.Future[Connection]) -> None:
        """The scheduled moment a connection attempt reaches the listener (or is refused)."""
        if future.done():
            return  # the connecting task was cancelled before the handshake
        for family, host in targets:
            server = self.find_listener(family, host, port)
            if server is not None:
                break
        else:
            family, host = targets[0]
            if (host.startswith("127.") or host == "::1") and real_listener_on(port):
                future.set_exception(self.loop.refuse(UnsupportedInSimulation(
                    "a connection to a real server",
                    f"{sockaddr(family, host, port)[:2]} is served by a real socket outside the simulated "
                    "network (a server the test started in a thread or process): run this test on the "
                    "stock loop")))
                return
            future.set_exception(OSError(errno.ECONNREFUSED, f"Connect call failed {sockaddr(family, host, port)}"))
            return
        if local is not None:
            client_addr = sockaddr(family, local[1], local[2] or self.allocate("client"))
        else:
            client_addr = sockaddr(family, LOOPBACK[family], self.allocate("client"))
        connection = Connection(self.loop, number, family, client_addr, sockaddr(family, host, port))
        self.connections.append(connection)
        server.accept(connection)
        future.set_result(connection)


class SimServer(asyncio.AbstractServer):
    """What `create_server` returns in simulation: an `asyncio.Server` look-alike.

    Closing it stops new connections (they are refused) and leaves existing ones
    open; `wait_closed()` follows the running Python's own `asyncio.Server`.
    """

    def __init__(self, loop: ControlledLoop, net: Network, sockets: list[SimSocket],
                 protocol_factory: Callable[[], asyncio.BaseProtocol]) -> None:
        self._loop = loop
        self._network = net
        self._sockets: list[SimSocket] | None = sockets
        # What the stock Server.sockets holds: TransportSocket wrappers, made once.
        self._wrapped = tuple(TransportSocket(sock) for sock in sockets)
        self._protocol_factory = protocol_factory
        self._clients: list[SimTransport] = []
        self._waiters: list[asyncio.Future[Any]] | None = []
        self._serving = False
        self._context = contextvars.copy_context()  # taken again when it starts serving
        self.host = current_host()  # the host (world/hosts.py) whose code created it, if any
        if self.host is not None:
            self.host.servers.append(self)
        self._serving_forever_fut: asyncio.Future[Any] | None = None
        for sock in sockets:
            net.listen(sock, self)

    def __repr__(self) -> str:
        return f"<SimServer sockets={self.sockets!r}>"

    # ----- connections ----------------------------------------------------------------
    def accept(self, connection: Connection) -> None:
        """A handshake completed: make the server's protocol and transport.

        In the context current when the server started serving, as the stock loop's
        accept callback runs (not in the connecting client's).
        """
        self._context.run(self._accept, connection)

    def _accept(self, connection: Connection) -> None:
        try:
            protocol = self._protocol_factory()
        except Exception as error:  # noqa: BLE001 - a protocol callback may raise anything; asyncio reports it
            self._loop.call_exception_handler({"message": "Error on transport creation for incoming connection",
                                               "exception": error})
            connection.dead_end(server_side=True, reset=False)
            return
        connection.attach_server(protocol, self).start()

    def attach(self, transport: SimTransport) -> None:
        self._clients.append(transport)

    def detach(self, transport: SimTransport) -> None:
        if transport in self._clients:
            self._clients.remove(transport)
        if not self._clients and self._sockets is None:
            self._wakeup()

    def _wakeup(self) -> None:
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def begin_serving(self) -> None:
        # Like asyncio, a server created with start_serving=False has bound sockets
        # that do not listen yet: connections are refused until this runs.
        if self._sockets is not None and not self._serving:
            self._serving = True
            self._context = contextvars.copy_context()

    def crash(self) -> None:
        """Its host died: the listener closes, the kernel closes each connection (the peer
        sees end of file, then a reset for bytes the host had not read)."""
        self.close()
        for transport in list(self._clients):
            transport.abort()

    def forget(self) -> None:
        """Drop everything without callbacks (the run is over)."""
        self._sockets = None
        self._serving = False
        self._clients.clear()

    # ----- asyncio.Server API ---------------------------------------------------------
    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    @property
    def sockets(self) -> tuple[TransportSocket, ...]:
        return () if self._sockets is None else self._wrapped

    def close(self) -> None:
        if self._sockets is None:
            return
        self._network.unlisten(self)
        sockets, self._sockets = self._sockets, None
        for sock in sockets:
            sock.close()  # the listening sockets close with the server, as in asyncio
        self._serving = False
        if self._serving_forever_fut is not None and not self._serving_forever_fut.done():
            self._serving_forever_fut.cancel()
            self._serving_forever_fut = None
        if not self._clients:
            self._wakeup()

    def close_clients(self) -> None:
        for transport in list(self._clients):
            transport.close()

    def abort_clients(self) -> None:
        for transport in list(self._clients):
            transport.abort()

    async def start_serving(self) -> None:
        self.begin_serving()
        await asyncio.sleep(0)

    async def serve_forever(self) -> None:
        if self._serving_forever_fut is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._sockets is None:
            raise RuntimeError(f"server {self!r} is closed")
        self.begin_serving()
        self._serving_forever_fut = self._loop.create_future()
        try:
            await self._serving_forever_fut
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever_fut = None

    async def wait_closed(self) -> None:
        # Python 3.11 returned at once for a closed server even with live connections;
        # 3.12.1+ waits for both. Simulation must match the interpreter it runs on.
        if self._waiters is None or (sys.version_info < (3, 12) and self._sockets is None):
            return
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        await waiter


def network(loop: ControlledLoop) -> Network:
    """The loop's network, created and registered as a source on first use."""
    net = _networks.get(loop)
    if net is None:
        net = _networks[loop] = Network(loop)
        loop.add_source(net)
    return net


# ----- entry points called by ControlledLoop ---------------------------------------------
def _check_options(loop: ControlledLoop, api: str, given: dict[str, Any], allowed: tuple[str, ...],
                   unsupported: dict[str, Callable[[Any], bool]]) -> None:
    for name, value in given.items():
        if name in unsupported:
            if unsupported[name](value):
                raise loop.refuse(UnsupportedInSimulation(f"loop.{api}({name}=...)",
                                                          _HINTS.get(name, "not simulated")))
        elif name not in allowed:
            raise TypeError(f"{api}() got an unexpected keyword argument {name!r}")


_HINTS = {
    "ssl": "TLS is not simulated; run plain TCP in simulation and TLS on the real backend",
    "reuse_port": "SO_REUSEPORT load balancing is not simulated",
    "ssl_handshake_timeout": "TLS is not simulated", "ssl_shutdown_timeout": "TLS is not simulated",
    "server_hostname": "TLS is not simulated",
}
_SET: Callable[[Any], bool] = lambda value: value is not None and value is not False


async def create_server(loop: ControlledLoop, protocol_factory: Callable[[], asyncio.BaseProtocol],
                        host: Any = None, port: Any = None, **kwargs: Any) -> SimServer:
    """`loop.create_server` on the in-memory network (same arguments, no TLS)."""
    _check_options(loop, "create_server", kwargs,
                   ("family", "flags", "backlog", "reuse_address", "start_serving", "keep_alive", "sock"),
                   {"ssl": _SET, "reuse_port": bool, "ssl_handshake_timeout": _SET,
                    "ssl_shutdown_timeout": _SET})
    net = network(loop)
    if kwargs.get("sock") is not None:
        if host is not None or port is not None:
            raise ValueError("host/port and sock can not be specified at the same time")
        from simharness.world.socket_api import listening_socket  # it builds on this module
        sockets = [listening_socket(loop, kwargs["sock"])]
    else:
        if host is None and port is None:
            raise ValueError("Neither host/port nor sock were specified")
        sockets = _bind_all(net, host, port, int(kwargs.get("family", 0)))
    backlogs = [s.listener for s in sockets if s.listener is not None]
    for backlog in backlogs:  # a socket listened on before: the server takes its queue over
        net.unlisten(backlog)
    server = SimServer(loop, net, sockets, protocol_factory)
    for backlog in backlogs:
        for connection in backlog.take_all():
            server.accept(connection)
    if kwargs.get("start_serving", True):
        server.begin_serving()
        await asyncio.sleep(0)  # asyncio skips one iteration here, too
    return server


def _bind_all(net: Network, host: Any, port: Any, family: int) -> list[SimSocket]:
    number = port_number(port)
    addresses = server_addresses(host, family)
    sockets: list[SimSocket] = []
    try:
        for fam, address in addresses:
            sockets.append(SimSocket.connected(fam, net.bind(fam, address, number), None, net))
    except OSError:
        for sock in sockets:
            net.release(sock)
        raise
    return sockets


async def create_connection(loop: ControlledLoop, protocol_factory: Callable[[], asyncio.BaseProtocol],
                            host: Any = None, port: Any = None,
                            **kwargs: Any) -> tuple[SimTransport, asyncio.BaseProtocol]:
    """`loop.create_connection` on the in-memory network: the handshake is a scheduled event."""
    _check_options(loop, "create_connection", kwargs,
                   ("family", "proto", "flags", "local_addr", "happy_eyeballs_delay", "interleave", "all_errors",
                    "sock"),
                   {"ssl": _SET, "server_hostname": _SET, "ssl_handshake_timeout": _SET,
                    "ssl_shutdown_timeout": _SET})
    if kwargs.get("sock") is not None:
        if host is not None or port is not None:
            raise ValueError("host/port and sock can not be specified at the same time")
        from simharness.world.socket_api import transport_on_socket  # it builds on this module
        return await transport_on_socket(loop, protocol_factory, kwargs["sock"], "create_connection")
    if host is None and port is None:
        raise ValueError("host and port was not specified and no sock specified")
    family = int(kwargs.get("family", 0))
    targets = connect_targets(host, family)
    number = port_number(port)
    local: tuple[int, str, int] | None = None
    if kwargs.get("local_addr") is not None:
        local_host, local_port = kwargs["local_addr"][:2]
        binds = [a for a in server_addresses(local_host, family) if a[0] == targets[0][0]]
        if not binds:
            raise OSError(errno.EINVAL, f"local_addr {kwargs['local_addr']!r} does not match the remote family")
        local = (binds[0][0], binds[0][1], port_number(local_port))
    connection = await network(loop).dial(targets, number, local)
    protocol = protocol_factory()
    transport = connection.attach_client(protocol)
    await start_transport(loop, transport)
    return transport, protocol


async def start_transport(loop: ControlledLoop, transport: SimTransport) -> None:
    """Call connection_made on the next iteration, as asyncio does, and wait for it."""
    waiter = loop.create_future()
    loop.call_soon(transport.start, waiter)
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
