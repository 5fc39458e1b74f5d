"""The tracers behind `AccessRecorder`: `sys.settrace` on 3.11, `sys.monitoring` on 3.12+.

Both call `AccessRecorder.record` at the access sites of user code, and nowhere else
as far as they can help it: the 3.11 tracer asks for opcode events only in frames of
code that has sites; the 3.12+ one switches instruction events on per such code
object and off again (`DISABLE`) at every instruction that is not a site.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import CodeType, FrameType
from typing import Any

from simharness.engine.accesses import AccessRecorder


class _Settrace:
    """3.11: `sys.settrace` with opcode events, in user frames of the loop thread only."""

    def __init__(self, recorder: AccessRecorder) -> None:
        self.recorder = recorder
        self.previous: Callable[..., Any] | None = None

    def _local(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        if event == "opcode":
            site = self.recorder.sites(frame.f_code).get(frame.f_lasti)
            if site is not None:
                self.recorder.record(frame, site)
        return self._local

    def _global(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        if event != "call" or not self.recorder.sites(frame.f_code):
            return None
        frame.f_trace_lines = False
        frame.f_trace_opcodes = True
        return self._local

    def start(self) -> None:
        self.previous = sys.gettrace()
        sys.settrace(self._global)

    def stop(self) -> None:
        sys.settrace(self.previous)


class _Monitoring:
    """3.12+: `sys.monitoring` instruction events, on per user code object, kept only at sites."""

    TOOLS = (4, 3)  # ids that coverage, debuggers and profilers (0, 1, 2, 5) leave free

    def __init__(self, recorder: AccessRecorder) -> None:
        self.recorder = recorder
        self.tool: int | None = None
        self.enabled: set[CodeType] = set()

    def _start(self, code: CodeType, offset: int) -> Any:
        if code not in self.enabled and self.recorder.sites(code):
            self.enabled.add(code)
            sys.monitoring.set_local_events(self.tool, code, sys.monitoring.events.INSTRUCTION)  # type: ignore[attr-defined]
        return None

    def _instruction(self, code: CodeType, offset: int) -> Any:
        site = self.recorder.sites(code).get(offset)
        if site is None:
            return sys.monitoring.DISABLE  # type: ignore[attr-defined]  # never a site: stop asking here
        self.recorder.record(sys._getframe(1), site)
        return None

    def start(self) -> None:
        monitoring = sys.monitoring  # type: ignore[attr-defined]
        for tool in self.TOOLS:
            if monitoring.get_tool(tool) is None:
                monitoring.use_tool_id(tool, "simharness accesses")
                self.tool = tool
                break
        else:
            return  # every spare id is taken: the run is recorded without accesses
        events = monitoring.events
        monitoring.register_callback(self.tool, events.PY_START, self._start)
        monitoring.register_callback(self.tool, events.PY_RESUME, self._start)
        monitoring.register_callback(self.tool, events.INSTRUCTION, self._instruction)
        monitoring.set_events(self.tool, events.PY_START | events.PY_RESUME)

    def stop(self) -> None:
        if self.tool is None:
            return
        monitoring = sys.monitoring  # type: ignore[attr-defined]
        for code in self.enabled:
            monitoring.set_local_events(self.tool, code, 0)
        monitoring.set_events(self.tool, 0)
        for event in (monitoring.events.PY_START, monitoring.events.PY_RESUME, monitoring.events.INSTRUCTION):
            monitoring.register_callback(self.tool, event, None)
        monitoring.free_tool_id(self.tool)
        self.tool = None


@contextmanager
def recording(recorder: AccessRecorder | None) -> Iterator[None]:
    """Trace user code into `recorder` inside the block (nothing when it is None)."""
    if recorder is None:
        yield
        return
    tracing = _Monitoring(recorder) if sys.version_info >= (3, 12) else _Settrace(recorder)
    tracing.start()
    try:
        yield
    finally:
        tracing.stop()
