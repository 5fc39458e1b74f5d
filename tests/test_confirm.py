"""`simharness confirm`: a failure found in simulation, shown on plain asyncio under its durations."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from simharness.discovery import load_file
from simharness.engine.strategies import FifoStrategy
from simharness.explore.runner import ExploreOptions, explore_variant, replay, run_strategy
from simharness.explore.timing import stock_timing
from simharness.scenario import Scenario

ROOT = Path(__file__).resolve().parent.parent
RACE = ROOT / "tests" / "fixtures" / "cli" / "race.py"
NETWORK = ROOT / "tests" / "fixtures" / "network" / "races.py"


def scenario(path: Path, name: str) -> Scenario:
    return next(s for s in load_file(path) if s.name == name)


def found(path: Path, name: str, variant: str = "buggy") -> str:
    """The failing schedule an exploration finds (never a pinned string: engine changes move it)."""
    failure = explore_variant(scenario(path, name), variant, ExploreOptions(strategy="pct", runs=200, seed=0),
                              store=None).failure
    assert failure is not None
    return failure.schedule


def confirm(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "simharness", "confirm", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def lost_update() -> str:
    return found(RACE, "lost-update")


def test_a_found_race_shows_on_stock_asyncio_under_its_durations(lost_update: str) -> None:
    result = confirm(f"{RACE}::lost-update", "-v", "buggy", "--schedule", lost_update, "--runs", "5",
                     "--step-ms", "50")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"confirmed on stock asyncio {platform.python_version()}: 5/5 with delays {{'read' #1: " in result.stdout
    assert "lost update" in result.stdout and "in stock terms: fails when 'read' #1" in result.stderr


def test_json_names_each_slow_checkpoint_and_every_run_matches(lost_update: str) -> None:
    result = confirm(f"{RACE}::lost-update", "-v", "buggy", "--schedule", lost_update, "--runs", "3",
                     "--step-ms", "50", "--json")
    document = json.loads(result.stdout)
    assert result.returncode == 1 and document["confirmed"] and document["matched"] == document["runs"] == 3
    assert [d["checkpoint"] for d in document["delays"]] == ["read#1"]
    assert document["delays"][0]["seconds"] >= 0.05  # at least one step of margin
    assert document["other_failures"] == []


def test_the_durations_replay_the_same_failure_in_simulation(lost_update: str) -> None:
    declared = scenario(RACE, "lost-update")
    timing = stock_timing(declared, "buggy", lost_update, step_s=0.02)
    assert timing.expressible and timing.kind == "assertion" and "lost update" in timing.message
    assert timing.as_mapping() == {"read#1": pytest.approx(0.02)}
    # The checkpoint-only plan is itself a failing schedule of the variant, with the same durations.
    replayed = replay(declared, "buggy", timing.plan_schedule)
    assert replayed.failure is not None and replayed.failure.message == timing.message
    planned = stock_timing(declared, "buggy", timing.plan_schedule, step_s=0.02)
    assert planned.as_mapping() == timing.as_mapping()


def test_a_failure_of_the_stock_order_needs_no_duration() -> None:
    declared = scenario(RACE, "raises-itself")
    schedule = run_strategy(declared, "default", FifoStrategy()).schedule.encode()
    timing = stock_timing(declared, "default", schedule)
    assert timing.expressible and timing.delays == ()
    assert timing.statement() == "the stock order fails: no operation needs to be slow"


def test_network_delivery_order_is_said_to_have_no_stock_equivalent() -> None:
    schedule = found(NETWORK, "stale-config-write")
    result = confirm(f"{NETWORK}::stale-config-write", "-v", "buggy", "--schedule", schedule)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no stock equivalent" in lines[0] and "network delivery order" in lines[0]


def test_bad_input_is_one_line_and_exit_2(lost_update: str) -> None:
    passing = run_strategy(scenario(RACE, "lost-update"), "buggy", FifoStrategy()).schedule.encode()
    cases = [
        (["--runs", "0"], "--runs must be from 1"),
        (["--step-ms", "1"], "--step-ms must be from 5"),
        (["--schedule", lost_update[:20]], "schedule"),
        (["--schedule", "not-a-schedule"], "not a simharness schedule"),
        (["--schedule", passing], "nothing to confirm"),
        (["-v", "fixed"], "another scenario or variant"),
    ]
    for extra, expected in cases:
        args = {"-v": "buggy", "--schedule": lost_update, "--runs": "2"}
        args.update(dict(zip(extra[::2], extra[1::2])))
        result = confirm(f"{RACE}::lost-update", *(item for pair in args.items() for item in pair))
        assert result.returncode == 2, (extra, result.stderr)
        assert result.stderr.count("\n") == 1 and expected in result.stderr and "Traceback" not in result.stderr
    other = confirm(f"{RACE}::always-passes", "--schedule", lost_update)
    assert other.returncode == 2 and "another scenario" in other.stderr
