"""The pytest plugin: async tests run under the controlled loop across many schedules.

`@pytest.mark.simharness(strategy=..., runs=..., seed=..., depth=...)` on an
`async def` test (or `--sim` for every async test) turns the test into a scenario:
each schedule calls the test's coroutine once on a fresh `ControlledLoop`. A failure
is shrunk, remembered in the failure store (tried first on the next run), and
reported with the steps that departed from the default order and the one command
that replays it (`--sim-replay SCHEDULE`). Unmarked tests are never touched.

Precedence of settings: command line > marker > ini file > built-in default.
(Just over ~300 lines: pytest's hooks for options, collection, running and reporting.)
"""

from __future__ import annotations

import hashlib
import inspect
import os
import re
import secrets
import shlex
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from simharness.errors import ScheduleDecodeError, SimharnessError
from simharness.outcome import Exploration, RunResult
from simharness.explore.runner import ExploreOptions, explore_variant, replay
from simharness.scenario import Scenario
from simharness.engine.schedule import Schedule, scope_of
from simharness.explore.store import STORE_ENV, FailureStore, resolve_path
from simharness.engine.strategies import STRATEGY_NAMES

VARIANT = "default"
DEFAULTS: dict[str, str] = {"strategy": "pct", "runs": "100"}
#: Departures listed in a failure report before "... and N more".
SHOWN_DEPARTURES = 12
_REPEAT_PARAM = "__pytest_repeat_step_number"


@dataclass(frozen=True)
class SimConfig:
    """The session's simharness settings, resolved once from options and ini."""

    all_async: bool
    seed: int
    strategy: str | None        # from the command line or ini (None: marker or default)
    runs: int | None
    cli_strategy: bool          # True when strategy/runs came from the command line
    cli_runs: bool
    replay: Schedule | None
    store: FailureStore | None
    plugin_flag: str            # "-p simharness.integrations.pytest_plugin" when not loaded by entry point


CONFIG_KEY = pytest.StashKey[SimConfig]()
#: Set when a test ran the --sim-replay schedule (to say so when none did).
REPLAYED_KEY = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("simharness", "simharness: run async tests across controlled schedules")
    group.addoption("--sim", action="store_true", default=None,
                    help="Run every async test under simharness, as if marked. ini: sim")
    group.addoption("--sim-seed", metavar="SEED", default=None,
                    help="Global seed (an integer, or 'last' for the previous session's). ini: sim_seed")
    group.addoption("--sim-strategy", metavar="NAME", default=None, choices=STRATEGY_NAMES,
                    help=f"Schedule strategy: {', '.join(STRATEGY_NAMES)} (default pct). ini: sim_strategy")
    group.addoption("--sim-runs", metavar="N", default=None, type=int,
                    help="Schedules per test (default 100). ini: sim_runs")
    group.addoption("--sim-replay", metavar="SCHEDULE", default=None,
                    help="Run the test the schedule belongs to with exactly that schedule. ini: sim_replay")
    group.addoption("--sim-store", metavar="PATH", default=None,
                    help=f"Failure store file, or 'off' (default ${STORE_ENV}, else "
                         ".simharness/failures.db under the rootdir). ini: sim_store")
    parser.addini("sim", "Run every async test under simharness.", type="bool", default=False)
    for name, what in (("seed", "Global seed (integer or 'last')"), ("strategy", "Schedule strategy"),
                       ("runs", "Schedules per test"), ("replay", "Schedule to replay"),
                       ("store", "Failure store file, or 'off'")):
        parser.addini(f"sim_{name}", what, default="")


def _setting(config: pytest.Config, name: str) -> tuple[str | None, bool]:
    """(value, from the command line) of option `--sim-NAME` or its ini twin `sim_NAME`."""
    value = config.getoption(f"sim_{name}")
    if value is not None:
        return str(value), True
    ini = str(config.getini(f"sim_{name}")).strip()
    return (ini or None), False


def _simharness_dir(config: pytest.Config) -> Path:
    return Path(config.rootpath) / ".simharness"


