"""Replay on changed code: a failing schedule of the buggy variant, replayed on the fixed
one, is followed where it still applies, and the output says how far."""

from __future__ import annotations

import json

import pytest

import simharness as sh
from cli_helpers import RACE, field, run_cli
from simharness.explore.runner import replay_lenient

LOST = f"{RACE}::lost-update"


@pytest.fixture(scope="module")
def buggy_schedule() -> str:
    done = run_cli("explore", LOST, "--variant", "buggy", "--runs", "200")
    assert done.code == 1
    return field(done.out, "schedule").split()[0]  # "SCHEDULE (shrunk from ...)"


def test_fixed_variant_under_the_buggy_schedule_passes_and_says_how_far(buggy_schedule: str) -> None:
    done = run_cli("replay", LOST, "--variant", "fixed", "--schedule", buggy_schedule)
    assert done.code == 0, done
    assert "passes under the schedule (followed" in done.err and "recorded for variant buggy" in done.err
    assert "[fixed] passed" in done.out


def test_lenient_replay_of_the_same_variant_is_the_exact_replay(buggy_schedule: str) -> None:
    (scenario,) = [s for s in sh.load_file(RACE) if s.name == "lost-update"]
    exact = sh.replay(scenario, "buggy", buggy_schedule)
    lenient = replay_lenient(scenario, "buggy", buggy_schedule)
    assert lenient.exact and lenient.followed == lenient.recorded
    assert lenient.result.trace_hash == exact.trace_hash and lenient.result.failed


def test_json_says_how_much_was_followed(buggy_schedule: str) -> None:
    done = run_cli("replay", LOST, "--variant", "fixed", "--schedule", buggy_schedule, "--json")
    document = json.loads(done.out)
    assert document["lenient"]["recorded_variant"] == "buggy"
    assert 0 <= document["lenient"]["followed"] <= document["lenient"]["recorded"]


def test_a_schedule_of_another_scenario_is_still_refused(buggy_schedule: str) -> None:
    done = run_cli("replay", f"{RACE}::always-passes", "--schedule", buggy_schedule)
    assert done.code == 2 and "recorded for another scenario or variant" in done.err
