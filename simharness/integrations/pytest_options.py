"""The pytest plugin's settings: options, their ini twins, the marker, and their validation.

Every bad value is a `pytest.UsageError` (exit 4, one line) raised before any test runs.
Precedence: command line > marker > ini file > built-in default.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from simharness.engine.schedule import Schedule
from simharness.engine.strategies import STRATEGY_NAMES
from simharness.errors import ScheduleDecodeError
from simharness.explore.store import STORE_ENV, FailureStore, resolve_path

DEFAULT_STRATEGY = "portfolio"
DEFAULT_RUNS = 20
DEFAULT_TIMEOUT_S = 120.0
UNSUPPORTED_MODES = ("skip", "stock")
MARKER_ARGS = ("runs", "strategy", "seed", "depth", "skip")
#: (option name, ini help) for each `--sim-NAME` option with a value.
VALUED = (("seed", "Global seed (integer or 'last')"), ("strategy", "Schedule strategy"),
          ("runs", "Schedules per test"), ("replay", "Schedule to replay"),
          ("store", "Failure store file, or 'off'"), ("unsupported", "skip or stock"),
          ("timeout", "Wall-time limit per test in seconds"))


@dataclass(frozen=True)
class SimConfig:
    """The session's simharness settings, resolved once from options and ini."""

    all_async: bool
    seed: int
    seed_given: bool            # the seed came from the user (or xdist's controller)
    strategy: str | None        # from the command line or ini (None: marker or default)
    runs: int | None
    cli_strategy: bool          # True when strategy/runs came from the command line
    cli_runs: bool
    replay: Schedule | None
    store_path: Path | None
    unsupported: str            # "skip" or "stock"
    timeout_s: float
    plugin_flag: str            # "-p simharness.integrations.pytest_plugin" when not loaded by entry point
    explicit: bool              # some --sim* option or ini value was given

    @property
    def store(self) -> FailureStore | None:
        return FailureStore(self.store_path) if self.store_path is not None else None


CONFIG_KEY = pytest.StashKey[SimConfig]()


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("simharness", "simharness: run async tests across controlled schedules")
    group.addoption("--sim", action="store_true", default=None,
                    help="Run every asyncio test (async fixtures included) under simharness. ini: sim")
    group.addoption("--sim-seed", metavar="SEED", default=None,
                    help="Global seed (an integer, or 'last' for the previous session's). ini: sim_seed")
    group.addoption("--sim-strategy", metavar="NAME", default=None,
                    help=f"Schedule strategy: {', '.join(STRATEGY_NAMES)} (default {DEFAULT_STRATEGY}). "
                         "ini: sim_strategy")
    group.addoption("--sim-runs", metavar="N", default=None,
                    help=f"Schedules per test (default {DEFAULT_RUNS}). ini: sim_runs")
    group.addoption("--sim-replay", metavar="SCHEDULE", default=None,
                    help="Run the test the schedule belongs to with exactly that schedule. ini: sim_replay")
    group.addoption("--sim-store", metavar="PATH", default=None,
                    help=f"Failure store file, or 'off' (default ${STORE_ENV}, else "
                         ".simharness/failures.db under the rootdir). ini: sim_store")
    group.addoption("--sim-unsupported", metavar="MODE", default=None,
                    help="A test using an API simulation refuses: 'skip' it with the reason (default), "
                         "or run it unexplored on the 'stock' loop. ini: sim_unsupported")
    group.addoption("--sim-timeout", metavar="SECONDS", default=None,
                    help=f"Wall-time limit for exploring one test (default {DEFAULT_TIMEOUT_S:g}); "
                         "exploration stops there and says so. ini: sim_timeout")
    # No ini twin: the file is one CI run's record, not a setting of the project.
    group.addoption("--sim-reproduce", metavar="FILE", default=None,
                    help="Search each failed test of a CI run (JUnit XML or pytest's output in FILE) for a "
                         "schedule that fails the way it failed there; the other tests are deselected.")
    parser.addini("sim", "Run every asyncio test under simharness.", type="bool", default=False)
    for name, what in VALUED:
        parser.addini(f"sim_{name}", what, default="")


def setting(config: pytest.Config, name: str) -> tuple[str | None, bool]:
    """(value, from the command line) of option `--sim-NAME` or its ini twin `sim_NAME`."""
    value = config.getoption(f"sim_{name}")
    if value is not None:
        return str(value), True
    ini = str(config.getini(f"sim_{name}")).strip()
    return (ini or None), False


def simharness_dir(config: pytest.Config) -> Path:
    return Path(config.rootpath) / ".simharness"