def _global_seed(config: pytest.Config) -> int:
    worker = getattr(config, "workerinput", None)
    if worker is not None and "simharness_seed" in worker:
        return int(worker["simharness_seed"])  # xdist: every worker uses the controller's seed
    text, _ = _setting(config, "seed")
    last = _simharness_dir(config) / "last-seed"
    if text == "last":
        try:
            seed = int(last.read_text().strip())
        except (OSError, ValueError):
            raise pytest.UsageError(f"--sim-seed last: no previous seed recorded in {last}") from None
    elif text is not None:
        try:
            seed = int(text)
        except ValueError:
            raise pytest.UsageError(f"--sim-seed must be an integer or 'last', got {text!r}") from None
    else:
        seed = secrets.randbelow(2**32)  # a new seed each session explores new schedules
    try:
        last.parent.mkdir(parents=True, exist_ok=True)
        last.write_text(f"{seed}\n")
    except OSError:
        pass  # a read-only checkout still runs; only `last` is unavailable
    return seed


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "simharness(strategy=None, runs=None, seed=None, depth=3): "
                            "run this async test under simharness's controlled loop across schedules")
    strategy, cli_strategy = _setting(config, "strategy")
    if strategy is not None and strategy not in STRATEGY_NAMES:
        raise pytest.UsageError(f"sim_strategy must be one of {', '.join(STRATEGY_NAMES)}, got {strategy!r}")
    runs_text, cli_runs = _setting(config, "runs")
    replay_text, _ = _setting(config, "replay")
    try:
        runs = int(runs_text) if runs_text is not None else None
        scheduled = Schedule.decode(replay_text) if replay_text is not None else None
    except (ValueError, ScheduleDecodeError) as error:
        raise pytest.UsageError(f"simharness: {error}") from None
    store_text, _ = _setting(config, "store")
    if store_text is not None:
        path = resolve_path(store_text)
    elif STORE_ENV in os.environ:
        path = resolve_path()
    else:
        path = _simharness_dir(config) / "failures.db"
    by_entry_point = config.pluginmanager.get_plugin("simharness") is not None
    config.stash[CONFIG_KEY] = SimConfig(
        all_async=bool(config.getoption("sim") or config.getini("sim")), seed=_global_seed(config),
        strategy=strategy, runs=runs, cli_strategy=cli_strategy, cli_runs=cli_runs, replay=scheduled,
        store=FailureStore(path) if path is not None else None,
        plugin_flag="" if by_entry_point else "-p simharness.integrations.pytest_plugin",
    )


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: hand the session seed to each worker."""
    node.workerinput["simharness_seed"] = node.config.stash[CONFIG_KEY].seed


def pytest_report_header(config: pytest.Config) -> str:
    sim = config.stash[CONFIG_KEY]
    return (f"simharness: seed {sim.seed} (repeat with --sim-seed {sim.seed} or --sim-seed last), "
            f"strategy {sim.strategy or DEFAULTS['strategy']}, runs {sim.runs or DEFAULTS['runs']}"
            + (", every async test" if sim.all_async else ""))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    sim = config.stash[CONFIG_KEY]
    # Under xdist the workers ran the tests: only they know, so say nothing there.
    distributed = hasattr(config, "workerinput") or bool(getattr(config.option, "numprocesses", None))
    if sim.replay is not None and not config.stash.get(REPLAYED_KEY, False) and not distributed:
        terminalreporter.write_line(f"simharness: no selected test matches --sim-replay {sim.replay.encode()} "
                                    "(select the test it was printed for)", yellow=True)


def _target(item: pytest.Function) -> Callable[..., Coroutine[Any, Any, Any]] | None:
    """The test's coroutine function when simharness runs this item, else None."""
    function: Any = item.obj
    # pytest-asyncio swaps `obj` for a sync wrapper made with functools.wraps: look under it.
    while not inspect.iscoroutinefunction(function) and hasattr(function, "__wrapped__"):
        function = function.__wrapped__
    if not inspect.iscoroutinefunction(function):
        return None
    if item.get_closest_marker("simharness") is not None:
        return function  # type: ignore[no-any-return]
    if not item.config.stash[CONFIG_KEY].all_async:
        return None
    # --sim leaves tests with async fixtures alone: those values live on another loop.
    for definitions in item._fixtureinfo.name2fixturedefs.values():
        if inspect.iscoroutinefunction(definitions[-1].func) or inspect.isasyncgenfunction(definitions[-1].func):
            return None
    return function  # type: ignore[no-any-return]


def scenario_name(item: pytest.Function) -> str:
    """The test's scenario name: its node id without pytest-repeat's `N-M` (repeats share a store entry)."""
    name = item.nodeid
    callspec = getattr(item, "callspec", None)
    if callspec is not None and _REPEAT_PARAM in callspec.params:
        name = re.sub(r"(?:-)?\d+-\d+\]$", "]", name).replace("[]", "")
    return name


