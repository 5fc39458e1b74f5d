"""anyio's pytest plugin on the controlled loop: the loop factory of its asyncio test runner.

anyio's plugin runs an `@pytest.mark.anyio` test (and its async fixtures) on a test
runner it builds from the value of the project's `anyio_backend` fixture: for the asyncio
backend an `asyncio.Runner` whose `loop_factory` comes from that value's options. The
value stays what the project says (tests read it: `if anyio_backend == "asyncio"`);
while a schedule runs, the asyncio backend's `create_test_runner` is given the plugin's
loop factory when the project's options name none (nor uvloop). anyio keeps one runner
while any test or fixture holds it, so a runner that a wider-scoped async fixture holds
was built outside the schedule: the test then runs on that stock loop, which the
explorer notices (no controlled loop was made) and counts as left alone.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest


def backend_of(item: pytest.Item) -> str | None:
    """The anyio backend a parametrized test runs on (None: not parametrized, the fixture decides)."""
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get("anyio_backend") if callspec is not None else None
    if isinstance(value, tuple) and value:
        value = value[0]
    return value if isinstance(value, str) else None


def _asyncio_backend() -> Any:
    if "anyio" not in sys.modules:
        return None  # nothing imported anyio: no anyio test in this session
    try:
        return importlib.import_module("anyio._backends._asyncio").backend_class
    except (ImportError, AttributeError):
        return None  # an anyio without this backend layout: its tests run as usual, on their own loop


@contextmanager
def anyio_loop_factory(factory: Callable[[], Any]) -> Iterator[None]:
    """While inside, anyio's asyncio test runners are built on `factory` (unless the project chose a loop)."""
    backend = _asyncio_backend()
    original = backend.__dict__.get("create_test_runner") if backend is not None else None
    if not isinstance(original, classmethod):
        yield
        return

    def create_test_runner(cls: type, options: dict[str, Any]) -> Any:
        chosen = dict(options or {})
        if chosen.get("loop_factory") is None and not chosen.get("use_uvloop"):
            chosen["loop_factory"] = factory
        return original.__func__(cls, chosen)

    backend.create_test_runner = classmethod(create_test_runner)
    try:
        yield
    finally:
        backend.create_test_runner = original
