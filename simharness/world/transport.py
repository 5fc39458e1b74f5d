"""In-memory TCP connections for simulation: byte pipes delivered as loop events.

A `Connection` is two `Pipe`s, one per direction, each with its own event key
("conn-3>" client->server, "conn-3<" server->client), so the loop keeps each byte
stream in order while the explorer may interleave different connections. A write
appends to the pipe and posts at most one pending delivery event; when the event
runs it hands everything buffered (up to one `recv` worth) to the receiving
protocol, like TCP coalescing segments. EOF and resets travel on the same key, after
the data. `SimTransport` is the `asyncio.Transport` each end's protocol sees; it is
built only on public asyncio APIs and `ControlledLoop.post_event`.

Longer than ~300 lines on purpose: `asyncio.Transport` has a wide interface (flow
control, buffer limits, half-close, abort, extra info) that one class must implement.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
from asyncio.trsock import TransportSocket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simharness.world import faults
from simharness.world.sockets import SimSocket

if TYPE_CHECKING:
    from simharness.engine.loop import ControlledLoop
    from simharness.world.network import SimServer

#: asyncio's selector transports read at most this much per `recv` (`max_size`).
MAX_READ = 256 * 1024
#: Bytes a socket's kernel buffers absorb before asyncio's own write buffer grows.
KERNEL_BUFFER = 256 * 1024
_HIGH_WATER = 64 * 1024


def address_text(address: tuple[Any, ...]) -> str:
    host = address[0]
    return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"


class Pipe:
    """One direction of a connection: bytes written by one end, not yet read by the other."""

    def __init__(self, loop: ControlledLoop, key: str, label: str) -> None:
        self.loop = loop
        self.key = key
        self.label = label
        self.buffer = bytearray()
        self.eof = False          # the sender shut down its writing side (FIN queued)
        self.eof_done = False
        self.reset = False        # an RST is queued after the data
        self.scheduled = False    # a delivery event is already posted
        self.delivered = 0        # bytes handed to the receiver so far
        self.stalled = False      # fault: the receiver stopped reading for good
        self.held = False         # fault: a partition holds this direction
        self.server: tuple[Any, ...] | None = None  # the server's address (faults aim at it)
        self.sender: SimTransport | None = None
        self.receiver: SimTransport | None = None
        self.reverse: Pipe | None = None

    def send(self, data: bytes) -> None:
        self.buffer += data
        self.kick()

    def finish(self) -> None:
        if not self.eof:
            self.eof = True
            self.kick()

    def send_reset(self) -> None:
        receiver = self.receiver
        if receiver is not None and receiver.lost:
            return  # nobody left to tell
        self.reset = True
        self.kick()

    def kick(self) -> None:
        """Post a delivery event if there is something the receiver would take now."""
        receiver = self.receiver
        if self.scheduled or receiver is None or self.stalled or self.held:
            return
        if self.buffer:
            wanted = receiver.is_closing() or receiver.is_reading()
        elif self.reset:
            wanted = not receiver.is_closing()
        else:
            wanted = self.eof and not self.eof_done and receiver.is_reading()
        if wanted:
            self.scheduled = True
            alternatives = faults.delivery_alternatives(self.loop, self)
            if alternatives:
                faults.post_with_alternatives(self.loop, self.key, self.label, self._deliver, (), alternatives)
            else:
                self.loop.post_event("io", self.key, self.label, self._deliver)

    def _deliver(self) -> None:
        self.scheduled = False
        receiver = self.receiver
        if receiver is None or self.held:
            return  # a partition that heals kicks again
        if receiver.is_closing():
            # The end is closed: data sent to it is dropped and answered with a reset.
            if self.buffer:
                self.buffer.clear()
                self._drained()
                if self.reverse is not None:
                    self.reverse.send_reset()
            return
        if self.buffer:
            if not receiver.is_reading():
                return  # resume_reading() kicks again
            chunk = bytes(self.buffer[:MAX_READ])
            del self.buffer[:MAX_READ]
            self.delivered += len(chunk)
            self._drained()
            receiver.reading_context.run(receiver.feed, chunk)
        elif self.reset:
            self.reset = False
            receiver.reading_context.run(receiver.reset_arrived)
        elif self.eof and not self.eof_done and receiver.is_reading():
            self.eof_done = True
            receiver.reading_context.run(receiver.feed_eof)
        self.kick()

    def _drained(self) -> None:
        if self.sender is not None:
            self.sender.update_flow()

    def waiting(self) -> int:
        """Bytes that nobody is going to read until something else happens."""
        return 0 if self.scheduled else len(self.buffer)


class SimTransport(asyncio.Transport):
    """One end of an in-memory connection, as its protocol sees it."""

    def __init__(self, loop: ControlledLoop, protocol: asyncio.BaseProtocol, incoming: Pipe, outgoing: Pipe,
                 sock: SimSocket, server: SimServer | None = None) -> None:
        # As on the stock loop, extra "socket" is a TransportSocket around the socket.
        super().__init__({"peername": sock.getpeername(), "sockname": sock.getsockname(),
                          "socket": TransportSocket(sock)})
        self._loop = loop
        self._protocol = protocol
        self._sock = sock
        self._in = incoming
        self._out = outgoing
        self._server = server
        self._closing = False
        self._eof_sent = False
        self._paused = False
        self._writing_paused = False
        self._high = _HIGH_WATER
        self._low = _HIGH_WATER // 4
        self._eof_seen = False       # asyncio stops reading after EOF...
        self._broken = False         # ...so a reset then only shows on the next write
        self.lost = False            # connection_lost has been scheduled
        self.reading_context = contextvars.copy_context()  # set again by start()
        #: While loop.sendfile runs: told the buffer size instead of the protocol (world/sendfile.py).
        self.flow_override: Callable[[int], None] | None = None
        self.lost_done = False
        incoming.receiver = self
        outgoing.sender = self
        if server is not None:
            server.attach(self)

    def __repr__(self) -> str:
        return f"<SimTransport {self._out.label}{' closing' if self._closing else ''}>"

    # ----- started by simnet once the protocol should hear about the connection -----
    def start(self, waiter: asyncio.Future[Any] | None = None) -> None:
        """Call connection_made, then let pending bytes in (and wake the connecting task).

        As on the stock loop, connection_made runs in a copy of the context current now
        (the server's for an accepted connection, the connecting task's for a client), and
        every later read callback in one other copy taken now: never in the context of
        the task that sent the bytes.
        """
        self.reading_context = contextvars.copy_context()
        try:
            contextvars.copy_context().run(self._protocol.connection_made, self)
        except Exception as error:  # noqa: BLE001 - a protocol callback may raise anything; asyncio reports it
            self._fatal(error, "protocol.connection_made() failed")
        finally:
            self._in.kick()
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    # ----- asyncio.Transport API -------------------------------------------------------
    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def is_closing(self) -> bool:
        return self._closing

    def is_reading(self) -> bool:
        return not self._paused and not self._closing

    def pause_reading(self) -> None:
        if self._closing or self._paused:
            return
        self._paused = True

    def resume_reading(self) -> None:
        if self._closing or not self._paused:
            return
        self._paused = False
        if self._broken:
            self.force_close(ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"))
            return
        self._in.kick()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")
        if self._eof_sent:
            raise RuntimeError("Cannot call write() after write_eof()")
        if not data or self.lost:
            return  # asyncio drops writes to a lost connection silently, too
        if self._broken:  # the peer reset the connection while we were not reading
            self.force_close(BrokenPipeError(errno.EPIPE, "Broken pipe"))
            return
        self._out.send(bytes(data))
        self.update_flow()

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if self._closing or self._eof_sent:
            return
        self._eof_sent = True
        self._out.finish()

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._out.finish()
        self._in.kick()  # bytes already waiting for this end now bounce with a reset
        self._schedule_lost(None)

    def abort(self) -> None:
        # asyncio's abort() closes the socket without lingering: the peer sees EOF.
        self.force_close(None)

    def get_write_buffer_size(self) -> int:
        return max(0, len(self._out.buffer) - KERNEL_BUFFER)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (self._low, self._high)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = _HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high, self._low = high, low
        self.update_flow()

    # ----- driven by the pipes -----------------------------------------------------------
    def feed(self, data: bytes) -> None:
        protocol = self._protocol
        try:
            if isinstance(protocol, asyncio.BufferedProtocol):
                view = memoryview(data)
                while view:
                    buffer = memoryview(protocol.get_buffer(len(view))).cast("B")
                    if not len(buffer):
                        raise RuntimeError("get_buffer() returned an empty buffer")
                    count = min(len(buffer), len(view))
                    buffer[:count] = view[:count]
                    view = view[count:]
                    protocol.buffer_updated(count)
            else:
                protocol.data_received(data)  # type: ignore[attr-defined]
        except Exception as error:  # noqa: BLE001 - a protocol callback may raise anything; asyncio reports it
            self._fatal(error, "Fatal error: protocol.data_received() call failed.")

    def reset_arrived(self) -> None:
        if self.is_reading() and not self._eof_seen:
            self.force_close(ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"))
        else:
            self._broken = True

    def feed_eof(self) -> None:
        self._eof_seen = True
        try:
            keep_open = self._protocol.eof_received()  # type: ignore[attr-defined]
        except Exception as error:  # noqa: BLE001 - a protocol callback may raise anything; asyncio reports it
            self._fatal(error, "Fatal error: protocol.eof_received() call failed.")
            return
        if not keep_open:
            self.close()

    def force_close(self, error: BaseException | None) -> None:
        if self.lost:
            return
        if not self._closing:
            self._closing = True
            self._out.finish()
            self._in.kick()
        self._schedule_lost(error)

    def update_flow(self) -> None:
        """Call pause_writing/resume_writing as the write buffer crosses the limits."""
        size = self.get_write_buffer_size()
        if self.flow_override is not None:  # loop.sendfile holds the flow control
            self.flow_override(size)
            return
        try:
            if not self._writing_paused and size > self._high and not self.lost:
                self._writing_paused = True
                self._protocol.pause_writing()
            elif self._writing_paused and size <= self._low:
                self._writing_paused = False
                self._protocol.resume_writing()
        except Exception as error:  # noqa: BLE001 - a protocol callback may raise anything; asyncio reports it
            self._loop.call_exception_handler({"message": "protocol.pause_writing()/resume_writing() failed",
                                               "exception": error, "transport": self, "protocol": self._protocol})

    def _fatal(self, error: BaseException, message: str) -> None:
        self._loop.call_exception_handler({"message": message, "exception": error,
                                           "transport": self, "protocol": self._protocol})
        self.force_close(error)

    def _schedule_lost(self, error: BaseException | None) -> None:
        if self.lost:
            return
        self.lost = True
        if self.flow_override is not None:
            self.flow_override(-1)
        self._loop.call_soon(self._connection_lost, error)

    def _connection_lost(self, error: BaseException | None) -> None:
        try:
            self._protocol.connection_lost(error)
        finally:
            self.lost_done = True
            self._sock.close()  # as asyncio closes the socket after connection_lost
            if self._server is not None:
                self._server.detach(self)
                self._server = None

    @property
    def server(self) -> SimServer | None:
        """The server that accepted this end (None for a client end)."""
        return self._server

    def discard(self, notify: str) -> None:
        """End this side without protocol callbacks; tell the peer "eof", "reset" or ""."""
        self._closing = True
        self.lost = self.lost_done = True
        self._server = None
        if notify == "eof":
            self._out.finish()
        elif notify == "reset":
            self._out.send_reset()


class Connection:
    """One TCP connection: a client->server pipe and a server->client pipe."""

    def __init__(self, loop: ControlledLoop, number: int, family: int,
                 client_addr: tuple[Any, ...], server_addr: tuple[Any, ...]) -> None:
        self.loop = loop
        self.number = number
        self.family = family
        self.client_addr = client_addr
        self.server_addr = server_addr
        client, server = address_text(client_addr), address_text(server_addr)
        self.up = Pipe(loop, f"conn-{number}>", f"conn-{number} {client} -> {server}")
        self.down = Pipe(loop, f"conn-{number}<", f"conn-{number} {server} -> {client}")
        self.up.reverse, self.down.reverse = self.down, self.up
        self.up.server = self.down.server = server_addr
        self.ends: list[SimTransport] = []

    def attach_server(self, protocol: asyncio.BaseProtocol, server: SimServer | None,
                      sock: SimSocket | None = None) -> SimTransport:
        """The server's end; `sock` is the accepted socket it uses, when the scenario holds one."""
        sock = sock or SimSocket.connected(self.family, self.server_addr, self.client_addr)
        end = SimTransport(self.loop, protocol, self.up, self.down, sock, server)
        self.ends.append(end)
        return end

    def attach_client(self, protocol: asyncio.BaseProtocol, sock: SimSocket | None = None) -> SimTransport:
        """The client's end; `sock` is the connected socket it uses, when the scenario made one."""
        sock = sock or SimSocket.connected(self.family, self.client_addr, self.server_addr)
        end = SimTransport(self.loop, protocol, self.down, self.up, sock)
        self.ends.append(end)
        return end

    def dead_end(self, server_side: bool, reset: bool) -> None:
        """Give one side a closed end: the peer sees a reset (or EOF), its data bounces."""
        protocol = asyncio.Protocol()
        end = self.attach_server(protocol, None) if server_side else self.attach_client(protocol)
        end.discard("reset" if reset else "eof")

    def describe(self) -> str | None:
        """What is stuck on this connection, for deadlock messages (None: nothing)."""
        parts = []
        for pipe in (self.up, self.down):
            waiting = pipe.waiting()
            if waiting:
                receiver = pipe.receiver
                why = ("not accepted yet" if receiver is None
                       else "the receiver stopped reading: fault" if pipe.stalled
                       else "reading paused" if not receiver.is_reading() else "unread")
                parts.append(f"{pipe.label}: {waiting} bytes ({why})")
        return "; ".join(parts) or None