def seed_for_test(global_seed: int, node_id: str) -> int:
    """The per-test seed: derived from the session seed and the test's node id."""
    digest = hashlib.blake2b(f"simharness-test:{global_seed}:{node_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    function = _target(pyfuncitem)
    if function is None:
        if pyfuncitem.get_closest_marker("simharness") is not None:
            pytest.fail("simharness: @pytest.mark.simharness needs an `async def` test", pytrace=False)
        return None
    sim = pyfuncitem.config.stash[CONFIG_KEY]
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}

    async def run_test(_: object) -> None:
        await function(**arguments)

    name = scenario_name(pyfuncitem)
    code = function.__code__
    scenario = Scenario(name=name, function=run_test, variants={VARIANT: None}, expect={},
                        source_file=code.co_filename, source_line=code.co_firstlineno)
    if sim.replay is not None and sim.replay.scope == scope_of(name, VARIANT):
        pyfuncitem.config.stash[REPLAYED_KEY] = True
        _replay(pyfuncitem, scenario, sim.replay)
        return True
    marker = pyfuncitem.get_closest_marker("simharness")
    wanted = dict(marker.kwargs) if marker is not None else {}
    strategy = sim.strategy if sim.cli_strategy or "strategy" not in wanted else wanted["strategy"]
    runs = sim.runs if sim.cli_runs or "runs" not in wanted else wanted["runs"]
    # Seeded by node id: each pytest-repeat repetition explores other schedules, while
    # the scenario name (scope, store entry, replay command) is shared by all of them.
    seed = wanted["seed"] if "seed" in wanted else seed_for_test(sim.seed, pyfuncitem.nodeid)
    try:
        options = ExploreOptions(strategy=strategy or DEFAULTS["strategy"], runs=int(runs or DEFAULTS["runs"]),
                                 seed=int(seed), depth=int(wanted.get("depth", 3)))
        exploration = explore_variant(scenario, VARIANT, options, store=sim.store)
    except SimharnessError as error:
        pytest.fail(f"simharness: {error}", pytrace=False)
    # Store notes need nothing here: dropped entries were already warned about
    # (StoreWarning, in pytest's warnings summary) and a fixed bug is no news.
    if exploration.failure is not None:
        pytest.fail(failure_report(pyfuncitem, scenario, exploration, options.runs), pytrace=False)
    return True


def _replay(item: pytest.Function, scenario: Scenario, schedule: Schedule) -> None:
    try:
        result = replay(scenario, VARIANT, schedule, trace=True)
    except SimharnessError as error:
        pytest.fail(f"simharness: cannot replay {schedule.encode()}: {error}", pytrace=False)
    if result.failure is not None:
        lines = [f"simharness: replayed schedule fails ({result.failure.kind})", result.failure.message, ""]
        lines += departures(result)
        lines += ["", f"schedule: {schedule.encode()}", f"replay: {replay_command(item, schedule.encode())}"]
        pytest.fail("\n".join(lines), pytrace=False)


def replay_command(item: pytest.Function, schedule: str) -> str:
    """The command line that runs exactly this test with exactly `schedule`.

    It names the test without pytest-repeat's `[N-M]`, so it works without `--count`.
    """
    flag = item.config.stash[CONFIG_KEY].plugin_flag
    node = shlex.quote(scenario_name(item))
    return " ".join(p for p in ("pytest", flag, node, "--sim-replay", schedule) if p)


def departures(result: RunResult) -> list[str]:
    """The steps that matter: each decision that left the default order, with its option labels."""
    taken = [d for d in result.decision_log if d.chosen]
    lines = [f"steps that matter: {len(taken)} of {len(result.decision_log)} decision(s) left the default order"]
    for record in taken[:SHOWN_DEPARTURES]:
        chosen, default = record.options[record.chosen], record.options[0]
        what = ("ran the ready callbacks first" if chosen.startswith("fifo:") else f"ran [{chosen}] first")
        lines.append(f"  decision {record.index} (t={record.time:g}s): kept [{default}] waiting, {what}")
    if len(taken) > SHOWN_DEPARTURES:
        lines.append(f"  ... and {len(taken) - SHOWN_DEPARTURES} more")
    return lines


def failure_report(item: pytest.Function, scenario: Scenario, exploration: Exploration, planned: int) -> str:
    """The text pytest shows for a failure: what, where found, the steps, the schedule, the replay."""
    failure = exploration.failure
    assert failure is not None
    if failure.run_index == 0:
        where = "replaying a failure remembered in the failure store (tried before exploring)"
    else:
        where = (f"at schedule {failure.run_index} of {planned} "
                 f"(strategy {exploration.strategy}, test seed {exploration.seed})")
    lines = [f"simharness: {failure.kind} {where}", failure.message, ""]
    original = Schedule.decode(failure.original_schedule)
    shrunk = Schedule.decode(failure.schedule)
    if failure.schedule != failure.original_schedule:
        lines.append(f"shrunk from {original.deviations} to {shrunk.deviations} non-default choice(s) "
                     f"in {failure.shrink_replays} replays")
    try:
        lines += departures(replay(scenario, VARIANT, failure.schedule, trace=True))
    except SimharnessError as error:  # the finding stands; only its trace is missing
        lines.append(f"(no trace: {error})")
    lines += ["", f"schedule: {failure.schedule}", f"replay: {replay_command(item, failure.schedule)}"]
    return "\n".join(lines)
