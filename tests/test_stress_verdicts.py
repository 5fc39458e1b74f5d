"""`simharness stress` verdicts and reports: the rule of issue 7 and the contract's JSON."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from simharness.errors import ConfigError
from simharness.stress.options import QUICK, StressOptions, parse_concurrency
from simharness.stress.results import grade, normalise

ROOT = Path(__file__).resolve().parent.parent
RACE = ROOT / "tests" / "fixtures" / "cli" / "race.py"
VERDICTS = ROOT / "tests" / "fixtures" / "stress" / "verdicts.py"


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "simharness", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def stressed(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    where = tmp_path_factory.mktemp("verdicts")
    result = run(["stress", f"{RACE}::lost-update", str(VERDICTS), "--runs", "3", "--concurrency", "1,4",
                  "--sim-runs", "30", "--timed-runs", "3", "--workers", "2", "--json", "--report-dir", "out"], where)
    return result, where


def by_key(document: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["scenario"], r["variant"], r["backend"]): r for r in document["results"]}


def test_json_document_is_the_contract_summary(stressed: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, where = stressed
    assert result.returncode == 1  # the unobserved real-only variant is not a pass
    document = json.loads(result.stdout)  # stdout holds exactly one JSON document
    assert document == json.loads((where / "out" / "stress-summary.json").read_text())
    assert document["ok"] is False and document["complete"] is True
    for entry in document["results"]:
        assert {"scenario", "variant", "backend", "expect", "runs", "failures", "ok"} <= set(entry)
    results = by_key(document)
    assert set(results) == {
        ("lost-update", "buggy", "sim"), ("lost-update", "buggy", "real"),
        ("lost-update", "fixed", "sim"), ("lost-update", "fixed", "real"),
        ("lost-update", "buggy", "timed"), ("lost-update", "fixed", "timed"),
        ("real-only-race", "observed", "real"), ("real-only-race", "unobserved", "real"),
    }
    fixed_real = results[("lost-update", "fixed", "real")]
    assert fixed_real["runs"] == 6 and fixed_real["failures"] == 0 and fixed_real["ok"]
    assert [lv["concurrency"] for lv in fixed_real["levels"]] == [1, 4]
    first, second = fixed_real["levels"]
    assert first["speedup"] == 1.0 and first["efficiency"] == 1.0
    assert second["speedup"] > 0 and second["efficiency"] == pytest.approx(second["speedup"] / 4, abs=0.01)
    assert fixed_real["outcomes"] == [{"outcome": "pass", "message": "", "count": 6, "frequency": 1.0,
                                       "grade": "expected", "expected": True}]


def test_buggy_variant_is_judged_by_simulation_and_its_real_rate_reported_honestly(
        stressed: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, where = stressed
    document = json.loads(result.stdout)
    verdicts = {(v["scenario"], v["variant"]): v for v in document["verdicts"]}
    buggy = verdicts[("lost-update", "buggy")]
    assert buggy["ok"] and buggy["verdict"] == "caught"
    real = by_key(document)[("lost-update", "buggy", "real")]
    # Stock asyncio is FIFO-deterministic here: the race needs a slow checkpoint, so the
    # real rate is what it is (reported, and not held against the verdict).
    assert real["ok"] is True and "informational" in real["note"]
    assert real["failure_rate"] == real["failures"] / real["runs"]
    sim = by_key(document)[("lost-update", "buggy", "sim")]
    assert sim["found"]["kind"] == "assertion"
    replay = run(shlex.split(sim["found"]["replay"])[1:], where)
    assert replay.returncode == 1 and "lost update" in replay.stdout


def test_real_only_buggy_variant_must_be_observed(stressed: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, _ = stressed
    verdicts = {(v["scenario"], v["variant"]): v for v in json.loads(result.stdout)["verdicts"]}
    observed = verdicts[("real-only-race", "observed")]
    assert observed["ok"] and observed["verdict"] == "caught"
    unobserved = verdicts[("real-only-race", "unobserved")]
    assert not unobserved["ok"] and unobserved["verdict"] == "not-observed"
    assert "observed no failure in 6 runs" in unobserved["reason"]


def test_fixed_variant_runs_under_the_timing_that_broke_the_buggy_one(
        stressed: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, where = stressed
    document = json.loads(result.stdout)
    results = by_key(document)
    buggy, fixed = results[("lost-update", "buggy", "timed")], results[("lost-update", "fixed", "timed")]
    # The found failure as durations: the "read" checkpoint of the slow adder takes long.
    assert "'read' #1" in buggy["note"] and buggy["note"] == fixed["note"]
    assert buggy["runs"] == 3 and buggy["failures"] >= 1  # plain asyncio shows the bug under its timing
    assert fixed["runs"] == 3 and fixed["failures"] == 0 and fixed["ok"]
    verdicts = {(v["scenario"], v["variant"]): v for v in document["verdicts"]}
    assert "under the found timing" in verdicts[("lost-update", "buggy")]["reason"]
    assert "3 real under the found timing" in verdicts[("lost-update", "fixed")]["reason"]
    records = [json.loads(line) for line in (where / "out" / "stress-log.jsonl").read_text().splitlines()]
    timed = [r for r in records if r["type"] == "run" and r["backend"] == "timed"]
    assert len(timed) == 6 and {r["variant"] for r in timed} == {"buggy", "fixed"}
    assert {r["from_variant"] for r in records if r["type"] == "timing"} == {"buggy"}


def test_junit_has_one_case_per_variant(stressed: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, where = stressed
    suite = ET.parse(where / "out" / "stress-junit.xml").getroot()
    cases = {(c.get("classname"), c.get("name")): c for c in suite.iter("testcase")}
    assert set(cases) == {("lost-update", "buggy"), ("lost-update", "fixed"),
                          ("real-only-race", "observed"), ("real-only-race", "unobserved")}
    assert suite.get("tests") == "4" and suite.get("failures") == "1"
    assert cases[("real-only-race", "unobserved")].find("failure") is not None
    assert "replay: simharness replay" in (cases[("lost-update", "buggy")].findtext("system-out") or "")


def test_log_holds_every_run_with_its_seed(stressed: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, where = stressed
    records = [json.loads(line) for line in (where / "out" / "stress-log.jsonl").read_text().splitlines()]
    assert records[0]["type"] == "start" and records[-1]["type"] == "end"
    runs = [r for r in records if r["type"] == "run" and r["backend"] == "real"]
    assert len(runs) == 4 * 6
    assert all(isinstance(r["seed"], int) and "output_tail" in r for r in runs)
    assert len({(r["scenario"], r["variant"], r["concurrency"], r["index"]) for r in runs}) == len(runs)
    explorations = [r for r in records if r["type"] == "exploration"]
    assert {(r["variant"], r["found"] is not None) for r in explorations} == {("buggy", True), ("fixed", False)}


def test_messages_are_normalised_for_the_outcome_table() -> None:
    first = normalise("process 1234 still running: /tmp/simharness-stress-ab12/runs/3-1/x at 0x7f00aa")
    second = normalise("process 98 still running: /tmp/simharness-stress-zz/runs/9-4/x at 0x7f1234")
    assert first == second
    assert normalise("connect to 127.0.0.1:43121 refused") == "connect to 127.0.0.1:PORT refused"
    assert normalise("value is 1, expected 2") != normalise("value is 0, expected 2")


def test_grades_follow_expect() -> None:
    assert grade("pass", "pass", None) == "expected"
    assert grade("assertion", "pass", None) == "unexpected"
    assert grade("pass", "fail", frozenset({"assertion"})) == "acceptable"
    assert grade("assertion", "fail", frozenset({"assertion"})) == "expected"
    assert grade("crash", "fail", frozenset({"assertion"})) == "unexpected"
    assert grade("crash", "fail", None) == "expected"


def test_options_are_validated_in_the_api_too() -> None:
    assert parse_concurrency("1, 4,16,4") == (1, 4, 16)
    with pytest.raises(ConfigError):
        StressOptions(timeout_s=float("nan"))
    with pytest.raises(ConfigError):
        StressOptions(concurrency=())
    assert QUICK.runs < StressOptions().runs
