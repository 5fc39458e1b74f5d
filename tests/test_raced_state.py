"""Which shared state raced (issue 19, item 4): the explanation names it on the catalogue's races.

Accesses are recorded on the replay that builds the explanation (`sys.settrace` on
3.11, `sys.monitoring` on 3.12+), never while exploring.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import simharness as sh
from cli_helpers import run_cli
from simharness.engine.access_sites import find_sites
from simharness.engine.strategies import FifoStrategy
from simharness.explore.explain import Explanation, explain
from simharness.explore.raced import RacedState
from simharness.explore.runner import ExploreOptions, explore_variant, replay, run_strategy
from simharness.explore.serialize import replay_document
from simharness.scenario import Scenario, scenario_of

ROOT = Path(__file__).resolve().parent.parent
TOOL_NAME = "simharness accesses"


def _catalogue(name: str) -> Scenario:
    [found] = sh.load_file(ROOT / "scenarios" / f"{name}.py")
    return found


def _explained(scenario: Scenario, variant: str = "buggy") -> Explanation:
    found = explore_variant(scenario, variant, ExploreOptions(strategy="pct", runs=300), store=None).failure
    assert found is not None
    failing = replay(scenario, variant, found.schedule, trace=True, accesses=True)
    fifo = run_strategy(scenario, variant, FifoStrategy(), detail=True, accesses=True)
    return explain(failing, fifo)


def _moves(state: RacedState) -> list[tuple[str, str]]:
    """(actor, "read"/"wrote") of each told access, in order."""
    return [(t.actor, verb) for t in state.touches for verb, a in (("read", t.read), ("wrote", t.wrote)) if a]


def test_lost_update_names_the_counter_and_the_interleaved_reads_and_writes() -> None:
    explanation = _explained(_catalogue("metrics_lost_update"))
    first = explanation.raced[0]
    assert first.name == "MCPProvider.metrics.requests_made"
    moves = _moves(first)
    # Two tasks read the counter before either wrote it back: the lost update.
    readers = [actor for actor, verb in moves[:2] if verb == "read"]
    assert len(set(readers)) == 2 and [verb for _, verb in moves[2:4]] == ["wrote", "wrote"]
    assert {actor for actor, _ in moves[2:4]} == set(readers)
    line = explanation.raced_lines[0]
    assert line.startswith("raced on `MCPProvider.metrics.requests_made`: ")
    assert "metrics_lost_update.py:56" in line and "metrics_lost_update.py:58" in line
    # The latency sum is written in one step each (`+=`): in the FIFO order too, so it is no race.
    assert all("total_latency_ms" not in state.name for state in explanation.raced)


def test_token_overwrite_names_the_shared_token_slot() -> None:
    explanation = _explained(_catalogue("token_overwrite"))
    state = explanation.raced[0]
    assert state.name == "SharedTokenStorage.tokens"
    writers = [actor for actor, verb in _moves(state) if verb == "wrote"]
    assert len(set(writers)) == 2, "two flows wrote the one shared token slot"


def test_clear_all_toctou_names_the_registry_entry_the_cleanup_cleared() -> None:
    explanation = _explained(_catalogue("clear_all_toctou"))
    state = explanation.raced[0]
    assert state.name == "SharedTokenStorage._instances['http://server']"
    hows = [t.wrote.how for t in state.touches if t.wrote is not None]
    assert "clear()" in hows and "" in hows  # cleared, then registered again by a test


def test_order_dependent_aggregation_names_the_list_appended_to() -> None:
    explanation = _explained(_catalogue("order_dependent_aggregation"))
    state = explanation.raced[0]
    assert state.name == "results"
    assert {t.wrote.how for t in state.touches if t.wrote is not None} == {"append()"}


@pytest.mark.parametrize(("name", "variant", "raced"), [
    ("shared_provider_isolation", "buggy", "MCPProvider.sessions["),     # one sessions dict for every test
    ("failed_agent_aggregation", "silent", "ExternalService.in_flight"),  # which agent the service refuses
])
def test_more_catalogue_races_name_their_shared_member(name: str, variant: str, raced: str) -> None:
    explanation = _explained(_catalogue(name), variant)
    assert any(state.name.startswith(raced) for state in explanation.raced), explanation.raced_lines


def test_a_race_in_a_database_names_no_python_state() -> None:
    explanation = _explained(_catalogue("db_lost_update"))
    assert explanation.raced == () and explanation.accesses_recorded
    assert explanation.raced_lines[0].startswith("raced state: none in the code's own objects")


# ----- never while exploring ---------------------------------------------------------------

def _tracer_seen() -> str:
    """Which access tracer, if any, is installed right now in this thread."""
    if sys.version_info >= (3, 12):
        names = [sys.monitoring.get_tool(tool) for tool in range(6)]
        return "monitoring" if TOOL_NAME in names else ""
    trace = sys.gettrace()
    return "settrace" if type(getattr(trace, "__self__", None)).__name__ == "_Settrace" else ""


SEEN: list[str] = []


class Counter:
    """A counter with a property that must never be evaluated by the recorder."""

    def __init__(self) -> None:
        self.value = 0
        self.property_calls = 0

    @property
    def doubled(self) -> int:
        self.property_calls += 1
        return self.value * 2


@sh.scenario(variants={"buggy": None}, expect={"buggy": "fail"})
async def probe_race(_: Any) -> None:
    counter = Counter()

    async def bump() -> None:
        SEEN.append(_tracer_seen())
        seen = counter.value
        await asyncio.sleep(0)
        counter.value = seen + 1

    await asyncio.gather(bump(), bump())
    assert counter.property_calls == 0
    assert counter.value == 2, "lost update"


def test_exploring_installs_no_tracer_and_the_replay_does() -> None:
    scenario = scenario_of(probe_race)
    SEEN.clear()
    found = explore_variant(scenario, "buggy", ExploreOptions(strategy="random", runs=50), store=None).failure
    assert found is not None and SEEN and set(SEEN) == {""}
    SEEN.clear()
    failing = replay(scenario, "buggy", found.schedule, trace=True, accesses=True)
    assert set(SEEN) == {"monitoring" if sys.version_info >= (3, 12) else "settrace"}
    assert _tracer_seen() == "", "the tracer is removed after the replay"
    assert failing.failure is not None and "lost update" in failing.failure.message  # no property was run
    plain = replay(scenario, "buggy", found.schedule, trace=True)
    assert plain.accesses is None and failing.accesses
    assert plain.trace_hash == failing.trace_hash, "recording accesses does not change the run"
    fifo = run_strategy(scenario, "buggy", FifoStrategy(), detail=True, accesses=True)
    # The counter (named as the code names it), and the probe's own list of what it saw.
    assert [s.name for s in explain(failing, fifo).raced] == ["counter.value", "SEEN"]


def test_the_report_document_marks_only_the_named_raced_steps() -> None:
    scenario = _catalogue("metrics_lost_update")
    found = explore_variant(scenario, "buggy", ExploreOptions(strategy="pct", runs=300), store=None).failure
    assert found is not None
    failing = replay(scenario, "buggy", found.schedule, trace=True, accesses=True)
    fifo = run_strategy(scenario, "buggy", FifoStrategy(), detail=True, accesses=True)
    explanation = explain(failing, fifo)
    document = replay_document("metrics_lost_update", failing, fifo, explanation)
    marked = {step["index"] for step in document["trace"] if step["access"]}
    told = {a.step for t in explanation.raced[0].touches for a in (t.read, t.wrote) if a is not None}
    assert marked == told
    assert document["raced_state"] == explanation.raced_lines


# ----- the bytecode sites -------------------------------------------------------------------

def _site_names(function: Any) -> set[tuple[bool, str, str]]:
    def text(expr: Any) -> str:
        if expr is None:
            return "?"
        if expr[0] in ("fast", "global"):
            return str(expr[1])
        return f"{text(expr[1])}.{expr[2]}" if expr[0] == "attr" else f"{text(expr[1])}[{text(expr[2])}]"

    return {(site.write, site.kind, f"{text(site.owner)}:{site.member}")
            for site in find_sites(function.__code__).values()}


def test_sites_name_the_owner_of_plain_and_augmented_writes() -> None:
    def code(self: Any, table: dict[str, int], key: str) -> None:
        self.box.count += 1
        table[key] = len(table)
        self.items.append(key)

    sites = _site_names(code)
    assert (True, "attr", "self.box:count") in sites
    assert (True, "item", "table:") in sites
    assert (True, "whole", "self.items:append") in sites


def test_an_owner_lost_in_an_await_is_not_guessed() -> None:
    async def code(self: Any, other: Any) -> None:
        self.total += await other.fetch()

    writes = {name for write, _, name in _site_names(code) if write}
    assert writes <= {"self:total"}, writes  # missed at worst, never put on another object


def test_explore_prints_the_raced_state(tmp_path: Path) -> None:
    done = run_cli("explore", str(ROOT / "scenarios" / "metrics_lost_update.py"), "--variant", "buggy",
                   cwd=tmp_path)
    assert done.code == 1, done.err
    assert "raced on `MCPProvider.metrics.requests_made`: " in done.out


def test_the_pytest_plugin_report_names_the_raced_state(tmp_path: Path) -> None:
    (tmp_path / "test_flaky.py").write_text((ROOT / "tests" / "fixtures" / "plugin" / "suite_flaky.py").read_text())
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SIMHARNESS_STORE": "off"}
    done = subprocess.run([sys.executable, "-m", "pytest", "--sim", "--sim-seed", "1", "-q", "-p", "no:cacheprovider",
                           "test_flaky.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "raced on `Session.token`: " in done.stdout
