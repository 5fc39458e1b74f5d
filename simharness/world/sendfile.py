"""`loop.sendfile` on the simulated network: asyncio's own read-and-write fallback.

The stock loop on Linux hands a file to `os.sendfile`; elsewhere (and for TLS) it reads
the file in the default executor, 16 KiB at a time, and writes each block once the
transport's buffer has drained, with reading paused and the protocol's flow-control
callbacks held back meanwhile (`BaseEventLoop._sendfile_fallback`). Simulation has no
descriptor to hand over, so it always takes that fallback, built here on public APIs:
the reads are executor work items (outside events the explorer orders), the writes
travel as any other bytes. `fallback=False` therefore raises
`SendfileNotAvailableError`, where Linux would have sent the file natively.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from simharness.errors import UnsupportedInSimulation
from simharness.world.transport import SimTransport

if TYPE_CHECKING:
    from simharness.engine.loop import ControlledLoop

#: asyncio's fallback block size.
BLOCK = 16384


class _FileFlow:
    """Flow control of a transport while it sends a file (the protocol hears nothing)."""

    def __init__(self, transport: SimTransport) -> None:
        self.transport = transport
        self.waiter: asyncio.Future[None] | None = None

    def __call__(self, size: int) -> None:
        """The transport's buffer changed (-1: the connection is lost)."""
        low = self.transport.get_write_buffer_limits()[0]
        if self.waiter is not None and not self.waiter.done() and (size < 0 or size <= low):
            self.waiter.set_result(None)

    async def drain(self, loop: ControlledLoop) -> None:
        transport = self.transport
        if transport.get_write_buffer_size() > transport.get_write_buffer_limits()[1]:
            self.waiter = loop.create_future()
            await self.waiter
        if transport.is_closing():
            raise ConnectionError("Connection closed by peer")


async def sendfile(loop: ControlledLoop, transport: Any, file: Any, offset: int = 0, count: int | None = None,
                   *, fallback: bool = True) -> int:
    """`loop.sendfile` for a transport of the simulated network (see the module docstring)."""
    if not isinstance(transport, SimTransport):
        raise loop.refuse(UnsupportedInSimulation(
            "loop.sendfile()", f"a {type(transport).__name__} is not a transport of the simulated network"))
    if transport.is_closing():
        raise RuntimeError("Transport is closing")
    if not fallback:
        raise asyncio.SendfileNotAvailableError(
            f"fallback is disabled and native sendfile is not supported for transport {transport!r}")
    # From `offset` whatever the file's position, as os.sendfile reads (asyncio's fallback
    # seeks only for offset > 0, so it sends from the position when offset is 0).
    file.seek(offset)
    blocksize = min(count, BLOCK) if count else BLOCK
    buffer = bytearray(blocksize)
    total = 0
    flow = _FileFlow(transport)
    was_reading = transport.is_reading()
    transport.pause_reading()
    transport.flow_override = flow
    try:
        while True:
            if count:
                blocksize = min(count - total, blocksize)
                if blocksize <= 0:
                    return total
            view = memoryview(buffer)[:blocksize]
            read = await loop.run_in_executor(None, file.readinto, view)
            if not read:
                return total
            await flow.drain(loop)
            transport.write(bytes(view[:read]))
            total += read
    finally:
        if total > 0 and hasattr(file, "seek"):
            file.seek(offset + total)
        transport.flow_override = None
        if was_reading:
            transport.resume_reading()
        transport.update_flow()  # the protocol hears where the buffer stands now