def positive_int(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 or str(text).strip().lstrip("+") != str(value):
        raise pytest.UsageError(f"simharness: {what} must be a positive integer, got {text!r}")
    return value


def _seed(config: pytest.Config) -> tuple[int, bool]:
    worker = getattr(config, "workerinput", None)
    if worker is not None and "simharness_seed" in worker:
        return int(worker["simharness_seed"]), True  # xdist: every worker uses the controller's seed
    text, _ = setting(config, "seed")
    if text == "last":
        last = simharness_dir(config) / "last-seed"
        try:
            return int(last.read_text().strip()), True
        except (OSError, ValueError):
            raise pytest.UsageError(f"--sim-seed last: no previous seed recorded in {last}") from None
    if text is not None:
        try:
            return int(text), True
        except ValueError:
            raise pytest.UsageError(f"--sim-seed must be an integer or 'last', got {text!r}") from None
    return secrets.randbelow(2**32), False  # a new seed each session explores new schedules


def resolve(config: pytest.Config) -> SimConfig:
    """Read and check every setting; a bad one is a one-line usage error."""
    strategy, cli_strategy = setting(config, "strategy")
    if strategy is not None and strategy not in STRATEGY_NAMES:
        raise pytest.UsageError(f"simharness: --sim-strategy must be one of {', '.join(STRATEGY_NAMES)}, "
                                f"got {strategy!r}")
    runs_text, cli_runs = setting(config, "runs")
    runs = positive_int(runs_text, "--sim-runs") if runs_text is not None else None
    replay_text, _ = setting(config, "replay")
    try:
        scheduled = Schedule.decode(replay_text) if replay_text is not None else None
    except (ValueError, ScheduleDecodeError) as error:
        raise pytest.UsageError(f"simharness: --sim-replay: {error}") from None
    mode = setting(config, "unsupported")[0] or "skip"
    if mode not in UNSUPPORTED_MODES:
        raise pytest.UsageError(f"simharness: --sim-unsupported must be 'skip' or 'stock', got {mode!r}")
    timeout_text = setting(config, "timeout")[0]
    try:
        timeout = float(timeout_text) if timeout_text is not None else DEFAULT_TIMEOUT_S
    except ValueError:
        timeout = -1.0
    if not 0 < timeout < float("inf"):
        raise pytest.UsageError(f"simharness: --sim-timeout must be a positive number of seconds, "
                                f"got {timeout_text!r}")
    store_text, _ = setting(config, "store")
    if store_text is not None:
        path = resolve_path(store_text)
    elif STORE_ENV in os.environ:
        path = resolve_path()
    else:
        path = simharness_dir(config) / "failures.db"
    seed, seed_given = _seed(config)
    all_async = bool(config.getoption("sim") or config.getini("sim"))
    explicit = all_async or any(setting(config, name)[0] is not None for name, _ in VALUED)
    by_entry_point = config.pluginmanager.get_plugin("simharness") is not None
    return SimConfig(
        all_async=all_async, seed=seed, seed_given=seed_given, strategy=strategy, runs=runs,
        cli_strategy=cli_strategy, cli_runs=cli_runs, replay=scheduled, store_path=path,
        unsupported=mode, timeout_s=timeout, explicit=explicit,
        plugin_flag="" if by_entry_point else "-p simharness.integrations.pytest_plugin",
    )


def check_marker(item: pytest.Item) -> dict[str, Any]:
    """The arguments of the item's `simharness` marker, checked (a usage error names the test)."""
    marker = item.get_closest_marker("simharness")
    if marker is None:
        return {}
    where = f"simharness: {item.nodeid}: @pytest.mark.simharness"
    if marker.args:
        raise pytest.UsageError(f"{where} takes keyword arguments only ({', '.join(MARKER_ARGS)})")
    wanted = dict(marker.kwargs)
    unknown = sorted(set(wanted) - set(MARKER_ARGS))
    if unknown:
        raise pytest.UsageError(f"{where} got unknown argument {unknown[0]!r} (known: {', '.join(MARKER_ARGS)})")
    for name in ("runs", "depth", "seed"):
        value = wanted.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < (0 if name == "seed" else 1)):
            raise pytest.UsageError(f"{where}({name}={value!r}): {name} must be a "
                                    f"{'non-negative' if name == 'seed' else 'positive'} integer")
    if "strategy" in wanted and wanted["strategy"] not in STRATEGY_NAMES:
        raise pytest.UsageError(f"{where}(strategy={wanted['strategy']!r}): must be one of "
                                f"{', '.join(STRATEGY_NAMES)}")
    if "skip" in wanted and not isinstance(wanted["skip"], bool):
        raise pytest.UsageError(f"{where}(skip={wanted['skip']!r}): must be True or False")
    return wanted


def seed_for_test(global_seed: int, node_id: str) -> int:
    """The per-test seed: derived from the session seed and the test's node id."""
    digest = hashlib.blake2b(f"simharness-test:{global_seed}:{node_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")
