"""Network faults as explorer choices (simharness/world/faults.py): declared per scenario
(`faults=`), narrowed per run (`--faults`, RunSettings.fault_selection), each one a
recorded non-default decision that shrinking keeps only when the failure needs it, named
in the explanation, replayed exactly."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import simharness as sh
from simharness.engine.execution import RunSettings
from simharness.engine.strategies import make_strategy
from simharness.errors import ConfigError, ScenarioLoadError
from simharness.explore.runner import ExploreOptions

from cli_helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]
FILE = ROOT / "tests" / "fixtures" / "network" / "faults.py"

_REPLAYER = """
import json, sys
import simharness as sh
from simharness.engine.execution import RunSettings
scenario = next(s for s in sh.load_file(sys.argv[1]) if s.name == "flaky-network")
settings = RunSettings(fault_selection=tuple(sys.argv[3].split(",")))
result = sh.replay(scenario, sys.argv[4], sys.argv[2], settings)
print(json.dumps([result.trace_hash, result.failure.kind if result.failure else "pass"]))
"""


def _scenario(name: str = "flaky-network") -> sh.Scenario:
    return next(s for s in sh.load_file(FILE) if s.name == name)


def _explore(variant: str, faults: tuple[str, ...] | None, runs: int = 300,
             strategy: str = "pct") -> sh.Exploration:
    [found] = sh.explore(_scenario(), [variant], ExploreOptions(strategy=strategy, runs=runs), store=None,
                         settings=RunSettings(fault_selection=faults))
    return found


@pytest.mark.parametrize("variant", ["trusting", "impatient"])
def test_without_faults_every_client_passes(variant: str) -> None:
    # Faults are off unless declared: the same code, with the declared faults turned off
    # for the run, passes every schedule (the failures below come from the faults).
    result = _explore(variant, (), runs=200)
    assert not result.failed, result.failure


@pytest.mark.parametrize(("fault", "variant", "says"), [
    ("refused", "trusting", "ConnectionRefusedError"),
    ("reset", "trusting", "ConnectionResetError"),
    ("stall", "impatient", "TimeoutError"),
    ("partition", "impatient", "TimeoutError"),
])
def test_each_fault_is_one_recorded_decision_and_replays(fault: str, variant: str, says: str) -> None:
    found = _explore(variant, (fault,))
    assert found.failed and found.failure is not None
    assert found.failure.kind == "exception" and says in found.failure.message, found.failure
    settings = RunSettings(fault_selection=(fault,))
    replayed = sh.replay(_scenario(), variant, found.failure.schedule, settings, trace=True)
    departures = [d for d in replayed.decision_log if d.chosen]
    # Shrunk to the fault alone: one non-default decision, and it is the fault, by name.
    assert len(departures) == 1, [d.options[d.chosen] for d in departures]
    assert departures[0].options[departures[0].chosen].endswith("(fault)")
    assert f"!{fault}: " in departures[0].options[departures[0].chosen]
    assert not departures[0].options[0].endswith("(fault)")  # the default: the event itself
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "5"}
    done = subprocess.run([sys.executable, "-c", _REPLAYER, str(FILE), found.failure.schedule, fault, variant],
                          env=env, capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout) == [found.failure.trace_hash, "exception"]


def test_a_reset_names_the_connection_and_the_bytes_before_it() -> None:
    found = _explore("trusting", ("reset",))
    assert found.failure is not None
    replayed = sh.replay(_scenario(), "trusting", found.failure.schedule, RunSettings(fault_selection=("reset",)),
                         trace=True)
    [taken] = [d.options[d.chosen] for d in replayed.decision_log if d.chosen]
    assert re.fullmatch(r"conn-\d+>?<?!reset: conn-\d+ 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+: "
                        r"reset after \d+ bytes? \(fault\)", taken), taken
    assert ":6379" in taken  # the server's address, as the explanation prints it


@pytest.mark.parametrize("fault", ["partition", "stall"])
def test_a_client_without_timeout_only_waits(fault: str) -> None:
    # A stalled peer reads again once nothing else can happen (its process is the
    # scenario's own), a partition heals: code that simply waits passes.
    assert not _explore("trusting", (fault,), runs=200).failed


def test_a_partition_delays_both_directions_by_its_interval() -> None:
    # The partition (5 s here) heals and the retransmitted bytes arrive; some schedule
    # must have taken it.
    scenario = _scenario()
    settings = RunSettings(fault_selection=("partition",))
    times = [sh.run_strategy(scenario, "trusting", make_strategy("random", seed=seed, depth=3, bound=None),
                             settings).virtual_time for seed in range(40)]
    assert any(t >= 5.0 for t in times), times


def test_the_careful_client_survives_every_fault() -> None:
    for strategy in ("pct", "random"):
        result = _explore("careful", None, runs=150, strategy=strategy)
        assert not result.failed, result.failure


@pytest.mark.slow
def test_fixes_survive_2000_schedules_with_faults() -> None:
    for strategy in ("pct", "random"):
        [result] = sh.explore(_scenario(), ["careful"], ExploreOptions(strategy=strategy, runs=1000, seed=3),
                              store=None)
        assert not result.failed and result.runs == 1000, result.failure
        hosts = next(s for s in sh.load_file(FILE.parent / "hosts.py") if s.name == "counter-restart")
        [result] = sh.explore(hosts, ["durable"], ExploreOptions(strategy=strategy, runs=1000, seed=3), store=None)
        assert not result.failed and result.runs == 1000, result.failure


def test_an_aimed_fault_only_meets_connections_to_its_address() -> None:
    scenario = _scenario("aimed-fault")
    offered: list[str] = []
    for seed in range(30):
        run = sh.run_strategy(scenario, "default", make_strategy("random", seed=seed, depth=3, bound=None),
                              detail=True)
        offered += [option for record in run.decision_log for option in record.options if "(fault)" in option]
    assert offered and all("127.0.0.1:6380" in option for option in offered), offered
    assert not any("127.0.0.1:6379" in option for option in offered)
    [found] = sh.explore(scenario, ["default"], ExploreOptions(strategy="pct", runs=300), store=None)
    assert found.failure is not None and "ConnectionResetError" in found.failure.message


def test_a_crashed_host_restarts_with_fresh_memory() -> None:
    # The volatile counter loses an increment when its host crashes between the two; the
    # durable one (its count in a store that outlives the process) survives every crash.
    hosts = next(s for s in sh.load_file(FILE.parent / "hosts.py") if s.name == "counter-restart")
    [found] = sh.explore(hosts, ["volatile"], ExploreOptions(strategy="pct", runs=500), store=None)
    assert found.failure is not None and "an increment was lost" in found.failure.message, found.failure
    replayed = sh.replay(hosts, "volatile", found.failure.schedule, trace=True)
    [taken] = [d.options[d.chosen] for d in replayed.decision_log if d.chosen]
    assert "host counter crashes before reading it, restarts after 1 s (fault)" in taken, taken
    assert replayed.trace_hash == found.failure.trace_hash
    for strategy in ("pct", "random"):
        [result] = sh.explore(hosts, ["durable"], ExploreOptions(strategy=strategy, runs=150), store=None)
        assert not result.failed, result.failure


def test_bad_fault_settings_are_errors() -> None:
    with pytest.raises(ConfigError, match="unknown fault 'bogus'"):
        RunSettings(fault_selection=("bogus",))
    with pytest.raises(ConfigError, match="declares no faults"):
        RunSettings(fault_selection=("reset",)).for_scenario(_scenario("no-faults-declared"))
    with pytest.raises(ConfigError, match="declares only"):
        RunSettings(fault_selection=("reset",)).for_scenario(
            sh.scenario(faults=("stall",))(_scenario().function).__simharness_scenario__)
    with pytest.raises(ScenarioLoadError, match="unknown fault 'explode'"):
        sh.scenario(faults=("reset", "explode"))(_scenario().function)


@pytest.mark.parametrize(("target", "faults", "says"), [
    ("flaky-network", "bogus", "unknown fault 'bogus'"),
    ("no-faults-declared", "reset", "declares no faults"),
    ("flaky-network", ",", "--faults needs fault names"),
    ("aimed-fault", "reset@127.0.0.1:9999", "declares only reset@127.0.0.1:6380"),
    ("aimed-fault", "reset@nowhere:1", "the address must be HOST:PORT"),
])
def test_cli_refuses_bad_faults_with_one_line_and_exit_2(target: str, faults: str, says: str) -> None:
    done = run_cli("explore", f"{FILE}::{target}", "--faults", faults, "--runs", "3")
    assert done.code == 2, done
    assert says in done.err and len(done.err.strip().splitlines()) == 1 and "Traceback" not in done.err


def test_cli_refuses_a_fault_aimed_at_an_address_the_scenario_never_uses() -> None:
    target = str(FILE.parent / "faults_misaimed.py")
    done = run_cli("explore", target, "--runs", "3")
    assert done.code == 2, done
    assert "fault reset@127.0.0.1:9999: scenario aimed-elsewhere never connects to that address" in done.err
    assert len(done.err.strip().splitlines()) == 1 and "Traceback" not in done.err
    assert run_cli("explore", target, "--runs", "3", "--faults", "none").code == 0


def test_cli_replay_line_carries_the_fault_selection() -> None:
    done = run_cli("explore", f"{FILE}::flaky-network", "--variant", "trusting", "--faults", "reset",
                   "--runs", "200")
    assert done.code == 1, done
    line = next(line for line in done.out.splitlines() if line.startswith("replay: "))
    assert line.endswith("--faults reset"), line
    again = run_cli(*shlex.split(line.removeprefix("replay: "))[1:])
    assert again.code == 1 and "ConnectionResetError" in again.out, again
