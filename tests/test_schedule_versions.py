"""A schedule carries the Python it was recorded on and its trace digest: a replay never
silently gives another trace, and says when the recording came from another version."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

import simharness as sh
from simharness import ExploreOptions, explore_variant, replay
from simharness.engine.schedule import Decision, Schedule

RACE = sh.load_file(Path(__file__).parent / "fixtures" / "cli" / "race.py")[0]
HERE = sys.version_info[1]
OTHER = 11 if HERE != 11 else 12


def _found() -> sh.FoundFailure:
    exploration = explore_variant(RACE, "buggy", ExploreOptions(strategy="pct", runs=200), store=None)
    assert exploration.failure is not None
    return exploration.failure


def test_schedule_names_the_python_it_was_recorded_on() -> None:
    schedule = _found().schedule
    assert schedule.startswith(f"s1f{HERE}-")
    decoded = Schedule.decode(schedule)
    assert decoded.python == HERE and decoded.trace_digest != 0
    assert Schedule.decode(decoded.encode()) == decoded


def test_replay_that_takes_other_steps_is_reported_not_silent() -> None:
    decoded = Schedule.decode(_found().schedule)
    tampered = dataclasses.replace(decoded, trace_digest=decoded.trace_digest ^ 0x5A5A)
    with pytest.raises(sh.ScheduleDivergence, match="took different steps"):
        replay(RACE, "buggy", tampered.encode(), check_trace=True)
    # Without the check (replaying on edited code) the run is given as it is.
    assert replay(RACE, "buggy", tampered.encode()).failure is not None


def test_divergence_of_a_schedule_from_another_version_says_so() -> None:
    decoded = Schedule.decode(_found().schedule)
    first = decoded.decisions[0]
    moved = Decision((first.index + 1) % first.options, first.options, first.fingerprint ^ 0xFF)
    foreign = dataclasses.replace(decoded, python=OTHER, decisions=(moved,) + decoded.decisions[1:])
    with pytest.raises(sh.ScheduleDivergence) as diverged:
        replay(RACE, "buggy", foreign.encode())
    assert f"recorded on 3.{OTHER}, replaying on 3.{HERE}: asyncio differs here" in str(diverged.value)


def test_schedules_from_before_the_version_field_still_decode() -> None:
    old = Schedule.decode("s1f-abcdef")
    assert old.python == 0 and old.trace_digest == 0 and old.encode() == "s1f-abcdef"
