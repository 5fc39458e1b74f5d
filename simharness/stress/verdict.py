"""The verdict rule: did a variant do what its `expect` says, on the evidence we have?

* expect "pass" (a fixed variant): zero failures on every backend that ran it: no
  failing schedule in simulation, no failing real run, no crash or timeout of either.
* expect "fail" (a buggy variant) that simulation can run: the simulated explorer
  must find a failure within its budget ("caught"). Its real failure rate is
  reported, whatever it is, and does not decide the verdict (0 is an honest answer).
* expect "fail" judged on the real backend alone (declared `backends=("real",)`, or
  `--backend real`): the real backend must have observed a failure. If none of its
  runs failed, the verdict is "not-observed" and counts as NOT met: the expectation
  says the variant fails, and nothing we ran showed it; we never claim a pass we did
  not observe.
* a buggy variant that declares its bug (`@scenario(bug=...)`: a failure kind and a
  message pattern) is caught only by a failure that matches it: a crash of the harness
  or a false alarm does not pass for the bug.
* runs under the found timing ("timed": the real backend with the checkpoint durations of
  a failure found for the scenario's buggy variant, `real/timed.py`): a fixed variant
  must pass every one of them; a buggy variant's count is reported (how often the
  stock runtime shows the failure under its own timing) and decides nothing.
* no backend ran the variant (e.g. `--backend sim` on a real-only scenario):
  "skipped", which does not fail the run and does not claim anything either.
"""

from __future__ import annotations

from simharness.stress.plan import VariantPlan
from simharness.stress.results import BackendResult, Verdict


#: How a backend's runs are named in a verdict's reason.
_NAMES = {"timed": "real under the found timing"}


def _fixed(plan: VariantPlan, results: list[BackendResult]) -> Verdict:
    problems = []
    for result in results:
        if result.error:
            problems.append(f"{result.backend}: {result.error}")
        elif result.failures:
            worst = next((o for o in result.outcomes if o.outcome != "pass"), None)
            what = f"{worst.outcome}: {worst.message}" if worst else "failure"
            problems.append(f"{_NAMES.get(result.backend, result.backend)}: {result.failures} of {result.runs} "
                            f"failed ({what})")
    if problems:
        return Verdict(plan.scenario, plan.variant, plan.expect, False, "fail", "; ".join(problems),
                       plan.source_file)
    ran = ", ".join(f"{r.runs} {_NAMES.get(r.backend, r.backend)}" for r in results)
    return Verdict(plan.scenario, plan.variant, plan.expect, True, "pass", f"no failure in {ran} runs",
                   plan.source_file)


def _timed_text(timed: BackendResult | None) -> str:
    if timed is None:
        return ""
    if not timed.runs:
        return f"; no run under a found timing ({timed.note})"
    shown = f"; fails {timed.failures}/{timed.runs} under the found timing"
    return shown + (" (never on the stock runtime: a possible defect of simharness)" if not timed.failures else "")


def _buggy(plan: VariantPlan, sim: BackendResult | None, real: BackendResult | None,
           timed: BackendResult | None = None) -> Verdict:
    def verdict(ok: bool, word: str, reason: str) -> Verdict:
        return Verdict(plan.scenario, plan.variant, plan.expect, ok, word, reason, plan.source_file)

    rate = (f"; real backend failed {real.failures} of {real.runs} runs ({real.failure_rate:.1%})"
            if real is not None else "") + _timed_text(timed)
    if "sim" in plan.backends:
        if sim is None:
            return verdict(False, "missed", "the exploration did not finish" + rate)
        if sim.found is not None:
            if plan.bug is not None and not plan.bug.matches(sim.found.kind, sim.found.message):
                return verdict(False, "missed", f"simulation found {sim.found.kind} ({sim.found.message[:120]}), "
                                                f"not the declared bug ({plan.bug.describe()})" + rate)
            return verdict(True, "caught", f"simulation found {sim.found.kind} at schedule "
                                           f"{sim.found.run_index} of {sim.runs}" + rate)
        if sim.error:
            return verdict(False, "missed", f"exploration failed: {sim.error}" + rate)
        return verdict(False, "missed", f"simulation found no failure in {sim.runs} schedules" + rate)
    if real is None or real.runs == 0:
        return verdict(False, "not-observed", "no real run finished")
    if real.failures:
        failed = [o for o in real.outcomes if o.outcome != "pass"]
        if plan.bug is not None and not any(plan.bug.matches(o.outcome, o.message) for o in failed):
            return verdict(False, "not-observed", f"real runs failed, but not with the declared bug "
                                                  f"({plan.bug.describe()})" + rate)
        kinds = ", ".join(sorted({o.outcome for o in failed}))
        return verdict(True, "caught", f"real backend observed it ({kinds})" + rate)
    return verdict(False, "not-observed", f"real backend observed no failure in {real.runs} runs "
                                          f"(real-only scenario: nothing shows the expected failure)")


def judge(plan: VariantPlan, sim: BackendResult | None, real: BackendResult | None,
          timed: BackendResult | None = None) -> Verdict:
    """Apply the rule above to one variant."""
    if not plan.backends:
        return Verdict(plan.scenario, plan.variant, plan.expect, True, "skipped",
                       f"declares backends {', '.join(plan.declared)}; none selected", plan.source_file)
    results = [r for r in (sim, real, timed) if r is not None]
    expected = {"sim": sim, "real": real}
    missing = [b for b in plan.backends if expected[b] is None]
    if plan.expect == "pass":
        verdict = _fixed(plan, results)
        if missing and verdict.ok:
            return Verdict(plan.scenario, plan.variant, plan.expect, False, "fail",
                           f"no result from {', '.join(missing)} (interrupted?)", plan.source_file)
        return verdict
    return _buggy(plan, sim, real, timed)
