"""The plugin next to the plugins a suite already uses (issue 16, item 4): pytester subprocess runs."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "plugin"))
from pytester_helpers import QUIET, prepare, replay_args, run, suite, summary  # noqa: E402

pytest_plugins = ["pytester"]

SCHEDULE_LINES = re.compile(r"^(?:schedule: .*|simharness: \w+ at schedule .*)$", re.MULTILINE)


@pytest.fixture
def tester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    return prepare(pytester, monkeypatch)


def test_xdist_finds_the_same_schedules_as_one_process(tester: pytest.Pytester) -> None:
    suite(tester, "suite_flaky")
    alone = run(tester, "--sim", "--sim-seed", "5", "--sim-store", "off")
    spread = run(tester, "--sim", "--sim-seed", "5", "--sim-store", "off", "-n", "2")
    alone.assert_outcomes(failed=1, passed=1)
    spread.assert_outcomes(failed=1, passed=1)
    assert SCHEDULE_LINES.findall(alone.stdout.str()) == SCHEDULE_LINES.findall(spread.stdout.str())
    # The controller counts what its workers did.
    assert summary(spread.stdout.str()) == summary(alone.stdout.str())


def test_pytest_repeat_count(tester: pytest.Pytester) -> None:
    suite(tester, "suite_flaky")
    result = run(tester, "--sim", "--sim-seed", "5", "--count", "2")
    result.assert_outcomes(failed=2, passed=2)
    reports = result.stdout.str().split("short test summary info")[0]
    # Each repetition names the test without [N-M]: the command works without --count.
    assert reports.count("replay: pytest test_suite.py::test_two_logins --sim-replay ") == 2
    assert summary(result.stdout.str()).startswith("simharness: 4 tests")


def test_pytest_timeout_and_tests_that_would_hang(tester: pytest.Pytester) -> None:
    suite(tester, "suite_hang")
    result = run(tester, "--sim", "--sim-seed", "1", "--timeout", "120", "-p", "timeout")
    result.assert_outcomes(failed=2)
    output = result.stdout.str()
    assert "simharness: deadlock at schedule 1 of 20" in output
    assert "blocked: Task-1 awaits Event.wait() at test_suite.py:" in output
    assert "simharness: timeout at schedule 1 of 20" in output and "virtual-time budget" in output
    assert "Timeout" not in output.replace("timeout at", "")  # pytest-timeout never had to step in


def test_pytest_randomly_order_does_not_change_the_schedules(tester: pytest.Pytester) -> None:
    suite(tester, "suite_flaky")
    no_random = tuple(a for a in QUIET if a != "no:randomly")[:-1]
    shuffled = run(tester, "--sim", "--sim-seed", "5", "--sim-store", "off", "-p", "randomly",
                   "--randomly-seed", "12", quiet=no_random)
    plain = run(tester, "--sim", "--sim-seed", "5", "--sim-store", "off")
    shuffled.assert_outcomes(failed=1, passed=1)
    assert "Using --randomly-seed=12" in shuffled.stdout.str()
    assert SCHEDULE_LINES.findall(shuffled.stdout.str()) == SCHEDULE_LINES.findall(plain.stdout.str())


def test_hypothesis_given_async_tests_run_in_the_default_order(tester: pytest.Pytester) -> None:
    suite(tester, "suite_hypothesis")
    result = run(tester, "--sim", "--sim-seed", "1")
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    assert "simharness: assertion in the default order (asyncio's own)" in output
    # Hypothesis names its counterexample "Falsifying example" (older) or "Failing test case".
    assert re.search(r"(Falsifying example|Failing test case): test_found_by_hypothesis\(", output), output
    assert summary(output).startswith("simharness: 2 tests x 0 schedules, 1 failure")
    args = replay_args(output)
    assert args[0] == "test_suite.py::test_found_by_hypothesis"


def test_freezegun_and_time_machine_inside_explored_tests(tester: pytest.Pytester) -> None:
    suite(tester, "suite_time")
    result = run(tester, "--sim", "--sim-seed", "1")
    result.assert_outcomes(passed=2)
    assert summary(result.stdout.str()).startswith("simharness: 2 tests x 20 schedules, 0 failures")


def test_anyio_tests_are_explored_on_the_controlled_loop(tester: pytest.Pytester) -> None:
    suite(tester, "suite_anyio")
    result = run(tester, "--sim", "--sim-seed", "1", "-p", "no:asyncio")
    result.assert_outcomes(passed=2)
    output = result.stdout.str()
    assert summary(output).startswith("simharness: 1 test x 20 schedules, 0 failures")
    # Its module-scoped async fixture holds anyio's runner beyond one test: a shared controlled
    # loop, default order, not explored (tests/test_plugin_scopes.py).
    assert "not explored (the loop outlives one test): 1 test, 0 failures" in output
    # Without --sim the same test runs on anyio's stock loop, where the fixture's check fails:
    # the assertion above is about the loop the plugin gave, not a test that passes anyway.
    stock = run(tester, "-p", "no:asyncio", "-k", "controlled_loop")
    stock.assert_outcomes(errors=1)


def test_a_projects_own_loop_factory_wins_and_the_test_is_counted_as_left_alone(tester: pytest.Pytester) -> None:
    tester.makeconftest('''
import asyncio
import pytest


class OwnLoop(asyncio.SelectorEventLoop):
    pass


@pytest.hookimpl(tryfirst=True)
def pytest_asyncio_loop_factories(config, item):
    return {"own": OwnLoop}
''')
    tester.makepyfile(test_own='''
import asyncio
import pytest
from simharness.engine.loop import ControlledLoop


@pytest.mark.asyncio
async def test_on_the_projects_loop():
    assert not isinstance(asyncio.get_running_loop(), ControlledLoop)
''')
    result = run(tester, "--sim", "--sim-seed", "1")
    result.assert_outcomes(passed=1)
    output = result.stdout.str()
    assert "1 x ran on an event loop from another pytest_asyncio_loop_factories hook" in output
    assert "failures" not in output  # not claimed as explored


def test_a_projects_answer_naming_the_stock_factory_is_explored(tester: pytest.Pytester) -> None:
    # aiosmtplib 5.1.3's conftest answers {"asyncio": asyncio.new_event_loop} (the stock loop,
    # said out loud): the plugin's factory stands in for it, under the project's name.
    tester.makeconftest('''
import asyncio


def pytest_asyncio_loop_factories(config, item):
    return {"asyncio": asyncio.new_event_loop}
''')
    tester.makepyfile(test_stock='''
import asyncio
import pytest
from simharness.engine.loop import ControlledLoop


@pytest.mark.asyncio
async def test_on_the_controlled_loop():
    assert isinstance(asyncio.get_running_loop(), ControlledLoop)
''')
    result = run(tester, "--sim", "--sim-seed", "1", "--sim-runs", "2")
    result.assert_outcomes(passed=1)
    assert summary(result.stdout.str()).startswith("simharness: 1 test x 2 schedules, 0 failures")
