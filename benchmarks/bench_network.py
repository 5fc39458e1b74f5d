"""Simulated-network benchmark: schedules per second for network scenarios.

    python benchmarks/bench_network.py            # 2,000 schedules x 3 repeats per row
    python benchmarks/bench_network.py --quick    # 300 x 3

Rows: the two-connection echo (tests/fixtures/network/echo.py), the message-order
race (races.py, fixed variant, so no run stops early) and the HTTP exchange
(http_scenarios.py: 6 HTTP requests, 4 connections, 100 kB body). Each figure is the
median of the repeats; a stock `asyncio.run` of the same echo code is given for scale.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "network"
sys.path[:0] = [str(ROOT), str(FIXTURES)]

import echo

import simharness as sh
from simharness.engine.execution import Execution, RunEnvironment, RunSettings
from simharness.engine.realtime import perf_counter
from simharness.engine.strategies import make_strategy

ROWS = [("two-connection echo", "echo.py", "two-connection-echo", "observe"),
        ("message-order race (fixed)", "races.py", "stale-config-write", "fixed"),
        ("HTTP exchange", "http_scenarios.py", "http-exchange", "default")]


def schedules_per_second(scenario: sh.Scenario, variant: str, strategy_name: str, runs: int) -> tuple[float, int]:
    """(schedules/s, steps of the last run) for `runs` schedules in one environment."""
    strategy = make_strategy(strategy_name, seed=1)
    steps = 0
    with RunEnvironment(RunSettings()) as environment:
        execution = Execution(scenario, variant, environment)
        started = perf_counter()
        for index in range(1, runs + 1):
            strategy.begin_run(index)
            result = execution.run(strategy)
            strategy.end_run()
            assert result.failure is None, result.failure
            steps = result.steps
        return runs / (perf_counter() - started), steps


def stock_echo_per_second(runs: int) -> float:
    started = perf_counter()
    for _ in range(runs):
        asyncio.run(echo.two_clients())
    return runs / (perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runs = 300 if args.quick else 2000
    print(f"| scenario | strategy | steps/run | schedules/s (median of {args.repeats} x {runs}) |")
    print("|---|---|---:|---:|")
    for title, file, name, variant in ROWS:
        scenario = next(s for s in sh.load_file(FIXTURES / file) if s.name == name)
        for strategy in ("fifo", "random", "pct"):
            measured = [schedules_per_second(scenario, variant, strategy, runs) for _ in range(args.repeats)]
            rate = statistics.median(m[0] for m in measured)
            print(f"| {title} | {strategy} | {measured[-1][1]} | {rate:,.0f} |")
    stock = statistics.median(stock_echo_per_second(runs // 4) for _ in range(args.repeats))
    print(f"| two-connection echo, stock `asyncio.run` on real sockets | - | - | {stock:,.0f} |")


if __name__ == "__main__":
    main()
