"""Tests whose event loop outlives them: run on a controlled loop in the default order.

pytest-asyncio runs a test with `loop_scope="module"` (or "class", "package", "session",
also through `asyncio_default_test_loop_scope`), and each async fixture whose loop scope
is wider than the function, on one loop per scope instance: its `_<scope>_scoped_runner`
fixture builds an `asyncio.Runner` on the factory that `pytest_asyncio_loop_factories`
named (the plugin's `loop_factory`) and keeps it until the scope ends. anyio's plugin
keeps its one test runner while a wider-scoped async fixture holds it. Such a loop is
shared by the tests of its scope, so a schedule could not start afresh, and exploring
would carry one schedule's state into the next: these tests (`select.SCOPED`) are not
explored. While one of them runs, the plugin's factory builds a `ScopedLoop` instead of
a stock loop: a `ControlledLoop` deciding in the default order (asyncio's own), on
virtual time, living exactly as long as pytest-asyncio's (or anyio's) runner keeps it;
its close cancels and drains what is left. Nothing of pytest-asyncio or anyio is patched
beyond what the plugin already does for explored tests (anyio's runner factory).

Virtual time on a shared loop: the loop's clock moves only while the loop runs (inside a
fixture's or a test's `run_until_complete`) and only when nothing is ready, to the next
timer: a background task of a module fixture (a heartbeat every second) advances it only
while a test waits for a later timer, as the stock loop sleeping to that timer would.
Between tests the loop does not run, so no virtual time passes (on the stock loop the
milliseconds pytest spends between tests pass; timers due in them fire at the start of
the next test in both). Each test, fixture set-up or teardown on the loop gets the
budgets of one schedule (a day of virtual time, 200,000 steps) counted from where the
loop is, and the watchdog's blocked-loop limit.

Each test's report says what happened (`simharness_status` `default-order`, the loop's
scope); a failure gets a section saying that it ran unexplored on the shared loop and
how to repeat it; a test that used an API simulation refuses is a skip naming it.
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from contextlib import ExitStack
from typing import Any

import pytest
from _pytest._code.code import ExceptionRepr

from simharness.engine.execution import RunSettings
from simharness.errors import UnsupportedInSimulation
from simharness.integrations import pytest_select as select
from simharness.integrations.pytest_anyio import anyio_loop_factory
from simharness.integrations.pytest_loop import TIME_MACHINE_REFUSAL, ScheduleRun, loop_factory
from simharness.integrations.pytest_shared_loop import ItemScope, ScopedLoop

#: The `simharness_status` of a test run on a shared controlled loop, unexplored.
STATUS = "default-order"


def anyio_held_loop() -> Any:
    """The loop of the runner anyio's plugin keeps alive (a wider async fixture holds it), or None."""
    runner = getattr(sys.modules.get("anyio.pytest_plugin"), "_current_runner", None)
    try:
        return runner.get_loop() if runner is not None else None
    except Exception:  # noqa: BLE001 - an anyio without this layout: nothing is known to be held
        return None


def rerun_command(item: pytest.Item, scope: str, plugin_flag: str) -> str:
    """The command that runs the tests sharing `item`'s loop again, in the same order."""
    kinds: dict[str, type[pytest.Collector]] = {"class": pytest.Class, "module": pytest.Module,
                                                "package": pytest.Package}
    node = item.getparent(kinds[scope]) if scope in kinds else None
    target = node.nodeid if node is not None and node.nodeid else ("" if scope == "session" else str(item.path))
    return " ".join(p for p in ("pytest", plugin_flag, "--sim", target) if p)


def explanation(item: pytest.Item, scope: str, plugin_flag: str) -> str:
    """What a failed test on a shared controlled loop is told."""
    return (f"simharness: this test ran on the {scope}-scoped controlled loop it shares with the other tests "
            f"of its {scope}, in the default order (asyncio's own) on virtual time; it was not explored "
            "(a schedule cannot start afresh on a loop that outlives the test), so there is no schedule "
            "to replay.\nThe default order is deterministic: the same tests in the same order fail the "
            f"same way again ({rerun_command(item, scope, plugin_flag)}); `-p no:simharness` runs them "
            "on the stock loop.")


def _add_section(report: pytest.TestReport, text: str) -> None:
    longrepr = report.longrepr
    if isinstance(longrepr, ExceptionRepr):  # pytest's traceback: the section is printed after it
        longrepr.addsection("simharness", text)
    elif isinstance(longrepr, str):
        report.longrepr = f"{longrepr}\n\n{text}"


