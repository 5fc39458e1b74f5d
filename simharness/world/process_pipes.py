"""The pipes of a simulated child process: its stdout/stderr (`ReadPipe`) and stdin
(`WritePipe`), as the protocol's transports see them. They only hold flags; the
descriptors and what is read or written live in the child's `ChildTransport`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simharness.world.process_transport import ChildTransport


class ReadPipe(asyncio.ReadTransport):
    """The stdout or stderr side of a child, as the protocol's StreamReader sees it."""

    def __init__(self, child: ChildTransport, fd: int) -> None:
        super().__init__()
        self._child, self._fd, self._reading, self._closing = child, fd, True, False

    def pause_reading(self) -> None:
        self._reading = False  # data is still delivered once per settle (bounded by the child)

    def resume_reading(self) -> None:
        self._reading = True

    def is_reading(self) -> bool:
        return self._reading and not self._closing

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._child.close_read(self._fd)


class WritePipe(asyncio.WriteTransport):
    """The stdin side of a child: writes go out immediately when the pipe takes them."""

    def __init__(self, child : ChildTransport) -> None:
        super().__init__()
        self._child = child
        self._closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or self._child.stdin_fd is None:
            return
        self._child.stdin_buffer += data
        self._child.poke()
        self._child.flush_stdin()

    def get_write_buffer_size(self) -> int:
        return len(self._child.stdin_buffer)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (0, 0)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.close()

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._child.poke()
            self._child.flush_stdin()

    def abort(self) -> None:
        self._child.stdin_buffer.clear()
        self.close()
