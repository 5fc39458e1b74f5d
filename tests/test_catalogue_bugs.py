"""A verdict checks *what* failed: every catalogue bug declares its look, and stress
counts a buggy variant as caught only by a failure that matches it.

Without it, a crash of the harness or a false alarm would pass for the bug.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import simharness as sh
from simharness import ExploreOptions, explore_variant
from simharness.errors import ScenarioLoadError
from simharness.scenario import BugSignature
from simharness.stress.plan import VariantPlan
from simharness.stress.results import BackendResult, OutcomeRow, SimFinding
from simharness.stress.verdict import judge

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = [s for path in sorted((ROOT / "scenarios").glob("[!_]*.py")) for s in sh.load_file(path)]
BUGGY = [(s, v) for s in SCENARIOS for v in s.variants if s.expectation(v) == "fail"]


@pytest.mark.parametrize(("scenario", "variant"), BUGGY, ids=lambda v: v if isinstance(v, str) else v.name)
def test_every_catalogue_bug_declares_its_look(scenario: sh.Scenario, variant: str) -> None:
    assert scenario.bug_signature(variant) is not None


SIMULATED = [(s, v) for s, v in BUGGY if "sim" in s.options.get("backends", ("sim", "real"))]


@pytest.mark.parametrize(("scenario", "variant"), SIMULATED, ids=lambda v: v if isinstance(v, str) else v.name)
def test_the_found_failure_is_the_declared_bug(scenario: sh.Scenario, variant: str) -> None:
    exploration = explore_variant(scenario, variant, ExploreOptions(strategy="pct", runs=300, shrink=False), store=None)
    found = exploration.failure
    assert found is not None, "not found within 300 pct schedules"
    signature = scenario.bug_signature(variant)
    assert signature is not None and signature.matches(found.kind, found.message), (found.kind, found.message)
    # The fix, under the schedule that broke the buggy code (followed where it still
    # applies, issue 15): every variant expected to pass passes it.
    for fixed in (v for v in scenario.variants if scenario.expectation(v) == "pass"):
        replayed = sh.replay_lenient(scenario, fixed, found.schedule)
        assert replayed.result.failure is None, (fixed, replayed.result.failure)


def _plan(bug: BugSignature | None, backends: tuple[str, ...] = ("sim",)) -> VariantPlan:
    return VariantPlan("s", "buggy", "fail", "s.py", "s.py::s", backends, backends, 10.0, bug)


def _sim(kind: str, message: str) -> BackendResult:
    finding = SimFinding(kind=kind, message=message, schedule="s1f11-abcdef", trace_hash="0" * 16,
                         strategy="pct", seed=0, run_index=3, replay="")
    return BackendResult("s", "buggy", "sim", "fail", runs=3, failures=1, ok=True, failure_rate=1 / 3,
                         found=finding)


def test_a_failure_that_is_not_the_bug_is_no_catch() -> None:
    bug = BugSignature("assertion", "lost update")
    assert judge(_plan(bug), _sim("assertion", "AssertionError: lost update: 1 of 2"), None).ok
    wrong = judge(_plan(bug), _sim("exception", "KeyError: 'internal'"), None)
    assert not wrong.ok and wrong.verdict == "missed" and "not the declared bug" in wrong.reason
    assert judge(_plan(None), _sim("exception", "KeyError: 'internal'"), None).ok  # undeclared: as before


def test_real_only_bug_needs_a_matching_real_failure() -> None:
    bug = BugSignature("assertion", "conflicted")
    rows = (OutcomeRow("exception", "OSError: disk full", 2, 0.5, "unexpected", False),
            OutcomeRow("pass", "", 2, 0.5, "expected", True))
    real = BackendResult("s", "buggy", "real", "fail", runs=4, failures=2, ok=True, failure_rate=0.5, outcomes=rows)
    verdict = judge(_plan(bug, ("real",)), None, real)
    assert not verdict.ok and "not with the declared bug" in verdict.reason


@pytest.mark.parametrize("bug", [{"kind": "nonsense"}, {"message": "x"}, {"kind": "assertion", "message": "("},
                                 {"kind": "assertion", "extra": 1}, "assertion", {"nope": {"kind": "assertion"}}])
def test_a_malformed_bug_declaration_is_a_load_error(bug: object) -> None:
    with pytest.raises(ScenarioLoadError):
        @sh.scenario(variants={"buggy": 1}, expect={"buggy": "fail"}, bug=bug)
        async def declared(value: int) -> None:
            pass
