"""What the pytest plugin tells people: failure reports, replay commands, the summary.

Each item the plugin looked at carries JUnit properties (`simharness_status`, and on
a failure `simharness_replay` and `simharness_schedule`); the terminal summary is
counted from those properties of the teardown reports, so it is the same with and
without pytest-xdist (the controller sees every worker's reports), and a later
measurement over real suites can read the same numbers from the JUnit XML.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from simharness.outcome import RunResult

#: Departures listed in a failure report before "... and N more".
SHOWN_DEPARTURES = 12
_REPEAT_PARAM = "__pytest_repeat_step_number"


def scenario_name(item: pytest.Item) -> str:
    """The test's scenario name: its node id without pytest-repeat's `N-M` (repeats share a store entry)."""
    name = item.nodeid
    callspec = getattr(item, "callspec", None)
    if callspec is not None and _REPEAT_PARAM in callspec.params:
        name = re.sub(r"(?:-)?\d+-\d+\]$", "]", name).replace("[]", "")
    return name


def replay_command(item: pytest.Item, plugin_flag: str, schedule: str) -> str:
    """The command line that runs exactly this test with exactly `schedule` (without `[N-M]` of --count)."""
    node = shlex.quote(scenario_name(item))
    return " ".join(p for p in ("pytest", plugin_flag, node, "--sim-replay", schedule) if p)


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


def failure_text(outcome: Any, planned: int, traceback_text: str, command: str) -> str:
    """The text pytest shows for a failure: what, where found, the traceback, the steps, the replay."""
    final: RunResult = outcome.failure
    assert final.failure is not None
    if outcome.status == "replay":
        head = f"simharness: replayed schedule fails ({final.failure.kind})"
    elif outcome.run_index == 0:
        head = (f"simharness: {final.failure.kind} replaying a failure remembered in the failure store "
                "(tried before exploring)")
    elif outcome.run_index > planned:
        after = f", after {outcome.schedules} passing schedule(s)" if outcome.schedules else ""
        head = f"simharness: {final.failure.kind} in the default order (asyncio's own){after}"
    else:
        head = (f"simharness: {final.failure.kind} at schedule {outcome.run_index} of {planned} "
                f"(strategy {outcome.strategy}, test seed {outcome.seed})")
    lines = [head, final.failure.message, ""]
    if traceback_text and final.failure.kind in ("assertion", "exception"):
        lines += ["the failing run (replayed):", traceback_text.rstrip(), ""]
    original = outcome.original
    if original is not None and original.schedule.encode() != final.schedule.encode():
        lines.append(f"shrunk from {original.schedule.deviations} to {final.schedule.deviations} "
                     "non-default choice(s)")
    lines += outcome.notes
    lines += departures(final)
    schedule = final.schedule.encode()
    lines += ["", f"schedule: {schedule}", f"replay: {command}"]
    return "\n".join(lines)


def rewrite_failure(reports: list[Any], text: str) -> None:
    """Put `text` in place of the first failed report's traceback (or on the call report)."""
    failed = [r for r in reports if r.outcome == "failed"]
    target = failed[0] if failed else next((r for r in reports if r.when == "call"), reports[0])
    target.outcome = "failed"
    target.longrepr = text


def traceback_of(reports: list[Any]) -> str:
    failed = [r for r in reports if r.outcome == "failed"]
    return str(failed[0].longrepr) if failed else ""


def add_properties(item: pytest.Item, reports: list[Any], properties: list[tuple[str, Any]]) -> None:
    item.user_properties.extend(properties)
    for report in reports:
        report.user_properties.extend(properties)


@dataclass
class Stats:
    """What the plugin did in this session, counted from the reports' properties."""

    statuses: Counter[str] = field(default_factory=Counter)
    schedules: Counter[int] = field(default_factory=Counter)
    alone: Counter[str] = field(default_factory=Counter)
    unsupported: Counter[str] = field(default_factory=Counter)
    stopped: list[str] = field(default_factory=list)
    scoped: Counter[str] = field(default_factory=Counter)           # loop scope -> tests run on it unexplored
    scoped_outcomes: Counter[str] = field(default_factory=Counter)  # their failures and unsupported ones

    @property
    def ran_any(self) -> bool:
        return bool(self.statuses)

    def add(self, report: Any) -> None:
        if report.when != "teardown":
            return
        props = dict(report.user_properties)
        status = props.get("simharness_status")
        if status is None:
            return
        if status == "left-alone":
            self.alone[str(props.get("simharness_detail", ""))] += 1
            return
        if status == "default-order":  # on a shared controlled loop (pytest_scopes)
            self.scoped[str(props.get("simharness_scope", ""))] += 1
            self.scoped_outcomes[str(props.get("simharness_outcome", ""))] += 1
            if props.get("simharness_outcome") == "unsupported":
                self.unsupported[str(props.get("simharness_detail", ""))] += 1
            return
        self.statuses[status] += 1
        if props.get("simharness_mode") == "replay":
            self.statuses["replay"] += 1
        if "simharness_schedules" in props:
            self.schedules[int(props["simharness_schedules"])] += 1
        if status == "unsupported":
            self.unsupported[str(props.get("simharness_detail", ""))] += 1
        if "simharness_stopped" in props:
            self.stopped.append(f"{report.nodeid}: {props['simharness_stopped']}")

    def lines(self, seed: int) -> list[str]:
        out = []
        if self.ran_any:
            tests = sum(self.statuses.values()) - self.statuses["replay"]
            counted = [n for n in self.schedules.elements()]
            plural = "s" * (tests != 1)
            shape = (f"{tests} test{plural} x {counted[0]} schedule{'s' * (counted[0] != 1)}" if counted and len(self.schedules) == 1
                     and len(counted) == tests else f"{tests} test{plural}, {sum(counted)} schedules in all")
            failures = self.statuses["failed"]
            parts = [shape, f"{failures} failure{'s' * (failures != 1)}", f"{self.statuses['unsupported']} unsupported"]
            if self.statuses["replay"]:
                parts.append(f"{self.statuses['replay']} replayed")
            out.append(f"simharness: {', '.join(parts)} (seed {seed}; repeat with --sim-seed last)")
            for api, count in sorted(self.unsupported.items()):
                out.append(f"simharness:   unsupported in simulation: {api} ({count} test{'s' * (count != 1)})")
            for line in self.stopped:
                out.append(f"simharness:   stopped early: {line}")
        if self.scoped:
            total, failed = sum(self.scoped.values()), self.scoped_outcomes["failed"]
            unsupported = self.scoped_outcomes["unsupported"]
            out.append(f"simharness: ran in the default order on a shared controlled loop, not explored (the loop "
                       f"outlives one test): {total} test{'s' * (total != 1)}, {failed} failure{'s' * (failed != 1)}, "
                       f"{unsupported} unsupported")
            for scope, count in sorted(self.scoped.items(), key=lambda kv: (-kv[1], kv[0])):
                out.append(f"simharness:   {count} x on a {scope}-scoped loop")
            if not self.ran_any:
                for api, count in sorted(self.unsupported.items()):
                    out.append(f"simharness:   unsupported in simulation: {api} ({count} test{'s' * (count != 1)})")
        if self.alone:
            total = sum(self.alone.values())
            out.append(f"simharness: left alone (ran as usual, not explored): {total} test{'s' * (total != 1)}")
            for reason, count in sorted(self.alone.items(), key=lambda kv: (-kv[1], kv[0])):
                out.append(f"simharness:   {count} x {reason}")
        return out
