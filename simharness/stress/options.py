"""Options of a stress run, validated before anything starts.

Every bad value raises `ConfigError` with a one-line message (the CLI turns it into
exit code 2). `--quick` only changes the defaults of options the user did not give.
"""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass

from simharness.errors import ConfigError

BACKENDS = ("sim", "real", "both")
LOOPS = ("asyncio", "uvloop")


#: Caps of the user's limits. Burners and workers beyond a few per CPU only make the
#: machine unusable (and every worker is a process to clean up); a run longer than a
#: day is a mistake; counts beyond these would take days on any machine.
LOAD_PER_CPU = 4
WORKERS_PER_CPU = 4
MAX_TIMEOUT_S = 86_400.0
MAX_RUNS = 1_000_000
MAX_CONCURRENCY = 1024


@dataclass(frozen=True)
class Budgets:
    """The run counts and limits a mode uses when the user does not set them."""

    runs: int
    concurrency: tuple[int, ...]
    sim_runs: int
    timeout_s: float
    timed_runs: int


#: Thorough defaults, and the small ones of `--quick` (whole catalogue in minutes on 2 cores).
FULL = Budgets(runs=100, concurrency=(1, 4, 16), sim_runs=200, timeout_s=30.0, timed_runs=20)
QUICK = Budgets(runs=5, concurrency=(1, 4), sim_runs=100, timeout_s=15.0, timed_runs=5)


@dataclass(frozen=True)
class StressOptions:
    """Everything one `simharness stress` invocation needs, already validated."""

    targets: tuple[str, ...] = ()
    scenarios_dir: str = "scenarios"
    backend: str = "both"
    runs: int = FULL.runs
    concurrency: tuple[int, ...] = FULL.concurrency
    workers: int = 2
    timeout_s: float = FULL.timeout_s
    noise: float = 0.0
    load: int = 0
    loop: str = "asyncio"
    sim_runs: int = FULL.sim_runs
    # Real runs of each variant under every failure found for its buggy variant, as
    # checkpoint durations (`real/timed.py`); 0 = none.
    timed_runs: int = FULL.timed_runs
    report_dir: str = "reports"
    quick: bool = False
    # Only variants with this expectation ("pass" or "fail"); None = all (benchmarks use it).
    only_expect: str | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"--backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.loop not in LOOPS:
            raise ConfigError(f"--loop must be asyncio or uvloop, got {self.loop!r}")
        if self.loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
            raise ConfigError("--loop uvloop needs the optional dependency: pip install 'simharness[uvloop]'")
        for name, value in (("--runs", self.runs), ("--workers", self.workers), ("--sim-runs", self.sim_runs)):
            if value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
        if not 0 <= self.timed_runs <= MAX_RUNS:
            raise ConfigError(f"--timed-runs must be from 0 to {MAX_RUNS}, got {self.timed_runs}")
        if self.load < 0:
            raise ConfigError(f"--load must be 0 or more, got {self.load}")
        cpus = default_workers()
        if self.load > max_load():
            raise ConfigError(f"--load must be at most {max_load()} ({LOAD_PER_CPU} per CPU, {cpus} CPU(s)), "
                              f"got {self.load}")
        if self.workers > max_workers():
            raise ConfigError(f"--workers must be at most {max_workers()} ({WORKERS_PER_CPU} per CPU, "
                              f"{cpus} CPU(s)), got {self.workers}")
        if self.runs > MAX_RUNS or self.sim_runs > MAX_RUNS:
            name, value = ("--runs", self.runs) if self.runs > MAX_RUNS else ("--sim-runs", self.sim_runs)
            raise ConfigError(f"{name} must be at most {MAX_RUNS}, got {value}")
        if max(self.concurrency, default=1) > MAX_CONCURRENCY:
            raise ConfigError(f"--concurrency levels must be at most {MAX_CONCURRENCY}, "
                              f"got {max(self.concurrency)}")
        if not self.concurrency or min(self.concurrency) < 1:
            raise ConfigError(f"--concurrency levels must be at least 1, got {','.join(map(str, self.concurrency))}")
        if not (math.isfinite(self.timeout_s) and 0 < self.timeout_s <= MAX_TIMEOUT_S):
            raise ConfigError(f"--timeout must be a positive number of seconds up to {MAX_TIMEOUT_S:g}, "
                              f"got {self.timeout_s:g}")
        if not (0.0 <= self.noise <= 1.0):
            raise ConfigError(f"--noise must be a probability in [0, 1], got {self.noise:g}")

    @property
    def backends(self) -> tuple[str, ...]:
        return ("sim", "real") if self.backend == "both" else (self.backend,)


def parse_concurrency(text: str) -> tuple[int, ...]:
    """`"1,4,16"` -> (1, 4, 16); duplicates dropped, order kept."""
    levels: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            level = int(part)
        except ValueError:
            raise ConfigError(f"--concurrency must be a comma-separated list of integers, got {text!r}") from None
        if level < 1:
            raise ConfigError(f"--concurrency levels must be at least 1, got {level}")
        if level not in levels:
            levels.append(level)
    return tuple(levels)


def parse_timeout(text: str) -> float:
    """A positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"--timeout must be a number of seconds, got {text!r}") from None
    if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT_S):
        raise ConfigError(f"--timeout must be a positive number of seconds up to {MAX_TIMEOUT_S:g}, got {text}")
    return value


def parse_noise(text: str) -> float:
    """A probability in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"--noise must be a probability in [0, 1], got {text!r}") from None
    if not (0.0 <= value <= 1.0):
        raise ConfigError(f"--noise must be a probability in [0, 1], got {text}")
    return value


def max_load() -> int:
    """The largest `--load`: `LOAD_PER_CPU` burners per CPU."""
    return LOAD_PER_CPU * default_workers()


def max_workers() -> int:
    """The largest `--workers`: `WORKERS_PER_CPU` worker processes per CPU."""
    return WORKERS_PER_CPU * default_workers()


def default_workers() -> int:
    """One worker per CPU this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)
