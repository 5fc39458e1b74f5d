"""parallel-sequential-divergence: the parallel path handles results differently from the sequential one.

Seed: 000_62378e3dea7156f6.txt, sections 2.1 (parallel path skips the judge-enablement
check), 2.2 (parallel success count uses only the judge, no fallback), 2.3 (a judge error
adds no evaluation in parallel, a failure evaluation in sequential), 4.1 (the parallel
raw result hard-codes `"success": False`, so `normalize_parallel_result` always yields
False) and 4.3 (failed tests detected from the judge in parallel, from execution in
sequential); fix: one code path for both modes ("Anti-Pattern 2", recommendation 4).

Oracle (differential, `simharness.explore.oracles.differential.assert_same_as_sequential`): a run
with parallelism 3 gives the same per-test results and the same counts as parallelism 1,
for a security suite (judge disabled) and a conversational suite (judge enabled, one
judge error, one failed execution). Each test's execution is an MCP conversation,
modelled with `sh.checkpoint()`; the explorer varies the order in which they finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import simharness as sh
from simharness.explore.oracles.differential import assert_same_as_sequential

Result = dict[str, Any]

SUITES: dict[str, list[str]] = {
    "security": ["auth-bypass", "rate-limit"],
    "conversational": ["greet", "refund", "cancel"],
}
JUDGE_CRASHES_ON = "refund"      # the judge raises on this conversation
EXECUTION_FAILS = "cancel"       # this conversation fails to execute


class JudgeError(Exception):
    """The LLM judge could not evaluate a conversation."""


def should_enable_judge_evaluation(test_type: str, parallelism: int) -> bool:
    """The judge grades conversational suites only (security/compliance have their own checks)."""
    return test_type == "conversational"


class ConversationJudge:
    """Grades a conversation: goal achieved or not."""

    def evaluate_conversation(self, conversation_result: Result) -> Result:
        if conversation_result["test_id"] == JUDGE_CRASHES_ON:
            raise JudgeError("judge model returned malformed JSON")
        # Security probes are *meant* not to reach a conversational goal.
        achieved = conversation_result["details"]["goal"] == "achieved"
        return {"overall_score": 1.0 if achieved else 0.0, "criteria_scores": {},
                "reasoning": "goal achieved" if achieved else "goal not achieved", "success": achieved}


async def execute_conversation(test_id: str, test_type: str) -> Result:
    """One test's MCP conversation (the slow part)."""
    await sh.checkpoint(f"conversation {test_id}")
    if test_id == EXECUTION_FAILS:
        return {"test_id": test_id, "status": "failed", "success": False}
    goal = "achieved" if test_type == "conversational" else "refused as expected"
    return {"test_id": test_id, "status": "completed", "success": True, "details": {"goal": goal}}


def _failure_evaluation(error: Exception) -> Result:
    return {"overall_score": 0.0, "criteria_scores": {},
            "reasoning": f"Judge evaluation failed: {error!s}", "success": False}


# ---- the buggy code: two code paths -------------------------------------------------

async def run_tests_sequential(test_type: str, tests: list[str]) -> Result:
    """The seed's sequential path (lines 769-807, 883-900)."""
    results: list[Result] = []
    judge = ConversationJudge()
    for test_id in tests:
        result = await execute_conversation(test_id, test_type)
        judge_enabled = should_enable_judge_evaluation(test_type, 1)
        if judge_enabled and "details" in result:
            try:
                result["evaluation"] = judge.evaluate_conversation(result)
            except Exception as judge_error:
                result["evaluation"] = _failure_evaluation(judge_error)
        results.append(result)
    successful_tests = len([r for r in results if r.get("success", False)])
    if should_enable_judge_evaluation(test_type, 1):
        successful_tests = len([r for r in results if r.get("evaluation", {}).get("success", False)])
    failed_tests = [r for r in results if not r.get("success", True)]
    return {"results": results, "successful_tests": successful_tests, "failed_tests": failed_tests}


def normalize_parallel_result(raw: Result) -> Result:
    """Seed 4.1: `success` needs the raw result's `success`, which is hard-coded False."""
    result_obj = raw["result"]
    status = result_obj["status"]["value"]
    success = bool(status == "completed" and result_obj.get("success", False) and result_obj)
    normalized = {"test_id": raw["test_id"], "status": status, "success": success}
    if "details" in result_obj:
        normalized["details"] = result_obj["details"]
    return normalized


