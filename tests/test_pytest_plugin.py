"""The pytest plugin, driven through pytest's own `pytester` in subprocesses."""

from __future__ import annotations

import re
import sys
import shlex
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from simharness.engine.schedule import Schedule
from simharness.scenario import scenario_of
from simharness.explore.store import STORE_ENV, FailureStore

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
# Installed (`pip install -e .`), pytest loads the plugin by its entry point and `-p`
# would register it twice; from a plain checkout the tests load it with `-p`.
INSTALLED = any(ep.name == "simharness" for ep in entry_points(group="pytest11"))
PLUGIN: tuple[str, ...] = () if INSTALLED else ("-p", "simharness.integrations.pytest_plugin")

#: A session shared by two logins: B's three slow calls fit inside A's one window.
FLAKY = '''
import asyncio
import pytest
import simharness as sh


class Session:
    def __init__(self):
        self.token = ""

    async def login(self, user):
        self.token = user
        await sh.checkpoint("fetch profile")
        return self.token


@pytest.mark.simharness
async def test_two_logins():
    session = Session()

    async def other():
        for _ in range(3):
            await sh.checkpoint("slow call")
        session.token = "bob"

    mine, _ = await asyncio.gather(session.login("alice"), other())
    assert mine == "alice"


def test_plain():
    assert True
'''

FIXED_LOGIN = '''    async def login(self, user):
        token = user
        await sh.checkpoint("fetch profile")
        return token
'''


@pytest.fixture
def tester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv(STORE_ENV, raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    return pytester


#: Plugins these sessions never use, left out to keep each subprocess start-up short.
QUIET = ("-p", "no:cacheprovider", "-p", "no:benchmark", "-p", "no:hypothesispytest")


def _run(tester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return tester.runpytest_subprocess(*PLUGIN, *QUIET, *args, timeout=120)


def _replay_args(output: str) -> list[str]:
    match = re.search(r"^replay: pytest (.*)$", output, re.MULTILINE)
    assert match, output
    return shlex.split(match.group(1))


def test_flaky_test_is_found_shrunk_replayed_remembered_and_fixed(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_flaky=FLAKY)
    found = _run(tester, "--sim-seed", "5")
    found.assert_outcomes(failed=1, passed=1)
    output = found.stdout.str()
    assert "simharness: seed 5" in output
    assert re.search(r"simharness: assertion at schedule \d+ of 20 ", output)
    assert "AssertionError: assert 'bob' == 'alice'" in output
    matter = re.search(r"steps that matter: (\d+) of (\d+) decision\(s\) left the default order", output)
    assert matter is not None and 1 <= int(matter.group(1)) <= int(matter.group(2)), output
    assert "kept [checkpoint:Task-2: Task-2 fetch profile] waiting" in output
    args = _replay_args(output)
    assert args[:len(PLUGIN) + 1] == [*PLUGIN, "test_flaky.py::test_two_logins"]
    schedule = args[-1]
    # The minimum for three slow calls: the k=3 token race has the same shape.
    sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "shrink"))
    import token_race
    from test_shrink import exhaustive_failures
    minimum = min(r.schedule.deviations for r in exhaustive_failures(scenario_of(token_race.token_race_3)))
    assert Schedule.decode(schedule).deviations == minimum
    # The report ends with the schedule and the command that replays it.
    lines = output.splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("replay: pytest")) + 1
    assert lines[end - 2:end] == [f"schedule: {schedule}", f"replay: pytest {' '.join(args)}"]

    replayed = tester.runpytest_subprocess(*args, *QUIET, timeout=120)
    replayed.assert_outcomes(failed=1)
    assert "replayed schedule fails (assertion)" in replayed.stdout.str()

    stored = FailureStore(tester.path / ".simharness" / "failures.db").entries()
    assert [(e.scenario, e.schedule) for e in stored] == [("test_flaky.py::test_two_logins", schedule)]
    again = _run(tester, "--sim-seed", "6")
    again.assert_outcomes(failed=1, passed=1)
    assert "replaying a failure remembered in the failure store" in again.stdout.str()

    tester.makepyfile(test_flaky=FLAKY.replace(FLAKY[FLAKY.index("    async def login"):
                                                     FLAKY.index("\n\n@pytest")] + "\n", FIXED_LOGIN))
    tester.runpytest_subprocess(*args, *QUIET, timeout=120).assert_outcomes(passed=1)
    _run(tester, "--sim-seed", "7").assert_outcomes(passed=2)
    assert FailureStore(tester.path / ".simharness" / "failures.db").entries() == []


def test_seed_last_and_ini_twins(tester: pytest.Pytester) -> None:
    tester.makeini("[pytest]\nsim_strategy = random\nsim_runs = 7\n")
    # `last` is the seed of the last session in which simharness ran a test.
    tester.makepyfile(test_ok="import pytest\n\n@pytest.mark.simharness\nasync def test_ok():\n    pass\n")
    first = _run(tester)
    header = re.search(r"simharness: seed (\d+) .*strategy random, runs 7", first.stdout.str())
    assert header, first.stdout.str()
    again = _run(tester, "--sim-seed", "last", "--sim-runs", "9")
    assert f"simharness: seed {header.group(1)} " in again.stdout.str()
    assert "strategy random, runs 9" in again.stdout.str()
    bad = _run(tester, "--sim-seed", "soon")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert "--sim-seed must be an integer or 'last'" in bad.stderr.str()


MIXED = FLAKY + '''

@pytest.mark.simharness(runs=20)
async def test_controlled():
    from simharness.engine.loop import ControlledLoop
    assert isinstance(asyncio.get_running_loop(), ControlledLoop)
    await asyncio.sleep(5)  # virtual time: costs nothing


@pytest.mark.asyncio
async def test_left_to_pytest_asyncio():
    from simharness.engine.loop import ControlledLoop
    assert not isinstance(asyncio.get_running_loop(), ControlledLoop)
'''


def test_count_xdist_and_pytest_asyncio_in_one_session(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_mixed=MIXED)
    result = _run(tester, "-n", "2", "--count", "2", "--sim-seed", "11")
    # Per repetition: the flaky test fails; controlled, pytest-asyncio and plain tests pass.
    result.assert_outcomes(failed=2, passed=6)
    output = result.stdout.str()
    assert output.count("simharness: seed 11 ") == 1
    # Both repetitions name the same test in their replay command (it works without --count).
    # Counted in the failure reports only: with CI=true pytest repeats whole messages in
    # its short summary.
    reports = output.split("short test summary info")[0]
    assert reports.count(f"replay: pytest {' '.join([*PLUGIN, 'test_mixed.py::test_two_logins'])} ") == 2
    schedule = _replay_args(output)[-1]
    entries = FailureStore(tester.path / ".simharness" / "failures.db").entries()
    assert {e.schedule for e in entries} == {schedule}


def test_sim_flag_runs_every_async_test_and_its_async_fixtures(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_all='''
import asyncio
import pytest
import pytest_asyncio
from simharness.engine.loop import ControlledLoop


async def test_unmarked():
    assert isinstance(asyncio.get_running_loop(), ControlledLoop)


@pytest_asyncio.fixture
async def resource():
    yield asyncio.get_running_loop()


@pytest.mark.asyncio
async def test_with_async_fixture(resource):
    assert resource is asyncio.get_running_loop()
    assert isinstance(resource, ControlledLoop)  # issue 16: async fixtures run on the controlled loop too
''')
    _run(tester, "--sim").assert_outcomes(passed=2)
    unflagged = _run(tester)
    unflagged.assert_outcomes(failed=2)  # pytest itself refuses the unmarked coroutine; the stock loop
