"""explain(): the departures of a failing schedule from the default order, next to FIFO."""

from __future__ import annotations

import json

import pytest

from cli_helpers import RACE
from simharness.discovery import resolve_one
from simharness.errors import ConfigError
from simharness.explore.explain import explain
from simharness.outcome import RunResult
from simharness.explore.runner import ExploreOptions, explore_variant, replay, run_strategy
from simharness.explore.serialize import replay_document, to_jsonable
from simharness.engine.strategies import FifoStrategy

LOST = f"{RACE}::lost-update"


@pytest.fixture(scope="module")
def runs() -> tuple[RunResult, RunResult]:
    """(failing replay with trace, FIFO run with trace) of lost-update/buggy."""
    scenario = resolve_one(LOST)
    found = explore_variant(scenario, "buggy", ExploreOptions(runs=200)).failure
    assert found is not None
    failing = replay(scenario, "buggy", found.schedule, trace=True)
    fifo = run_strategy(scenario, "buggy", FifoStrategy(), detail=True)
    return failing, fifo


def test_departure_names_the_held_back_checkpoint_and_where_fifo_went(runs: tuple[RunResult, RunResult]) -> None:
    failing, fifo = runs
    explanation = explain(failing, fifo)
    assert (explanation.failed, explanation.kind, explanation.fifo_failed) == (True, "assertion", False)
    assert explanation.departures, "a failing run that FIFO passes must depart somewhere"
    first = explanation.departures[0]
    record = failing.decision_log[first.decision - 1]
    assert record.chosen == first.chosen != 0
    assert first.default == record.options[0] and first.taken == record.options[first.chosen]
    # The shrunk failure delays Task-2's checkpoint past Task-3's sleeps.
    assert first.default.startswith("checkpoint:Task-2") and first.delayed
    # The two runs part later, where FIFO lets the checkpoint continue and this run does not.
    assert first.parted_at is not None and first.parted_at >= first.step
    assert first.parted_fifo is not None and first.parted_fifo.actor == "Task-2"  # the task itself resumes from its checkpoint
    assert first.parted_failing is not None and first.parted_failing.actor == "Task-3"
    assert all(s.index < first.step for s in first.before)
    assert first.after and first.after[0].index >= first.step
    assert first.fifo_after and first.fifo_after[0].index >= first.step
    assert explanation.first_difference == first.parted_at
    assert "departed from the default order; the default (FIFO) order passes" in explanation.summary


def test_every_non_default_decision_is_a_departure(runs: tuple[RunResult, RunResult]) -> None:
    failing, fifo = runs
    explanation = explain(failing, fifo)
    assert [d.decision for d in explanation.departures] == [d.index for d in failing.decision_log if d.chosen]
    assert explanation.decisions == len(failing.decision_log)


def test_fifo_against_itself_has_no_departure(runs: tuple[RunResult, RunResult]) -> None:
    _, fifo = runs
    explanation = explain(fifo, fifo)
    assert explanation.departures == () and explanation.first_difference is None
    assert explanation.failed is False


def test_without_a_detailed_trace_explain_refuses() -> None:
    scenario = resolve_one(LOST)
    plain = run_strategy(scenario, "buggy", FifoStrategy())
    detailed = run_strategy(scenario, "buggy", FifoStrategy(), detail=True)
    with pytest.raises(ConfigError, match="detailed trace"):
        explain(plain, detailed)


def test_explanation_and_replay_document_are_json(runs: tuple[RunResult, RunResult]) -> None:
    failing, fifo = runs
    explanation = explain(failing, fifo)
    document = replay_document(LOST, failing, fifo, explanation)
    text = json.dumps(document)
    again = json.loads(text)
    assert again["explanation"] == to_jsonable(explanation)
    assert again["explanation"]["departures"][0]["parted_fifo"]["actor"] == "Task-2"
    assert len(again["trace"]) == failing.steps and len(again["fifo_trace"]) == fifo.steps