async def _execute_parallel_raw(test_id: str, test_type: str, semaphore: asyncio.Semaphore) -> Result:
    async with semaphore:
        done = await execute_conversation(test_id, test_type)
    raw: Result = {"status": {"value": done["status"]}, "success": False}  # Hardcoded! "Judge will determine"
    if "details" in done:
        raw["details"] = done["details"]
    return {"test_id": test_id, "result": raw}


async def run_tests_parallel(test_type: str, tests: list[str], parallelism: int) -> Result:
    """The seed's parallel path (lines 486-537)."""
    semaphore = asyncio.Semaphore(parallelism)
    raws = await asyncio.gather(*(_execute_parallel_raw(t, test_type, semaphore) for t in tests))
    results = [normalize_parallel_result(raw) for raw in raws]
    judge = ConversationJudge()
    for result in results:  # NO enablement check: runs for ALL tests
        if "details" not in result:
            continue
        try:
            result["evaluation"] = judge.evaluate_conversation(result)
        except Exception:
            pass  # "Judge evaluation failed" printed; no evaluation field added
    successful_tests = len([r for r in results if r.get("evaluation", {}).get("success", False)])
    failed_tests = [r for r in results if not r.get("evaluation", {}).get("success", True)]
    return {"results": results, "successful_tests": successful_tests, "failed_tests": failed_tests}


async def run_suite_two_paths(test_type: str, tests: list[str], parallelism: int) -> Result:
    if parallelism == 1:
        return await run_tests_sequential(test_type, tests)
    return await run_tests_parallel(test_type, tests, parallelism)


# ---- the fix: one code path ----------------------------------------------------------

async def _run_one(test_id: str, test_type: str, parallelism: int, semaphore: asyncio.Semaphore) -> Result:
    async with semaphore:
        result = await execute_conversation(test_id, test_type)
    if should_enable_judge_evaluation(test_type, parallelism) and "details" in result:
        try:
            result["evaluation"] = ConversationJudge().evaluate_conversation(result)
        except Exception as judge_error:
            result["evaluation"] = _failure_evaluation(judge_error)
        result["success"] = result["evaluation"]["success"]
    return result


async def run_suite_one_path(test_type: str, tests: list[str], parallelism: int) -> Result:
    """Both modes: a semaphore of `parallelism` slots (1 = sequential), same result handling."""
    semaphore = asyncio.Semaphore(parallelism)
    results = list(await asyncio.gather(*(_run_one(t, test_type, parallelism, semaphore) for t in tests)))
    successful_tests = len([r for r in results if r["success"]])
    failed_tests = [r for r in results if not r["success"]]
    return {"results": results, "successful_tests": successful_tests, "failed_tests": failed_tests}


SuiteRunner = Callable[[str, list[str], int], Awaitable[Result]]


def summary(run: dict[str, Result]) -> dict[str, Any]:
    """What must agree between modes: per-test success and evaluation, and the counts."""
    return {
        suite: {
            "successful_tests": outcome["successful_tests"],
            "failed_tests": sorted(r["test_id"] for r in outcome["failed_tests"]),
            "per_test": {r["test_id"]: {"success": r["success"], "evaluated": "evaluation" in r,
                                        "judge_success": r.get("evaluation", {}).get("success")}
                         for r in outcome["results"]},
        }
        for suite, outcome in run.items()
    }


@sh.scenario(variants={"buggy": run_suite_two_paths, "fixed": run_suite_one_path},
             expect={"buggy": "fail", "fixed": "pass"},
             bug={"kind": "assertion", "message": "DivergenceError: parallelism .* diverges from parallelism 1"},
             deterministic=True)  # a logic error: the parallel code path differs from the sequential one
async def parallel_sequential_divergence(run_suite: SuiteRunner) -> None:
    """Run both suites with parallelism 1 and 3; results and counts must be identical."""

    async def run(parallelism: int) -> dict[str, Result]:
        return {suite: await run_suite(suite, tests, parallelism) for suite, tests in SUITES.items()}

    await assert_same_as_sequential(run, parallelism=3, key=summary)
