"""`simharness reproduce` on scenarios: failures recorded on the stock runtime, reproduced as schedules.

The recorded failures are real: a catalogue scenario run with plain `asyncio.run` in a
subprocess (its traceback on stderr), and `simharness stress --backend real` (its run
log). Nothing is compared with a pinned schedule: each reproduction is checked by
replaying the schedule it printed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RACE = "tests/fixtures/cli/race.py::lost-update"
INVENTORY = "tests/fixtures/reproduce/inventory.py::oversold"
STOCK_RUN = ("import asyncio, sys\nfrom simharness.discovery import resolve_one\n"
             "scenario = resolve_one(sys.argv[1])\nasyncio.run(scenario.coroutine(sys.argv[2]))\n")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "simharness", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})})


def _stock_traceback(tmp_path: Path, target: str, variant: str, env: dict[str, str] | None = None) -> Path:
    """Run the scenario once on plain asyncio (the stock runtime); its traceback, as CI would keep it."""
    done = subprocess.run([sys.executable, "-c", STOCK_RUN, target, variant], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})
    assert done.returncode == 1 and "Traceback" in done.stderr, done.stderr
    path = tmp_path / "ci-log.txt"
    path.write_text(f"$ run {target}\n{done.stderr}")
    return path


def _line(output: str, key: str) -> str:
    match = re.search(rf"^{key}: (.*)$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "failures.db"


def test_a_catalogue_race_recorded_by_stress_is_reproduced(tmp_path: Path, store: Path) -> None:
    # shared-file-lost-update passes in the default order: on the stock loop it fails only
    # when an edit is slow, which checkpoint noise makes happen for real.
    reports = tmp_path / "stress"
    stressed = _cli("stress", "shared-file-lost-update", "--backend", "real", "--runs", "20", "--noise", "1",
                    "--concurrency", "1", "--report-dir", str(reports))
    assert stressed.returncode in (0, 1), stressed.stderr
    log = reports / "stress-log.jsonl"
    done = _cli("reproduce", "shared-file-lost-update", "--failure", str(log), "--store", str(store), "--runs", "200")
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"^shared-file-lost-update \[buggy\]: reproduced after \d+ schedule", done.stdout, re.MULTILINE)
    replay = shlex.split(_line(done.stdout, "replay"))
    assert replay[:2] == ["simharness", "replay"]
    replayed = _cli(*replay[1:])
    assert replayed.returncode == 1
    assert "lost update on package.json" in _line(replayed.stdout, "message")
    assert _line(replayed.stdout, "trace-hash") == _line(done.stdout, "trace-hash")
    # The failure store holds it: the next explore replays it before exploring.
    explored = _cli("explore", "shared-file-lost-update", "--variant", "buggy", "--store", str(store), "--json")
    assert json.loads(explored.stdout)["results"][0]["stored_replays"] >= 1


def test_a_stress_run_log_names_the_test_and_counts_the_real_failures(tmp_path: Path, store: Path) -> None:
    reports = tmp_path / "stress"
    # Checkpoint noise on the stock loop makes the lost update happen for real.
    stressed = _cli("stress", RACE, "--backend", "real", "--runs", "20", "--noise", "0.5",
                    "--report-dir", str(reports))
    assert stressed.returncode in (0, 1), stressed.stderr
    log = reports / "stress-log.jsonl"
    failed = [entry for entry in map(json.loads, log.read_text().splitlines())
              if entry.get("type") == "run" and entry.get("kind") == "assertion"]
    assert any(entry["backend"] == "real" for entry in failed)
    assert all("Traceback (most recent call last)" in entry["traceback"] for entry in failed)
    done = _cli("reproduce", "--failure", str(log), "--store", str(store), "--json")  # TARGET from the log
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    assert document["recorded"]["seen"] == len(failed) and document["recorded"]["source"] == "stress log"
    (result,) = document["results"]
    assert result["reproduced"] and result["kind"] == "assertion"
    replayed = _cli(*shlex.split(result["replay"])[1:], "--json")
    assert json.loads(replayed.stdout)["message"] == result["message"]


def test_a_different_failure_is_not_mistaken_for_the_recorded_one(tmp_path: Path, store: Path) -> None:
    # CI failed because the warehouse was down; exploring finds the oversell race instead.
    log = _stock_traceback(tmp_path, INVENTORY, "default", env={"WAREHOUSE": "down"})
    done = _cli("reproduce", INVENTORY, "--failure", str(log), "--store", str(store), "--runs", "30", "--json")
    assert done.returncode == 1, done.stderr  # failures were found, though not the recorded one
    (result,) = json.loads(done.stdout)["results"]
    assert not result["reproduced"] and result["runs"] == 30 and result["schedule"] is None
    closest = result["closest"][0]
    assert closest["kind"] == "assertion" and "oversold" in closest["message"]
    assert any("not ConnectionError" in d for d in closest["differences"])
    assert not store.exists()  # nothing was reproduced, so nothing is remembered
    people = _cli("reproduce", INVENTORY, "--failure", str(log), "--no-store", "--runs", "30")
    assert "not reproduced in 30 schedule(s)" in people.stdout
    assert "closest failures (not the recorded one):" in people.stdout


def _bad(*args: str) -> str:
    done = _cli("reproduce", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    nothing = tmp_path / "green.txt"
    nothing.write_text("all 120 tests passed\n")
    assert "holds no traceback" in _bad(RACE, "--failure", str(nothing))
    green = tmp_path / "junit.xml"
    green.write_text('<testsuites><testsuite><testcase classname="tests.test_x" name="test_y"/></testsuite>'
                     "</testsuites>")
    assert "JUnit file with no failed test" in _bad(RACE, "--failure", str(green))
    other = _stock_traceback(tmp_path, INVENTORY, "default", env={"WAREHOUSE": "down"})
    assert "from another test" in _bad(RACE, "--failure", str(other))
    assert "no scenario named 'no-such-race'" in _bad("no-such-race", "--failure", str(other))
    assert "--runs must be from 1" in _bad(RACE, "--failure", str(other), "--runs", "0")
    assert "--runs must be from 1" in _bad(RACE, "--failure", str(other), "--runs", "10000000")
    assert "--strategy must be one of portfolio, pct, random" in _bad(RACE, "--failure", str(other), "--strategy", "dfs")
    assert "--failure FILE is required" in _bad(RACE)
    assert "cannot read the failure file" in _bad(RACE, "--failure", str(tmp_path / "missing.txt"))
    assert "does not say which test failed" in _bad("--failure", str(other))


def test_a_hang_on_the_stock_runtime_is_reproduced_as_a_deadlock(tmp_path: Path) -> None:
    reports = tmp_path / "stress"
    stressed = _cli("stress", "semaphore-zero", "--backend", "real", "--runs", "1", "--concurrency", "1",
                    "--timeout", "3", "--report-dir", str(reports))
    assert stressed.returncode in (0, 1), stressed.stderr
    done = _cli("reproduce", "--failure", str(reports / "stress-log.jsonl"), "--no-store", "--json")
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    assert document["recorded"]["kind"] == "timeout" and "still running" in document["recorded"]["message"]
    (result,) = document["results"]
    assert result["reproduced"] and result["kind"] == "deadlock"
