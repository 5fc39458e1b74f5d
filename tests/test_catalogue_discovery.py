"""The catalogue needs the explorer, as its incidents did (issue 15, point 4).

A race whose seed incident was intermittent passes in the default order (the stock run)
and is found by exploration within 1,000 schedules; a bug that fails every run by
construction is declared `deterministic=True` and fails in the default order. Either
way the failure is the scenario's declared bug. Properties only: no schedule string or
run index is pinned (the measured medians live in the README's catalogue table,
`benchmarks/bench_catalogue.py --readme`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simharness import ExploreOptions, explore_variant, load_file
from simharness.engine.strategies import FifoStrategy
from simharness.explore.runner import run_strategy
from simharness.scenario import Scenario

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 1000


def _buggy() -> list[tuple[Path, str, str]]:
    found = []
    for path in sorted((ROOT / "scenarios").glob("[!_]*.py")):
        for scenario in load_file(path):
            if "sim" not in scenario.options.get("backends", ("sim", "real")):
                continue
            found += [(path, scenario.name, v) for v in scenario.variants if scenario.expectation(v) == "fail"]
    return found


BUGGY = _buggy()


def scenario_of(path: Path, name: str) -> Scenario:
    return next(s for s in load_file(path) if s.name == name)


def matches(scenario: Scenario, variant: str, kind: str, message: str) -> bool:
    signature = scenario.bug_signature(variant)
    assert signature is not None, f"{scenario.name}[{variant}] declares no bug"
    return signature.matches(kind, message)


@pytest.mark.parametrize(("path", "name", "variant"), BUGGY, ids=[f"{n}-{v}" for _, n, v in BUGGY])
def test_buggy_variant_is_intermittent_or_declared_deterministic(path: Path, name: str, variant: str) -> None:
    scenario = scenario_of(path, name)
    default = run_strategy(scenario, variant, FifoStrategy()).failure
    if scenario.deterministic:
        assert default is not None, "declared deterministic, but the default order passes"
        assert matches(scenario, variant, default.kind, default.message), default
        return
    assert default is None, f"the default order (the stock run) fails: {default}"
    found = explore_variant(scenario, variant, ExploreOptions(strategy="pct", runs=BUDGET, seed=0, shrink=False),
                            store=None)
    assert found.failure is not None, f"pct found nothing in {BUDGET} schedules"
    assert matches(scenario, variant, found.failure.kind, found.failure.message), found.failure


def test_the_catalogue_has_both_kinds() -> None:
    # Most of the seeds' incidents were intermittent ("passes 5/5, then 3/5").
    kinds = [scenario_of(path, name).deterministic for path, name, _ in BUGGY]
    assert kinds.count(False) > kinds.count(True) > 0
