"""`simharness reproduce PATH::TEST`: one pytest session in this process, driven by the plugin.

pytest collects and runs the test exactly as `pytest --sim-reproduce` would (its
fixtures, pytest-asyncio, assertion rewriting); the plugin finds the `Request` this
module registers and appends the outcome to it. pytest's own output is captured and
shown only in an error: the command prints the outcome itself.
"""

from __future__ import annotations

import contextlib
import io
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from simharness.errors import TargetError
from simharness.explore.reproduce import FailureTarget, SearchOptions
from simharness.explore.reproduce.outcome import TestReproduction
from simharness.integrations.pytest_reproduce import REQUEST_PLUGIN, Request

#: pytest's exit codes that mean "nothing ran as asked" (interrupted, internal, usage, no tests).
_BROKEN = {2: "interrupted (a collection error?)", 3: "internal error", 4: "usage error", 5: "no tests collected"}


def is_test_id(target: str) -> bool:
    """`path/test_x.py::test_y` (or a class's test) whose file exists: a pytest node id."""
    path, sep, rest = target.partition("::")
    return bool(sep and rest) and path.endswith(".py") and Path(path).is_file()


def _last_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    picked = [line for line in lines if line.startswith(("ERROR:", "E ", "ImportError", "ERROR "))]
    return (picked or lines or ["(no output)"])[-1][:300]


def reproduce_test(node_id: str, target: FailureTarget, options: SearchOptions,
                   extra_args: tuple[str, ...] = ()) -> TestReproduction:
    """Run pytest on `node_id` with `target` as its recorded failure; the plugin's outcome for it."""
    request = Request(targets={node_id: target}, runs=options.runs, seed=options.seed,
                      strategy=options.strategy, depth=options.depth)
    loaded = any(ep.name == "simharness" for ep in entry_points(group="pytest11"))
    plugin = () if loaded else ("-p", "simharness.integrations.pytest_plugin")
    args = [node_id, *plugin, "-p", "no:cacheprovider", "-p", "no:randomly", "-q", *extra_args]
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        try:
            code = pytest.main(args, plugins=[_Registered(request)])
        except Exception as error:  # noqa: BLE001 - a plugin or conftest of the project raised
            raise TargetError(f"pytest could not run {node_id}: {type(error).__name__}: {error}") from None
    if request.results:  # a parametrized test: its first case that reproduced, else its first
        return next((r for r in request.results if r.found.reproduced), request.results[0])
    if int(code) == 5 or int(code) == 4 and "not found" in output.getvalue():
        raise TargetError(f"no test {node_id} (pytest collected nothing for it)")
    why = _BROKEN.get(int(code), f"exit {int(code)}")
    raise TargetError(f"pytest did not run {node_id} under simharness ({why}): {_last_error(output.getvalue())}")


class _Registered:
    """Registers the request under its well-known name before the plugin configures itself."""

    def __init__(self, request: Request) -> None:
        self.request = request

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        if config.pluginmanager.get_plugin(REQUEST_PLUGIN) is None:
            config.pluginmanager.register(self.request, REQUEST_PLUGIN)
