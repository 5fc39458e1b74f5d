"""PCT's spread of schedules, the portfolio strategy (random, swarm and PCT in turn), and bad strategy options."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import simharness as sh
from simharness import ExploreOptions, explore_variant
from simharness.engine.strategies import PortfolioStrategy, make_strategy
from simharness.engine.strategies.base import Option
from simharness.errors import ConfigError
from simharness.explore.schedules import make_spec, ScheduleRunner, outcome_of
from simharness.engine.execution import RunSettings
from simharness.scenario import scenario_of

RACES = {s.name: s for s in sh.load_file(Path(__file__).parent / "fixtures" / "engine" / "token_race.py")}


@sh.scenario
async def three_replies() -> None:
    """Three outside replies in any order: a small space that dfs enumerates in full."""
    order: list[int] = []

    async def reply(number: int) -> None:
        await sh.checkpoint(f"reply {number}")
        order.append(number)

    await asyncio.gather(*(reply(n) for n in range(3)))


SMALL = scenario_of(three_replies)


def _schedules(strategy: str, runs: int, seed: int = 0) -> list[str]:
    """The encoded schedules 1..runs of an indexed strategy, as a campaign computes them."""
    spec = make_spec(SMALL, "default", strategy=strategy, seed=seed, depth=3, settings=RunSettings())
    with ScheduleRunner(SMALL) as runner:
        first = outcome_of(1, runner.run(spec, 1))
        spec = spec.calibrated(first)
        return [first.schedule] + [outcome_of(i, runner.run(spec, i)).schedule for i in range(2, runs + 1)]


def test_pct_does_not_repeat_a_few_orders_on_a_small_space() -> None:
    whole = explore_variant(SMALL, "default", ExploreOptions(strategy="dfs", runs=10_000, count_outcomes=True))
    assert whole.exhausted
    space = whole.runs
    assert space >= 6  # three replies released in some order, with holds in between
    for seed in range(4):
        seen = set(_schedules("pct", 100, seed))
        # Spread over the space, not stuck in the few priority orders of its actors: with
        # change points spread over 32 decisions (most beyond this run's end), 100 schedules
        # covered 19-25 of the 54; uniform random covers 35-39.
        assert 5 * len(seen) >= 2 * space, (seed, len(seen), space)


def test_portfolio_runs_random_swarm_and_pct_in_turn() -> None:
    # The documented order: random, swarm, PCT, random... (schedule 1 random), in
    # whatever order the indices come.
    portfolio = PortfolioStrategy(seed=7)
    members = {}
    for index in (1, 2, 3, 4, 5, 6, 3, 2):
        portfolio.begin_run(index)
        members[index] = portfolio.member
        portfolio.end_run()
    assert [members[i] for i in range(1, 7)] == ["random", "swarm", "pct"] * 2


def test_portfolio_schedule_i_depends_only_on_seed_and_index() -> None:
    options = [Option("a", "checkpoint", "a"), Option("b", "checkpoint", "b"), Option("fifo", "fifo", "hold")]

    def choices(order: list[int]) -> dict[int, list[int]]:
        strategy = PortfolioStrategy(seed=3, initial_length=5)
        made = {}
        for index in order:
            strategy.begin_run(index)
            made[index] = [strategy.choose(options) for _ in range(6)]
            strategy.end_run()
        return made

    # Schedule i computed alone (a worker, a shard) is schedule i of a sequential run.
    alone = {i: choices([i])[i] for i in (1, 2, 3, 4)}
    assert alone == choices([1, 2, 3, 4]) == choices([4, 3, 2, 1])
    assert len({tuple(c) for c in alone.values()}) > 1  # and the schedules differ


def test_portfolio_finds_what_each_member_finds() -> None:
    for name in ("token-race-k3", "token-race-k10"):
        exploration = explore_variant(RACES[name], "default", ExploreOptions(strategy="portfolio", runs=400, seed=0))
        assert exploration.failure is not None and exploration.failure.kind == "assertion", name


@pytest.mark.parametrize("name", ["portfolio", "pct"])
def test_depth_below_one_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="--depth must be at least 1"):
        make_strategy(name, seed=0, depth=0)


def test_unknown_strategy_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="portfolio"):
        make_strategy("bogus", seed=0)
