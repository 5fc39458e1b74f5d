"""failed-agent-aggregation: aggregation assumes all N agent results are there.

Seed: 002_c8f9ea50bfbd3a4d.txt, "Results Not Aggregating Correctly" cause 1 ("Missing
result from failed agent": one agent failed, but aggregation proceeded assuming all
succeeded; fix: check all agent results before aggregating, handle failures explicitly)
and "Agents Failing" cause 4 (network failure).

Oracle: the report's totals equal successes + failures, its success count equals the
agents that really succeeded, and the failed agent is named; never silently wrong.

Which agent fails is decided by timing: agents fetch from a rate-limited service that
serves `CAPACITY` requests at once and refuses the rest (the network failure), and each
fetch's round trip is an `sh.checkpoint()`. Variant `buggy` crashes on the failure
object, variant `silent` drops it and reports N successes, `fixed` reports it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import simharness as sh

AGENTS = 3
CAPACITY = 2


class NetworkFailure(Exception):
    """The external service refused the agent's request."""


@dataclass
class AgentResult:
    """What one successful agent found."""

    agent: int
    findings: int


@dataclass
class BatchReport:
    """The aggregate the orchestrator prints after a parallel batch."""

    total: int
    succeeded: int
    failed: list[str]
    findings: int


class ExternalService:
    """A service serving at most `capacity` requests at a time; it refuses the rest."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_flight = 0

    async def fetch(self, agent: int) -> int:
        await sh.checkpoint(f"agent {agent} connects")
        if self.in_flight >= self.capacity:
            raise NetworkFailure(f"agent {agent}: 503 service unavailable")
        self.in_flight += 1
        try:
            await sh.checkpoint(f"agent {agent} downloads")
            return agent + 1
        finally:
            self.in_flight -= 1


async def run_agent(agent: int, service: ExternalService) -> AgentResult:
    return AgentResult(agent, findings=await service.fetch(agent))


def aggregate_assuming_all(results: list[AgentResult | BaseException]) -> BatchReport:
    """The bug: aggregate as if there were N results."""
    findings = sum(r.findings for r in results)  # type: ignore[union-attr]
    return BatchReport(total=len(results), succeeded=len(results), failed=[], findings=findings)


def aggregate_silently(results: list[AgentResult | BaseException]) -> BatchReport:
    """Another form of the bug: failures dropped, success count still N."""
    ok = [r for r in results if isinstance(r, AgentResult)]
    return BatchReport(total=len(results), succeeded=len(results), failed=[],
                       findings=sum(r.findings for r in ok))


def aggregate_checked(results: list[AgentResult | BaseException]) -> BatchReport:
    """The fix: check every result, report failures explicitly."""
    ok = [r for r in results if isinstance(r, AgentResult)]
    failed = [f"{type(r).__name__}: {r}" for r in results if not isinstance(r, AgentResult)]
    return BatchReport(total=len(results), succeeded=len(ok), failed=failed,
                       findings=sum(r.findings for r in ok))


Aggregator = Callable[[list[AgentResult | BaseException]], BatchReport]


@sh.scenario(variants={"buggy": aggregate_assuming_all, "silent": aggregate_silently,
                       "fixed": aggregate_checked},
             expect={"buggy": "fail", "silent": "fail", "fixed": "pass"},
             bug={"buggy": {"kind": "assertion", "message": "aggregation crashed on a failed agent"}, "silent": {"kind": "assertion", "message": r"report says \d+ succeeded, \d+ did"}},
             deterministic=True)  # a failed agent's result always breaks the aggregation
async def failed_agent_aggregation(aggregate: Aggregator) -> None:
    """`AGENTS` agents run in one batch; the report must account for every one of them."""
    service = ExternalService(CAPACITY)
    results = await asyncio.gather(*(run_agent(i, service) for i in range(AGENTS)),
                                   return_exceptions=True)
    really_ok = [r for r in results if isinstance(r, AgentResult)]
    try:
        report = aggregate(list(results))
    except (AttributeError, TypeError) as error:
        raise AssertionError(f"aggregation crashed on a failed agent's result: {error}") from None
    assert report.total == report.succeeded + len(report.failed), (
        f"totals wrong: {report.total} agents but {report.succeeded} succeeded + "
        f"{len(report.failed)} failed")
    assert report.succeeded == len(really_ok), (
        f"report says {report.succeeded} succeeded, {len(really_ok)} did")
