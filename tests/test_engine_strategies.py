"""Strategies: seeded reproducibility, exhaustive dfs, PCT on the k-checkpoint token race."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings, strategies as st

import simharness as sh
from simharness import ExploreOptions, Schedule, explore_variant
from simharness.engine.schedule import Decision

RACES = {s.name: s for s in sh.load_file(Path(__file__).parent / "fixtures" / "engine" / "token_race.py")}
DETECTION = {s.name: s for s in sh.load_file(Path(__file__).parent / "fixtures" / "engine" / "detection.py")}


def test_same_command_finds_the_same_first_failure() -> None:
    for strategy in ("random", "pct"):
        first = explore_variant(RACES["token-race-k3"], "default", ExploreOptions(strategy=strategy, runs=500, seed=11))
        second = explore_variant(RACES["token-race-k3"], "default", ExploreOptions(strategy=strategy, runs=500, seed=11))
        assert first.failure is not None and second.failure is not None
        assert (first.failure.run_index, first.failure.original_schedule) == \
               (second.failure.run_index, second.failure.original_schedule)


def test_stock_order_never_finds_the_race_for_k_at_least_one() -> None:
    for k in (1, 3, 10):
        fifo = explore_variant(RACES[f"token-race-k{k}"], "default", ExploreOptions(strategy="fifo"))
        assert fifo.failure is None
    assert explore_variant(RACES["token-race-k0"], "default", ExploreOptions(strategy="fifo")).failure is not None


def test_pct_finds_the_deep_window_in_tens_of_runs() -> None:
    for k in (10, 20):
        exploration = explore_variant(RACES[f"token-race-k{k}"], "default",
                                      ExploreOptions(strategy="pct", runs=200, seed=0))
        assert exploration.failure is not None, f"k={k} not found in 200 PCT runs"
        assert exploration.failure.kind == "assertion"


def test_dfs_covers_the_whole_space_and_says_so() -> None:
    exploration = explore_variant(DETECTION["violated-invariant"], "default",
                                  ExploreOptions(strategy="dfs", runs=1000, shrink=False))
    assert exploration.failure is not None  # found before exhausting
    clean = explore_variant(DETECTION["semaphore-workers"], "default", ExploreOptions(strategy="dfs", runs=5000))
    assert clean.exhausted and clean.failure is None
    capped = explore_variant(DETECTION["semaphore-workers"], "default", ExploreOptions(strategy="dfs", runs=2))
    assert not capped.exhausted  # ran out of runs: never claims coverage


def test_dfs_bound_limits_departures_from_default() -> None:
    unbounded = explore_variant(RACES["token-race-k3"], "default", ExploreOptions(strategy="dfs", runs=10000, shrink=False))
    bounded = explore_variant(RACES["token-race-k1"], "default",
                              ExploreOptions(strategy="dfs", runs=10000, bound=0))
    assert unbounded.failure is not None
    assert bounded.exhausted and bounded.runs == 1 and bounded.failure is None


# No deadline: on a loaded machine a 200-decision schedule may take longer than 200 ms to
# encode, and a property test must not depend on the machine's speed.
@settings(deadline=None)
@given(st.lists(st.integers(min_value=2, max_value=300).flatmap(
    lambda n: st.tuples(st.integers(0, n - 1), st.just(n), st.integers(0, 255))), max_size=200),
    st.booleans())
def test_schedule_text_round_trips(decisions: list[tuple[int, int, int]], preemptive: bool) -> None:
    schedule = Schedule("abcdef", preemptive, tuple(Decision(*d) for d in decisions))
    text = schedule.encode()
    assert text.replace("-", "").isalnum() and text == text.lower()
    decoded = Schedule.decode(text)
    assert decoded == schedule.compact()
    assert decoded.indices == schedule.indices and decoded.length == len(decisions)
    assert decoded.encode() == text


@settings(deadline=None)
@given(st.text(max_size=40))
def test_garbage_never_decodes_silently(text: str) -> None:
    try:
        Schedule.decode(text)
    except sh.ScheduleDecodeError:
        return
    assert text.strip().startswith("s1")
