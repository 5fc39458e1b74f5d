"""`pytest --sim` on an unchanged pytest-asyncio suite (issue 16), in pytester subprocesses."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "plugin"))
from pytester_helpers import prepare, replay_args, run, suite, summary  # noqa: E402

from simharness.explore.store import FailureStore  # noqa: E402

pytest_plugins = ["pytester"]


@pytest.fixture
def tester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    return prepare(pytester, monkeypatch)


def test_every_asyncio_test_and_its_async_fixtures_run_per_schedule(tester: pytest.Pytester) -> None:
    suite(tester, "suite_unchanged")
    result = run(tester, "--sim", "--sim-seed", "3")
    result.assert_outcomes(passed=6)
    output = result.stdout.str()
    assert "simharness: seed 3 " in output.split("collected")[0]  # in the header
    # 20 schedules + the logged default-order run, and 3 + 1 for the marker's runs=3:
    # a fresh function-scoped async fixture each time, each torn down.
    log = (tester.path / "setups.log").read_text().split()
    assert log.count("setup") == log.count("teardown") == 21 + 4
    assert summary(output).startswith("simharness: 2 tests, 23 schedules in all, 0 failures, 0 unsupported")
    assert re.search(r"left alone \(ran as usual, not explored\): 2 tests", output)
    for reason in ("opted out with @pytest.mark.simharness(skip=True)", "sync test calling asyncio.run()"):
        assert reason in output
    assert "not explored (the loop outlives one test): 1 test, 0 failures" in output
    assert "simharness:   1 x on a module-scoped loop" in output
    assert (tester.path / ".simharness" / "last-seed").read_text().strip() == "3"


def test_default_runs_twenty_and_uniform_summary(tester: pytest.Pytester) -> None:
    suite(tester, "suite_unchanged")
    result = run(tester, "--sim", "-k", "fresh", "--sim-seed", "1")
    result.assert_outcomes(passed=1)
    assert summary(result.stdout.str()).startswith("simharness: 1 test x 20 schedules, 0 failures, 0 unsupported")


def test_failure_through_async_fixture_replays_and_has_junit_property(tester: pytest.Pytester) -> None:
    suite(tester, "suite_flaky")
    found = run(tester, "--sim", "--sim-seed", "5", "--junitxml", "junit.xml")
    found.assert_outcomes(failed=1, passed=1)
    output = found.stdout.str()
    assert re.search(r"simharness: assertion at schedule \d+ of 20 \(strategy portfolio, test seed \d+\)", output)
    assert "E       AssertionError: assert 'bob' == 'alice'" in output  # pytest's own traceback
    assert "steps that matter:" in output
    assert summary(output).startswith("simharness: 2 tests, ") and ", 1 failure, 0 unsupported" in output
    args = replay_args(output)
    schedule = args[-1]
    cases = {c.get("name"): c for c in ET.parse(tester.path / "junit.xml").iter("testcase")}
    props = {p.get("name"): p.get("value") for p in cases["test_two_logins"].iter("property")}
    assert props["simharness_replay"] == "pytest " + " ".join(args)
    assert props["simharness_status"] == "failed" and props["simharness_schedule"] == schedule
    # The printed command replays it exactly, without --sim.
    replayed = tester.runpytest_subprocess(*args, "-p", "no:cacheprovider", "-p", "no:randomly", timeout=300)
    replayed.assert_outcomes(failed=1)
    assert "simharness: replayed schedule fails (assertion)" in replayed.stdout.str()
    # Remembered: the next session fails at once, whatever its seed.
    assert [e.schedule for e in FailureStore(tester.path / ".simharness" / "failures.db").entries()] == [schedule]
    again = run(tester, "--sim", "--sim-seed", "99")
    again.assert_outcomes(failed=1, passed=1)
    assert "replaying a failure remembered in the failure store" in again.stdout.str()


def test_seed_last_repeats_the_session(tester: pytest.Pytester) -> None:
    suite(tester, "suite_flaky")
    first = run(tester, "--sim", "--sim-store", "off")
    seed = re.search(r"simharness: seed (\d+) ", first.stdout.str())
    assert seed, first.stdout.str()
    again = run(tester, "--sim", "--sim-store", "off", "--sim-seed", "last")
    assert f"simharness: seed {seed.group(1)} " in again.stdout.str()
    pick = re.compile(r"^(?:schedule: .*|simharness: assertion at schedule .*)$", re.MULTILINE)
    assert pick.findall(first.stdout.str()) == pick.findall(again.stdout.str())


def test_silent_and_writes_nothing_when_no_test_runs_under_simharness(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_plain="import pytest\n\n@pytest.mark.asyncio\nasync def test_a():\n    pass\n\n"
                                 "def test_b():\n    pass\n")
    result = run(tester)
    result.assert_outcomes(passed=2)
    assert "simharness:" not in result.stdout.str()
    assert not (tester.path / ".simharness").exists()


def test_disabled_with_no_simharness(tester: pytest.Pytester) -> None:
    suite(tester, "suite_flaky")
    result = tester.runpytest_subprocess("-p", "no:simharness", "-p", "no:cacheprovider", "-p", "no:randomly",
                                         "-W", "ignore::pytest.PytestConfigWarning", timeout=300)
    result.assert_outcomes(passed=2)  # the stock loop never shows the race
    assert "simharness:" not in result.stdout.str()


@pytest.mark.parametrize("args, message", [
    (("--sim-runs", "-1"), "--sim-runs must be a positive integer, got '-1'"),
    (("--sim-runs", "0"), "--sim-runs must be a positive integer, got '0'"),
    (("--sim-runs", "abc"), "--sim-runs must be a positive integer, got 'abc'"),
    (("--sim-strategy", "bogus"), "--sim-strategy must be one of"),
    (("--sim-replay", "s1f-nope"), "--sim-replay:"),
    (("--sim-unsupported", "maybe"), "--sim-unsupported must be 'skip' or 'stock'"),
    (("--sim-timeout", "-3"), "--sim-timeout must be a positive number"),
])
def test_bad_options_are_one_line_usage_errors(tester: pytest.Pytester, args: tuple[str, ...], message: str) -> None:
    suite(tester, "suite_flaky")
    result = run(tester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    # One line of ours; other plugins may warn on stderr too (pytest-asyncio's deprecation
    # notice in a project without its ini option, on newer pytest releases).
    errors = [line for line in result.stderr.lines if "simharness" in line]
    assert len(errors) == 1 and message in errors[0], result.stderr.str()
    assert "Traceback" not in result.stderr.str()
    assert "passed" not in result.stdout.str() and "failed" not in result.stdout.str()


def test_marker_with_unknown_argument_is_a_usage_error(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_m="import pytest\n\n@pytest.mark.simharness(runz=3)\nasync def test_a():\n    pass\n")
    result = run(tester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "test_m.py::test_a: @pytest.mark.simharness got unknown argument 'runz'" in result.stderr.str()
    assert not (tester.path / ".simharness").exists()


def test_ini_twins(tester: pytest.Pytester) -> None:
    tester.makeini("[pytest]\nsim = true\nsim_runs = 4\nsim_strategy = random\nsim_unsupported = stock\n"
                   "sim_timeout = 30\nsim_store = off\n")
    suite(tester, "suite_unchanged")
    result = run(tester, "-k", "fresh", "--sim-seed", "2")
    result.assert_outcomes(passed=1)
    output = result.stdout.str()
    assert "strategy random, runs 4, every asyncio test" in output
    assert summary(output).startswith("simharness: 1 test x 4 schedules")
    assert not (tester.path / ".simharness" / "failures.db").exists()


def test_wall_time_limit_stops_exploring_and_says_so(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_slow='''
import time
import pytest


@pytest.fixture
def slow_setup():
    time.sleep(0.3)  # real time, outside the loop: every schedule pays it


@pytest.mark.asyncio
async def test_slow(slow_setup):
    pass
''')
    result = run(tester, "--sim", "--sim-seed", "1", "--sim-timeout", "1")
    result.assert_outcomes(passed=1)
    output = result.stdout.str()
    stopped = re.search(r"simharness:   stopped early: test_slow.py::test_slow: wall-time limit of 1 s "
                        r"reached after (\d+) of 20 schedules", output)
    assert stopped and 1 <= int(stopped.group(1)) < 20, output
