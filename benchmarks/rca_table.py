"""Print the RCA table of seed 003: how likely the bad state is, sequential vs parallel.

    PYTHONPATH=. python benchmarks/rca_table.py [--bound 3] [--random 300] [--stock 0]

For the blocked-ready-precedence scenario's `buggy-sequential` and `buggy` (parallel)
variants it runs, in simulation:

* every schedule with at most `--bound` departures from native order (bounded dfs,
  exhaustive: the count is exact for that space), and
* `--random` uniformly random schedules (an estimate over the whole space),

and counts the schedules in which the status poll saw a permanently failed step and a
ready step at once (the "both states" combination) and the runs that failed the
oracle. It also lists every (blocked, ready, status) combination the polls observed,
the RCA's "state combinations that sequential timing never produced". `--stock N`
adds N runs of each variant on the stock asyncio loop (real time, ~0.3 s per run).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simharness.discovery import load_file  # noqa: E402
from simharness.engine.execution import Execution, RunEnvironment, RunSettings  # noqa: E402
from simharness.scenario import Scenario  # noqa: E402
from simharness.engine.strategies import DFSStrategy, RandomStrategy  # noqa: E402
from simharness.engine.strategies.base import Strategy  # noqa: E402

SCENARIO_FILE = ROOT / "scenarios" / "blocked_ready_precedence.py"
MODES = (("sequential", "buggy-sequential"), ("parallel", "buggy"))


@dataclass
class Tally:
    """Schedules run, schedules that reached the bad combination, oracle failures."""

    schedules: int = 0
    both_states: int = 0
    failures: int = 0
    exhausted: bool = False
    combinations: Counter[tuple[bool, bool, str]] = field(default_factory=Counter)

    def rate(self, count: int) -> str:
        return f"{count}/{self.schedules} ({100.0 * count / self.schedules:.1f}%)" if self.schedules else "-"


def _load() -> tuple[Scenario, ModuleType]:
    scenario = load_file(SCENARIO_FILE)[0]
    return scenario, sys.modules[scenario.function.__module__]


def _runs(strategy: Strategy, limit: int) -> Iterator[int]:
    for index in range(1, limit + 1):
        if not strategy.begin_run(index):
            return
        yield index


def simulate(scenario: Scenario, module: ModuleType, variant: str, strategy: Strategy, limit: int) -> Tally:
    """Run up to `limit` schedules of `strategy` (not stopping at failures) and tally them."""
    tally = Tally()
    with RunEnvironment(RunSettings()) as environment:
        execution = Execution(scenario, variant, environment)
        for _ in _runs(strategy, limit):
            module.observations.clear()
            result = execution.run(strategy)
            strategy.end_run()
            seen = {(blocked, ready, status) for _, blocked, ready, status in module.observations}
            tally.schedules += 1
            tally.failures += result.failed
            tally.both_states += any(blocked and ready for blocked, ready, _ in seen)
            tally.combinations.update(seen)
    tally.exhausted = bool(getattr(strategy, "exhausted", False))
    return tally


def stock(scenario: Scenario, module: ModuleType, variant: str, runs: int) -> Tally:
    """Run the variant `runs` times with `asyncio.run` on the stock loop."""
    tally = Tally()
    for _ in range(runs):
        module.observations.clear()
        try:
            asyncio.run(scenario.coroutine(variant))
        except AssertionError:
            tally.failures += 1
        seen = {(blocked, ready, status) for _, blocked, ready, status in module.observations}
        tally.schedules += 1
        tally.both_states += any(blocked and ready for blocked, ready, _ in seen)
        tally.combinations.update(seen)
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bound", type=int, default=3, help="dfs: most departures from native order")
    parser.add_argument("--random", type=int, default=300, help="random schedules per dispatch mode")
    parser.add_argument("--stock", type=int, default=0, help="runs per mode on the stock asyncio loop")
    args = parser.parse_args(argv)
    scenario, module = _load()
    rows = []
    combos: dict[str, Counter[tuple[bool, bool, str]]] = {}
    for mode, variant in MODES:
        exact = simulate(scenario, module, variant, DFSStrategy(args.bound), 1_000_000)
        sampled = simulate(scenario, module, variant, RandomStrategy(0), args.random)
        real = stock(scenario, module, variant, args.stock) if args.stock else None
        combos[mode] = exact.combinations + sampled.combinations + (real.combinations if real else Counter())
        rows.append((mode, variant, exact, sampled, real))
    print(f"RCA table (seed 003): probability of the bad state, scenario blocked-ready-precedence\n")
    head = ("| dispatch | variant | dfs, <= {b} departures{ex} | random schedules | stock asyncio loop |"
            .format(b=args.bound, ex=""))
    print(head)
    print("|---|---|---|---|---|")
    for mode, variant, exact, sampled, real in rows:
        exhaustive = "exhaustive" if exact.exhausted else "NOT exhausted"
        print(f"| {mode} | `{variant}` | {exact.rate(exact.both_states)} ({exhaustive}) | "
              f"{sampled.rate(sampled.both_states)} | {real.rate(real.both_states) if real else 'not run'} |")
    print("\nEach cell: runs whose status poll saw `permanently_blocked_steps > 0` and `ready_steps > 0` "
          "together (with the buggy SQL every such poll answered has_ready_steps, an oracle failure).")
    print("\nState combinations observed by the polls (permanently blocked?, ready?, status):\n")
    print("| combination | sequential | parallel |")
    print("|---|---|---|")
    for combination in sorted(set(combos["sequential"]) | set(combos["parallel"])):
        blocked, ready, status = combination
        label = f"blocked={'yes' if blocked else 'no'}, ready={'yes' if ready else 'no'} -> {status}"
        print(f"| {label} | {'seen' if combos['sequential'][combination] else 'never'} | "
              f"{'seen' if combos['parallel'][combination] else 'never'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
