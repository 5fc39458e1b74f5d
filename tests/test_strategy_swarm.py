"""The swarm strategy: per-schedule hold-back propensities per event source, and its CLI name."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import simharness as sh
from cli_helpers import RACE, run_cli
from simharness import ExploreOptions, explore_variant
from simharness.engine.strategies import SwarmStrategy, make_strategy
from simharness.engine.strategies.base import FIFO_OPTION, Option
from simharness.scenario import scenario_of

RACES = {s.name: s for s in sh.load_file(Path(__file__).parent / "fixtures" / "engine" / "token_race.py")}

OPTIONS = [Option("checkpoint:a", "checkpoint", "a"), Option("thread-1", "thread", "t"), FIFO_OPTION]


@sh.scenario
async def late_reply() -> None:
    """One outside reply and a stretch of the loop's own work: when does the reply land?"""
    seen: list[str] = []

    async def reply() -> None:
        await sh.checkpoint("the reply")
        seen.append("reply")

    async def busy() -> None:
        for step in range(6):
            seen.append(f"step {step}")
            await asyncio.sleep(0)

    await asyncio.gather(reply(), busy())
    # Record where the reply landed among the loop's own steps, for the test to read.
    LANDED.append(seen.index("reply"))


LANDED: list[int] = []
LATE = scenario_of(late_reply)


def _choices(seed: int, order: list[int]) -> dict[int, list[int]]:
    strategy = SwarmStrategy(seed)
    made = {}
    for index in order:
        strategy.begin_run(index)
        made[index] = [strategy.choose(OPTIONS) for _ in range(8)]
        strategy.end_run()
    return made


def test_same_seed_same_schedules_in_any_order() -> None:
    # Schedule i is a function of (seed, i): computed alone (a worker, a shard) or in
    # sequence, forwards or backwards, it is the same.
    alone = {i: _choices(5, [i])[i] for i in range(1, 6)}
    assert alone == _choices(5, [1, 2, 3, 4, 5]) == _choices(5, [5, 4, 3, 2, 1])
    assert len({tuple(c) for c in alone.values()}) > 1
    assert _choices(6, [1, 2, 3, 4, 5]) != alone


def test_propensities_are_drawn_per_source_from_the_set() -> None:
    strategy = SwarmStrategy(1)
    drawn = set()
    for index in range(1, 60):
        strategy.begin_run(index)
        strategy.choose(OPTIONS)
        # Fixed for the whole schedule once drawn.
        assert strategy.propensity("thread-1") == strategy.propensity("thread-1")
        drawn.add(strategy.propensity("checkpoint:a"))
        strategy.end_run()
    assert drawn == set(strategy.propensities)


def test_a_source_at_propensity_one_is_held_while_the_loop_can_wait() -> None:
    strategy = SwarmStrategy(2, propensities=(1.0,))
    strategy.begin_run(1)
    # Every source holds back as long as FIFO is offered; without FIFO one must go.
    assert [strategy.choose(OPTIONS) for _ in range(20)] == [2] * 20
    forced = {strategy.choose(OPTIONS[:2]) for _ in range(40)}
    assert forced == {0, 1}


def test_a_forced_choice_is_uniform_or_ranked_per_schedule() -> None:
    # No FIFO offered: one event must go. Per schedule either uniformly, or the source
    # least inclined to wait: a source at propensity 1 then never goes before one at 0.5.
    forced = OPTIONS[:2]
    rules = set()
    for index in range(1, 80):
        strategy = SwarmStrategy(4, propensities=(0.5, 1.0))
        strategy.begin_run(index)
        if (strategy.propensity("checkpoint:a"), strategy.propensity("thread-1")) != (1.0, 0.5):
            continue
        picks = {strategy.choose(forced) for _ in range(30)}
        rules.add("ranked" if picks == {1} else "uniform")
    assert rules == {"ranked", "uniform"}


def test_swarm_holds_a_reply_back_on_a_scenario() -> None:
    # Propensity 1: the reply is held behind the loop's own steps as long as the loop
    # allows; propensity 0: it lands at its first chance. Seen in the run itself.
    def landed(propensities: tuple[float, ...]) -> list[int]:
        LANDED.clear()
        strategy = SwarmStrategy(0, propensities=propensities)
        for index in range(1, 6):
            strategy.begin_run(index)
            assert not sh.run_strategy(LATE, "default", strategy).failed
            strategy.end_run()
        return list(LANDED)

    held, prompt = landed((1.0,)), landed((0.0,))
    assert min(held) > max(prompt), (held, prompt)


def test_bad_propensities_are_refused() -> None:
    for bad in ((), (1.5,), (-0.1, 0.5)):
        with pytest.raises(ValueError, match="propensities"):
            SwarmStrategy(0, propensities=bad)


def test_swarm_finds_the_long_window_token_race() -> None:
    # B's ten checkpoints must all complete inside A's one-checkpoint window: uniform
    # random almost never holds A that long (README: 0 of 20 seeds in 20,000 schedules).
    exploration = explore_variant(RACES["token-race-k10"], "default", ExploreOptions(strategy="swarm", runs=300))
    assert exploration.failure is not None and exploration.failure.kind == "assertion"


def test_cli_knows_swarm_and_refuses_a_misspelling() -> None:
    done = run_cli("explore", f"{RACE}::lost-update", "--variant", "buggy", "--strategy", "swarm", "--runs", "50")
    assert done.code == 1, (done.code, done.out, done.err)  # the race is found
    bad = run_cli("explore", f"{RACE}::lost-update", "--strategy", "swarn")
    assert bad.code == 2 and "unknown strategy 'swarn'" in bad.err and "swarm" in bad.err, bad.err
    assert make_strategy("swarm", seed=3).name == "swarm"
