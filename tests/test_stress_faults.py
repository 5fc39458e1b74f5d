"""`simharness stress` against misbehaving scenarios: each fault handled as the issue says.

Every test runs the real command in a subprocess with real worker processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FAULTS = ROOT / "tests" / "fixtures" / "stress" / "faults.py"


def stress(args: list[str], tmp_path: Path, *, env: dict[str, str] | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "simharness", "stress", *args,
                           "--report-dir", str(tmp_path / "reports")],
                          cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=timeout)


def target(name: str) -> str:
    return f"{FAULTS}::{name}"


def log_records(tmp_path: Path) -> list[dict[str, Any]]:
    lines = (tmp_path / "reports" / "stress-log.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def runs_of(tmp_path: Path, scenario: str) -> list[dict[str, Any]]:
    return [r for r in log_records(tmp_path) if r["type"] == "run" and r["scenario"] == scenario]


def summary(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "reports" / "stress-summary.json").read_text())


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def wait_gone(pids: list[int], within_s: float = 5.0) -> list[int]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


@pytest.mark.parametrize("option", [
    ["--concurrency", "0"], ["--concurrency", "1,0"], ["--concurrency", "x"], ["--workers", "0"],
    ["--runs", "0"], ["--runs", "many"], ["--timeout", "0"], ["--timeout", "-3"], ["--timeout", "soon"],
    ["--timeout", "inf"], ["--noise", "1.5"], ["--noise", "-0.1"], ["--backend", "gpu"], ["--loop", "trio"],
    ["--sim-runs", "0"], ["--load", "-1"],
])
def test_bad_option_is_one_line_exit_2_before_anything_starts(option: list[str], tmp_path: Path) -> None:
    result = stress([target("passes"), *option], tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert option[0] in lines[0]
    assert not (tmp_path / "reports").exists()  # nothing started, nothing written


def test_unknown_target_is_exit_2(tmp_path: Path) -> None:
    result = stress([f"{FAULTS}::no-such-scenario"], tmp_path)
    assert result.returncode == 2
    assert "no-such-scenario" in result.stderr and "Traceback" not in result.stderr


def test_hanging_run_is_killed_with_its_process_group_and_reported_as_timeout(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    result = stress([target("spins-forever"), target("passes"), "--backend", "real", "--runs", "2",
                     "--concurrency", "1", "--workers", "2", "--timeout", "2"], tmp_path,
                    env={"STRESS_FIXTURE_PIDS": str(pids)})
    assert result.returncode == 1, result.stderr
    hung = runs_of(tmp_path, "spins-forever")
    assert [r["outcome"] for r in hung] == ["timeout", "timeout"]
    assert "process group killed" in hung[0]["message"]
    children = [int(p) for p in pids.read_text().split()]
    assert len(children) == 2
    assert wait_gone(children) == []  # the child in the worker's group died with it
    # The hang did not stop the sibling scenario.
    assert [r["outcome"] for r in runs_of(tmp_path, "passes")] == ["pass", "pass"]
    verdicts = {v["scenario"]: v for v in summary(tmp_path)["verdicts"]}
    assert verdicts["passes"]["ok"] and not verdicts["spins-forever"]["ok"]


def test_await_that_never_returns_is_a_timeout_from_the_worker_itself(tmp_path: Path) -> None:
    result = stress([target("awaits-forever"), "--backend", "real", "--runs", "1", "--concurrency", "2",
                     "--timeout", "3"], tmp_path)
    assert result.returncode == 1
    (run,) = runs_of(tmp_path, "awaits-forever")
    assert run["kind"] == "timeout"
    assert "2 of 2 copies still running" in run["message"] and "faults.py" in run["message"]


def test_crashing_workers_are_reported_and_the_others_finish(tmp_path: Path) -> None:
    result = stress([target("exits-hard"), target("kills-itself"), target("segfaults"), target("raises-error"),
                     target("passes"), "--backend", "real", "--runs", "2", "--concurrency", "1,2",
                     "--workers", "2", "--timeout", "20"], tmp_path)
    assert result.returncode == 1, result.stderr
    expected = {"exits-hard": "exit status 7", "kills-itself": "killed by SIGKILL", "segfaults": "killed by SIGSEGV"}
    for scenario, how in expected.items():
        runs = runs_of(tmp_path, scenario)
        assert len(runs) == 4  # every planned run is accounted for, each crash on its own
        assert {r["kind"] for r in runs} == {"crash"}
        assert all(how in r["message"] for r in runs)
    assert all("about to os._exit" in r["output_tail"] for r in runs_of(tmp_path, "exits-hard"))
    assert all("Segmentation fault" in r["output_tail"] for r in runs_of(tmp_path, "segfaults"))
    raised = runs_of(tmp_path, "raises-error")
    assert {r["kind"] for r in raised} == {"exception"}
    assert "ValueError: scenario blew up" in raised[0]["message"]
    assert [r["outcome"] for r in runs_of(tmp_path, "passes")] == ["pass"] * 4
    document = summary(tmp_path)
    assert document["complete"] and not document["ok"] and document["errors"] == []
    table = {r["scenario"]: r for r in document["results"]}
    assert table["segfaults"]["outcomes"][0]["outcome"] == "crash"
    assert table["segfaults"]["outcomes"][0]["grade"] == "unexpected"


def test_leaked_child_process_is_reported_as_leak_and_killed(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    result = stress([target("leaks-child"), target("leaks-socket"), target("leaks-thread"), "--backend", "real",
                     "--runs", "2", "--concurrency", "1", "--workers", "1"], tmp_path,
                    env={"STRESS_FIXTURE_PIDS": str(pids)})
    assert result.returncode == 1
    child = runs_of(tmp_path, "leaks-child")
    assert {r["kind"] for r in child} == {"leak"}
    assert "sleep 300" in child[0]["message"]
    leaked = [int(p) for p in pids.read_text().split()]
    assert len(leaked) == 2 and wait_gone(leaked) == []  # it escaped to its own session, still killed
    socket_runs = runs_of(tmp_path, "leaks-socket")
    assert {r["kind"] for r in socket_runs} == {"leak"}
    assert "socket:[" in socket_runs[0]["message"]
    thread_runs = runs_of(tmp_path, "leaks-thread")
    assert {r["kind"] for r in thread_runs} == {"leak"} and "thread" in thread_runs[0]["message"]


@pytest.mark.slow  # long (real watchdogs or many worker processes): opt-in, -m slow
def test_blocked_loop_is_reported_within_bounded_time_on_both_loops(tmp_path: Path) -> None:
    result = stress([target("sync-lock"), "--runs", "2", "--concurrency", "1,2", "--timeout", "30",
                     "--sim-runs", "10"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    buggy = [r for r in runs_of(tmp_path, "sync-lock") if r["variant"] == "buggy"]
    assert {r["kind"] for r in buggy} == {"blocked-loop"}
    assert "faults.py" in buggy[0]["message"] and "with self.lock" in buggy[0]["message"]
    assert "event loop blocked by a synchronous lock" in buggy[0]["message"]
    uv = stress([target("sync-lock"), "--backend", "real", "--loop", "uvloop", "--runs", "1",
                 "--concurrency", "2", "--timeout", "30"], tmp_path)
    assert uv.returncode == 0, uv.stdout + uv.stderr
    assert {r["kind"] for r in runs_of(tmp_path, "sync-lock") if r["variant"] == "buggy"} == {"blocked-loop"}


def test_ctrl_c_keeps_every_finished_run_and_a_valid_summary(tmp_path: Path) -> None:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "simharness", "stress", target("slow"), "--backend", "real", "--runs", "400",
         "--concurrency", "1", "--workers", "2", "--report-dir", str(tmp_path / "reports")],
        cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "reports" / "stress-log.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if log.exists() and log.read_text().count('"type": "run"') >= 4:
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]  # every line is whole
    runs = [r for r in records if r["type"] == "run"]
    assert 4 <= len(runs) < 400
    assert records[-1]["type"] == "end" and records[-1]["interrupted"] is True
    document = summary(tmp_path)
    assert document["interrupted"] is True and document["ok"] is False
    (real,) = document["results"]
    assert real["runs"] == len(runs)  # the summary counts exactly what the log holds
    workers = {r["worker_pid"] for r in runs}
    assert wait_gone(sorted(workers)) == []  # no worker outlives the stress run
    assert "interrupted" in stdout
