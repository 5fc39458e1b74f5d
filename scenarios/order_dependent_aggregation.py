"""order-dependent-aggregation: the aggregate depends on which agent finished first.

Seed: ../shared/seeds/002_c8f9ea50bfbd3a4d.txt, "Results Not Aggregating Correctly",
cause 3 "Order-dependent aggregation" ("Aggregation logic assumes results arrive in
specific order, but parallel execution doesn't guarantee order. Solution: ... sort
results before aggregating"), checked as in "Debugging Strategy", step 6 ("Results
identical to sequential baseline?").

Four quality-check agents run in parallel, each for an uncontrolled while
(`sh.checkpoint()`), and append their result to a shared list when they finish. The
buggy aggregator walks that list in arrival order: the report's sections come out in
completion order and the total score, a float sum, changes in its last digits
(0.1 + 0.2 + 0.3 != 0.3 + 0.2 + 0.1). The fix sorts by agent name before aggregating.

Oracle: the report is identical under every explored schedule. Inside one run this is
checked against the sequential baseline (the same agents run one after another), with
`simharness.explore.oracles.identical.assert_identical`; across runs,
`simharness.explore.oracles.identical.explore_identical` compares what each schedule returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import simharness as sh
from simharness.explore.oracles.identical import assert_identical


@dataclass(frozen=True)
class AgentResult:
    """What one quality-check agent reports."""

    agent: str
    score: float
    findings: int


#: The parallel batch: agent name -> (score, findings). Scores chosen so that the float
#: sum of the same values depends on the order of addition, as real scores often do.
AGENTS: dict[str, tuple[float, int]] = {
    "lint": (0.1, 3), "security": (0.2, 1), "tests": (0.3, 0), "types": (0.7, 2),
}


async def run_agent(name: str, results: list[AgentResult]) -> None:
    """One agent: works for a while nobody controls, then appends its result."""
    await sh.checkpoint(f"agent {name} runs")
    score, findings = AGENTS[name]
    results.append(AgentResult(name, score, findings))


def aggregate_in_arrival_order(results: list[AgentResult]) -> str:
    """The buggy aggregator: assumes results arrive in a fixed order."""
    return _report(results)


def aggregate_sorted(results: list[AgentResult]) -> str:
    """The fix: sort by key (agent name) before aggregating."""
    return _report(sorted(results, key=lambda result: result.agent))


def _report(results: list[AgentResult]) -> str:
    total = 0.0
    lines = []
    for result in results:
        total += result.score
        lines.append(f"{result.agent}: score {result.score} findings {result.findings}")
    lines.append(f"total score {total!r} findings {sum(r.findings for r in results)}")
    return "\n".join(lines)


async def run_batch_parallel(aggregate: Callable[[list[AgentResult]], str]) -> str:
    results: list[AgentResult] = []
    await asyncio.gather(*(run_agent(name, results) for name in AGENTS))
    return aggregate(results)


async def run_batch_sequential(aggregate: Callable[[list[AgentResult]], str]) -> str:
    results: list[AgentResult] = []
    for name in AGENTS:
        await run_agent(name, results)
    return aggregate(results)


@sh.scenario(variants={"buggy": aggregate_in_arrival_order, "fixed": aggregate_sorted},
             expect={"buggy": "fail", "fixed": "pass"},
             bug={"kind": "assertion", "message": "order-dependent aggregation: parallel report differs"})
async def order_dependent_aggregation(aggregate: Callable[[list[AgentResult]], str]) -> str:
    """Aggregate a parallel batch; the report must equal the sequential baseline's."""
    baseline = await run_batch_sequential(aggregate)
    report = await run_batch_parallel(aggregate)
    assert_identical(report, baseline, "order-dependent aggregation: parallel report")
    return report
