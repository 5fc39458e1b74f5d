"""Simulated-network benchmark: schedules per second for network scenarios.

    python benchmarks/bench_network.py            # 2,000 schedules x 3 repeats per row
    python benchmarks/bench_network.py --quick    # 300 x 3

Rows: the two-connection echo (tests/fixtures/network/echo.py), the message-order
race (races.py, fixed variant, so no run stops early), the HTTP exchange
(http_scenarios.py: 6 HTTP requests, 4 connections, 100 kB body), one aiohttp GET round
trip (tests/fixtures/libs/aiohttp_wallet.py: an aiohttp.web server and a ClientSession,
set up and torn down per run) and the key-value client of tests/fixtures/network/faults.py
with its declared faults off and on (the cost of enabling faults). Each figure is the
median of the repeats; a stock `asyncio.run` of the same echo code and of the same
aiohttp round trip on real loopback sockets are given for scale.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "network"
LIBS = ROOT / "tests" / "fixtures" / "libs"
sys.path[:0] = [str(ROOT), str(FIXTURES), str(LIBS)]

import aiohttp_wallet
import echo

import simharness as sh
from simharness.engine.execution import Execution, RunEnvironment, RunSettings
from simharness.engine.realtime import perf_counter
from simharness.engine.strategies import make_strategy

#: (title, fixture file, scenario, variant, faults for the run: None = as declared)
ROWS: list[tuple[str, Path, str, str, tuple[str, ...] | None]] = [
    ("two-connection echo", FIXTURES / "echo.py", "two-connection-echo", "observe", None),
    ("message-order race (fixed)", FIXTURES / "races.py", "stale-config-write", "fixed", None),
    ("HTTP exchange", FIXTURES / "http_scenarios.py", "http-exchange", "default", None),
    ("aiohttp GET round trip", LIBS / "aiohttp_wallet.py", "get-balance-once", "default", None),
    ("key-value client, faults off", FIXTURES / "faults.py", "flaky-network", "careful", ()),
    ("key-value client, 4 faults on", FIXTURES / "faults.py", "flaky-network", "careful", None),
]


def schedules_per_second(scenario: sh.Scenario, variant: str, strategy_name: str, runs: int,
                         faults: tuple[str, ...] | None = None) -> tuple[float, int]:
    """(schedules/s, steps of the last run) for `runs` schedules in one environment."""
    strategy = make_strategy(strategy_name, seed=1)
    steps = 0
    with RunEnvironment(RunSettings(fault_selection=faults)) as environment:
        execution = Execution(scenario, variant, environment)
        started = perf_counter()
        for index in range(1, runs + 1):
            strategy.begin_run(index)
            result = execution.run(strategy)
            strategy.end_run()
            assert result.failure is None, result.failure
            steps = result.steps
        return runs / (perf_counter() - started), steps


def stock_per_second(body: Callable[[], Coroutine[Any, Any, Any]], runs: int) -> float:
    """`asyncio.run(body())` per second on real loopback sockets with the stock loop."""
    started = perf_counter()
    for _ in range(runs):
        asyncio.run(body())
    return runs / (perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runs = 300 if args.quick else 2000
    print(f"| scenario | strategy | steps/run | schedules/s (median of {args.repeats} x {runs}) |")
    print("|---|---|---:|---:|")
    for title, file, name, variant, faults in ROWS:
        scenario = next(s for s in sh.load_file(file) if s.name == name)
        for strategy in ("fifo", "random", "pct"):
            measured = [schedules_per_second(scenario, variant, strategy, runs, faults)
                        for _ in range(args.repeats)]
            rate = statistics.median(m[0] for m in measured)
            print(f"| {title} | {strategy} | {measured[-1][1]} | {rate:,.0f} |")
    for title, body in (("two-connection echo", echo.two_clients),
                        ("aiohttp GET round trip", aiohttp_wallet.get_round_trip)):
        stock = statistics.median(stock_per_second(body, runs // 4) for _ in range(args.repeats))
        print(f"| {title}, stock `asyncio.run` on real sockets | - | - | {stock:,.0f} runs/s |")


if __name__ == "__main__":
    main()
