"""The pytest plugin: asyncio tests run on the controlled loop across many schedules.

`pytest --sim` (or `@pytest.mark.simharness(...)` on one test) runs each asyncio test
under N schedules; each schedule is a fresh run of the test with its function-scoped
fixtures (async ones included) on a new `ControlledLoop`, handed to pytest-asyncio
through its `pytest_asyncio_loop_factories` hook. A failure is shrunk, remembered in
the failure store (tried first on the next run), and reported with the seed, the steps
that departed from the default order and the one command that replays it
(`--sim-replay SCHEDULE`). Modules: `pytest_options` (settings), `pytest_select`
(what is explored), `pytest_loop` (one schedule's loop), `pytest_explore` (the
schedules of one test), `pytest_scopes` (tests on loops wider than the function: a shared
controlled loop, default order), `pytest_report` (texts and summary).
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Mapping
from typing import Any

import pytest
from _pytest.runner import runtestprotocol

from simharness.integrations import pytest_reproduce as reproduce
from simharness.integrations import pytest_select as select
from simharness.integrations.pytest_explore import explore_item, run_unexplored
from simharness.integrations.pytest_loop import ScheduleRun, loop_factory
from simharness.integrations.pytest_options import (
    CONFIG_KEY, DEFAULT_RUNS, DEFAULT_STRATEGY, SimConfig, add_options, check_marker, resolve, seed_for_test,
    simharness_dir,
)
from simharness.integrations.pytest_report import (
    Stats, add_properties, failure_text, replay_command, rewrite_failure, scenario_name, traceback_of,
)
from simharness.integrations.pytest_scopes import ScopedLoops
from simharness.engine.execution import RunSettings
from simharness.engine.schedule import scope_of

__all__ = ["SimConfig", "scenario_name", "seed_for_test"]

STATS_KEY = pytest.StashKey[Stats]()
REPLAYED_KEY = pytest.StashKey[bool]()
VARIANT = "default"


class AsyncioLoopFactories:
    """pytest-asyncio's extension point (1.4+): every asyncio test gets the plugin's factory,
    which hands out a controlled loop during a schedule and a stock loop otherwise."""

    @pytest.hookimpl(trylast=True, optionalhook=True)
    def pytest_asyncio_loop_factories(self, config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
        return {"simharness": loop_factory}


class StockFactoryStandIn:
    """A project's own `pytest_asyncio_loop_factories` answer that names asyncio's stock factory
    (`asyncio.new_event_loop`, as aiosmtplib's conftest does unless asked for uvloop) asks for
    the stock loop, which is what the plugin's factory makes outside a schedule: it stands in
    for it, under the project's name (test ids unchanged). Any other factory (uvloop, a loop
    class of the project's) is the project's choice and wins."""

    @pytest.hookimpl(wrapper=True, optionalhook=True)
    def pytest_asyncio_loop_factories(self, config: pytest.Config, item: pytest.Item) -> Generator[None, Any, Any]:
        answer = yield
        if not isinstance(answer, Mapping):
            return answer
        return {name: loop_factory if factory is asyncio.new_event_loop else factory
                for name, factory in answer.items()}


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "simharness(runs=None, strategy=None, seed=None, depth=3, skip=False): "
                            "explore this asyncio test across controlled schedules (skip=True: leave it alone)")
    config.stash[CONFIG_KEY] = resolve(config)
    config.stash[STATS_KEY] = Stats()
    _CONFIG["config"] = config
    sim = config.stash[CONFIG_KEY]
    config.pluginmanager.register(ScopedLoops(RunSettings(blocked_loop_s=min(10.0, sim.timeout_s)), sim.plugin_flag),
                                  "simharness-scoped-loops")
    if config.pluginmanager.has_plugin("asyncio"):
        config.pluginmanager.register(AsyncioLoopFactories(), "simharness-asyncio-loop-factories")
        config.pluginmanager.register(StockFactoryStandIn(), "simharness-stock-factory-stand-in")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: hand the session seed to each worker (same seeds as without xdist)."""
    node.workerinput["simharness_seed"] = node.config.stash[CONFIG_KEY].seed


def _header(sim: SimConfig) -> str:
    return (f"simharness: seed {sim.seed} (repeat with --sim-seed {sim.seed} or --sim-seed last), "
            f"strategy {sim.strategy or DEFAULT_STRATEGY}, runs {sim.runs or DEFAULT_RUNS}"
            + (", every asyncio test" if sim.all_async else ""))


def pytest_report_header(config: pytest.Config) -> str | None:
    sim = config.stash[CONFIG_KEY]
    return _header(sim) if sim.explicit else None  # silent in a session that did not ask for simharness


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    sim = config.stash[CONFIG_KEY]
    explored = False
    reproducing = reproduce.select_items(config, items)  # --sim-reproduce: only the failed tests
    for item in items:
        wanted = check_marker(item)
        replayed = sim.replay is not None and sim.replay.scope == scope_of(scenario_name(item), VARIANT)
        decided = select.plan(item, sim.all_async or replayed or item.nodeid in reproducing, wanted)
        item.stash[select.PLAN_KEY] = decided
        explored = explored or decided[0] == select.EXPLORE
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if explored and not sim.explicit and reporter is not None and not hasattr(config, "workerinput"):
        reporter.write_line(_header(sim))  # marked tests only: the seed before any test runs


def _settings_for(item: pytest.Item, sim: SimConfig) -> dict[str, Any]:
    wanted = check_marker(item)
    strategy = sim.strategy if sim.cli_strategy or "strategy" not in wanted else wanted["strategy"]
    runs = sim.runs if sim.cli_runs or "runs" not in wanted else wanted["runs"]
    seed = wanted["seed"] if "seed" in wanted else seed_for_test(sim.seed, item.nodeid)
    if select.is_hypothesis(item):
        runs = 0  # default order only (see pytest_select)
    elif runs is None:
        runs = DEFAULT_RUNS
    return {"strategy": strategy or DEFAULT_STRATEGY, "runs": runs, "seed": int(seed),
            "depth": int(wanted.get("depth", 3))}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    decided, reason = item.stash.get(select.PLAN_KEY, ("", ""))
    if decided == select.ALONE:
        item.user_properties += [("simharness_status", "left-alone"), ("simharness_detail", reason)]
    if decided != select.EXPLORE:
        return None
    if reproduce.wanted(item):
        return reproduce.protocol(item, nextitem)
    sim = item.config.stash[CONFIG_KEY]
    name = scenario_name(item)
    replay = sim.replay if sim.replay is not None and sim.replay.scope == scope_of(name, VARIANT) else None
    if replay is not None:
        item.config.stash[REPLAYED_KEY] = True
    chosen = _settings_for(item, sim)
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    outcome = explore_item(item, name, store=sim.store, timeout_s=sim.timeout_s, nextitem=nextitem,
                           replay=replay, **chosen)
    reports = outcome.last_reports
    properties: list[tuple[str, Any]] = [("simharness_status", outcome.status),
                                         ("simharness_schedules", outcome.schedules),
                                         ("simharness_async_fixtures", len(select.async_fixtures(item)))]
    if outcome.stopped:
        properties.append(("simharness_stopped", outcome.stopped))
    if outcome.status == "left-alone":  # found out while running: it ran once, unlogged; now logged
        item.user_properties += [("simharness_status", "left-alone"), ("simharness_detail", outcome.detail)]
        runtestprotocol(item, log=True, nextitem=nextitem)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True
    if outcome.status == "unsupported":
        properties.append(("simharness_detail", outcome.detail))
        add_properties(item, [], properties)
        if sim.unsupported == "stock":
            run_unexplored(item, nextitem, outcome.detail)
        else:
            # pytest's own skip marker: the report then points at the test, with the reason.
            item.add_marker(pytest.mark.skip(reason=f"unsupported in simulation: {outcome.detail}"))
            runtestprotocol(item, log=True, nextitem=nextitem)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True
    if outcome.failure is not None and reports:
        command = replay_command(item, sim.plugin_flag, outcome.failure.schedule.encode())
        properties += [("simharness_schedule", outcome.failure.schedule.encode()), ("simharness_replay", command)]
        rewrite_failure(reports, failure_text(outcome, chosen["runs"], traceback_of(reports), command))
    elif outcome.notes and outcome.status == "replay":
        rewrite_failure(reports, "simharness: cannot replay: " + "; ".join(outcome.notes))
    if outcome.status == "replay":
        properties[0] = ("simharness_status", "failed" if outcome.failure is not None or outcome.notes else "passed")
        properties.append(("simharness_mode", "replay"))
    add_properties(item, reports, properties)
    for report in reports:
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    run = ScheduleRun.current
    if run is not None and call.excinfo is not None:
        run.raised.append((call.when, call.excinfo.value))
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Under --sim, count the sync tests that start their own loop (asyncio.run(), asyncio.new_event_loop())."""
    sim = item.config.stash[CONFIG_KEY]
    if not sim.all_async or item.stash.get(select.PLAN_KEY, ("", ""))[0]:
        return (yield)
    originals = {(asyncio, "run"): asyncio.run, (asyncio, "new_event_loop"): asyncio.new_event_loop}
    used: list[str] = []

    def counting(name: str, original: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            used.append(name)
            return original(*args, **kwargs)
        return call

    for (module, name), original in originals.items():
        setattr(module, name, counting(name, original))
    try:
        return (yield)
    finally:
        for (module, name), original in originals.items():
            setattr(module, name, original)
        if used:
            detail = ("sync test calling asyncio.run() (its own stock loop)" if "run" in used else
                      "sync test starting its own loop with asyncio.new_event_loop() (a stock loop)")
            item.user_properties += [("simharness_status", "left-alone"), ("simharness_detail", detail)]


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if pyfuncitem.get_closest_marker("simharness") is not None and not select._is_async(
            select.test_function(pyfuncitem)):
        pytest.fail("simharness: @pytest.mark.simharness needs an `async def` test", pytrace=False)
    if pyfuncitem.stash.get(select.PLAN_KEY, ("", ""))[0] != select.EXPLORE:
        return None
    if select.managed_by_pytest_asyncio(pyfuncitem) or select.is_anyio(pyfuncitem):
        return None  # pytest-asyncio or anyio runs it, on the loop our factory gave it
    function = select.test_function(pyfuncitem)
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    loop = loop_factory()
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(function(**arguments))
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    return True


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    config = _CONFIG.get("config")
    if config is not None:
        config.stash[STATS_KEY].add(report)


#: The session's config (pytest_runtest_logreport receives only the report).
_CONFIG: dict[str, pytest.Config] = {}


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    sim = config.stash[CONFIG_KEY]
    stats = config.stash[STATS_KEY]
    for line in stats.lines(sim.seed):
        terminalreporter.write_line(line)
    distributed = hasattr(config, "workerinput") or bool(getattr(config.option, "numprocesses", None))
    if sim.replay is not None and not config.stash.get(REPLAYED_KEY, False) and not distributed:
        terminalreporter.write_line(f"simharness: no selected test matches --sim-replay {sim.replay.encode()} "
                                    "(select the test it was printed for)", yellow=True)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput") or not config.stash[STATS_KEY].ran_any:
        return  # nothing written in a session where simharness ran no test
    last = simharness_dir(config) / "last-seed"
    try:
        last.parent.mkdir(parents=True, exist_ok=True)
        last.write_text(f"{config.stash[CONFIG_KEY].seed}\n")
    except OSError:
        pass  # a read-only checkout still runs; only `last` is unavailable