def _as_skip(item: pytest.Item, report: pytest.TestReport, api: str) -> None:
    filename, line = item.reportinfo()[:2]
    report.outcome = "skipped"
    report.longrepr = (str(filename), (line or 0) + 1,
                       f"Skipped: unsupported in simulation: {api} (on a shared controlled loop)")


class ScopedLoops:
    """The plugin's hooks for tests on loops that outlive them: they act on the tests planned
    `SCOPED` and on any other test that meets a shared loop (an opted-out test of its scope)."""

    def __init__(self, settings: RunSettings, plugin_flag: str) -> None:
        self.settings, self.plugin_flag = settings, plugin_flag

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
        decided, reason = item.stash.get(select.PLAN_KEY, ("", ""))
        if decided == select.EXPLORE and select.is_anyio(item):
            # anyio reuses the runner a wider fixture of an earlier test holds: this test runs there,
            # shared with that fixture, so it is not explored (and is not run twice to find out).
            held = anyio_held_loop()
            if held is not None:
                decided, reason = ((select.SCOPED, held.scope) if isinstance(held, ScopedLoop) else
                                   (select.ALONE, "ran on anyio's runner of an earlier test "
                                                  "(a wider-scoped async fixture holds it)"))
                item.stash[select.PLAN_KEY] = (decided, reason)
        state = ItemScope(item, decided, reason if decided == select.SCOPED else "", self.settings)
        ItemScope.current = state
        try:
            with anyio_loop_factory(loop_factory) if decided == select.SCOPED else ExitStack():
                return (yield)
        finally:
            ItemScope.current = None
            state.close()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
        state = ItemScope.current
        if state is not None:
            state.tearing_down = True
        return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        report = yield
        state = ItemScope.current
        if state is None or state.item is not item or state.decided == select.EXPLORE or ScheduleRun.current:
            return report
        error = call.excinfo.value if call.excinfo is not None else None
        if isinstance(error, UnsupportedInSimulation) and state.decided == select.SCOPED and not state.used:
            state.used.append(state.scope)  # a wider fixture's cached error: it came from the shared loop
        if state.used or (report.failed and state.ended):
            self._outcome(state, report, call)
        state.called = state.called or report.when == "call"
        if report.when == "teardown":
            report.user_properties.extend(self._properties(state))
        return report

    def _outcome(self, state: ItemScope, report: pytest.TestReport, call: pytest.CallInfo[None]) -> None:
        error = call.excinfo.value if call.excinfo is not None else None
        api = error.api if isinstance(error, UnsupportedInSimulation) else state.unsupported
        if report.failed and TIME_MACHINE_REFUSAL in str(report.longrepr):
            # An explored test is run again without the virtual wall clock; a shared loop's tests cannot be.
            api = "time-machine (it refuses to start while the virtual wall clock is on)"
        if api and report.when != "teardown" and (report.failed or report.when == "call"):
            # As for an explored test, a run that met a refused API has no verdict, even if it caught the error.
            state.unsupported = api
            _as_skip(state.item, report, api)
        elif report.failed:
            state.failed = True
            _add_section(report, explanation(state.item, (state.used or state.ended)[0], self.plugin_flag))

    @staticmethod
    def _properties(state: ItemScope) -> list[tuple[str, Any]]:
        if not state.used:
            if state.decided != select.SCOPED or not state.called:
                return []  # skipped, or broken before any loop ran: pytest's own report says so
            return [("simharness_status", "left-alone"),
                    ("simharness_detail", f"its {state.scope}-scoped loop is not the plugin's (made before "
                                          "simharness saw it, or by the project's own loop factory)")]
        outcome = "unsupported" if state.unsupported else "failed" if state.failed else "passed"
        properties: list[tuple[str, Any]] = [("simharness_status", STATUS), ("simharness_scope", state.used[0]),
                                             ("simharness_outcome", outcome)]
        if state.unsupported:
            properties.append(("simharness_detail", state.unsupported))
        return properties

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # Last: pytest's own sessionfinish tears down what is still set up (a module whose last test
        # was explored: its logged run tears down only to the module), and that closes the loops.
        for loop in list(ScopedLoop.unclosed):  # a runner that never ended its scope: nothing stays open
            loop.close()
