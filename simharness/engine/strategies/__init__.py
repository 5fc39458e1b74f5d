"""Scheduling strategies: each only decides which option runs next."""

from __future__ import annotations

from simharness.errors import ConfigError
from simharness.engine.strategies.base import FIFO_OPTION, Option, Strategy
from simharness.engine.strategies.dfs import DFSStrategy
from simharness.engine.strategies.pct import PCTStrategy
from simharness.engine.strategies.portfolio import PortfolioStrategy
from simharness.engine.strategies.simple import (
    FifoStrategy, GuidedStrategy, LenientReplayStrategy, RandomStrategy, ReplayStrategy, derive_seed,
)
from simharness.engine.strategies.swarm import SwarmStrategy

STRATEGY_NAMES = ("portfolio", "fifo", "random", "pct", "dfs", "swarm")


def make_strategy(name: str, *, seed: int = 0, depth: int = 3, bound: int | None = None,
                  reduction: bool = True) -> Strategy:
    """Build an exploration strategy by name (`portfolio`, `fifo`, `random`, `pct`, `swarm`, `dfs`);
    `reduction` (dfs only) prunes decisions in states already explored from."""
    if name == "portfolio":
        if depth < 1:
            raise ConfigError(f"--depth must be at least 1, got {depth}")
        return PortfolioStrategy(seed, depth=depth)
    if name == "fifo":
        return FifoStrategy()
    if name == "random":
        return RandomStrategy(seed)
    if name == "pct":
        if depth < 1:
            raise ConfigError(f"--depth must be at least 1, got {depth}")
        return PCTStrategy(seed, depth=depth)
    if name == "swarm":
        return SwarmStrategy(seed)
    if name == "dfs":
        if bound is not None and bound < 0:
            raise ConfigError(f"dfs bound must be >= 0, got {bound}")
        return DFSStrategy(bound, reduction=reduction)
    raise ConfigError(f"unknown strategy {name!r} (choose one of: {', '.join(STRATEGY_NAMES)})")


__all__ = [
    "DFSStrategy", "FIFO_OPTION", "FifoStrategy", "GuidedStrategy", "LenientReplayStrategy", "Option", "PCTStrategy",
    "PortfolioStrategy", "RandomStrategy", "ReplayStrategy", "STRATEGY_NAMES", "Strategy", "SwarmStrategy",
    "derive_seed", "make_strategy",
]
