"""Issue 17: explore on worker processes, counting outcomes, shards and merge, a Dask cluster.

The fixture scenarios (tests/fixtures/scaling/races.py) are tiny: `rare-order` first
fails at run 28 of seed 0 (random), `crash-sometimes` kills its process on some
schedules. Every comparison is between real runs: the in-process explorer, worker
processes, shards merged, and a real `dask scheduler` with two `dask worker`s.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import simharness as sh
from simharness.discovery import load_file

FIXTURE = Path(__file__).parent / "fixtures" / "scaling" / "races.py"
RARE = f"{FIXTURE}::rare-order"
CRASH = f"{FIXTURE}::crash-sometimes"
ENV_MARK = "SIMHARNESS_SCALING_TEST"


def cli(*args: str, cwd: Path, mark: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIMHARNESS_STORE": "off", ENV_MARK: mark or uuid.uuid4().hex}
    return subprocess.run([sys.executable, "-m", "simharness", *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=timeout)


def explore_json(*args: str, cwd: Path) -> dict[str, Any]:
    done = cli("explore", *args, "--json", cwd=cwd)
    assert done.returncode in (0, 1), done.stderr
    result: dict[str, Any] = json.loads(done.stdout)["results"][0]
    return result


def answer(result: dict[str, Any]) -> tuple[Any, ...]:
    """What must not depend on how the schedules were run."""
    failure = result["failure"] or {}
    return (result["runs"], failure.get("run_index"), failure.get("schedule"), failure.get("trace_hash"),
            failure.get("original_schedule"), result["outcomes"])


def marked_processes(mark: str) -> list[int]:
    """Live processes started with our environment mark (the tool and anything it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if f"{ENV_MARK}={mark}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                status = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if status != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_schedule_i_is_the_same_alone_and_inside_an_exploration() -> None:
    scenario = {s.name: s for s in load_file(FIXTURE)}["rare-order"]
    for strategy in ("random", "pct"):
        [explored] = sh.explore(scenario, options=sh.ExploreOptions(strategy=strategy, runs=40, shrink=False),
                                store=None)
        assert explored.failure is not None
        alone = sh.run_schedule(scenario, "default", explored.failure.run_index, strategy=strategy)
        assert alone.failed and alone.schedule.encode() == explored.failure.schedule
        assert alone.trace_hash == explored.failure.trace_hash


def test_python_api_counts_every_outcome() -> None:
    scenario = {s.name: s for s in load_file(FIXTURE)}["rare-order"]
    [counted] = sh.explore(scenario, options=sh.ExploreOptions(strategy="random", runs=60), store=None,
                           stop_at_first=False)
    assert counted.runs == 60 and sum(row.count for row in counted.outcomes) == 60
    assert {row.outcome for row in counted.outcomes} == {"pass", "fail"}
    fail = next(row for row in counted.outcomes if row.outcome == "fail")
    assert counted.failure is not None and fail.first_run == counted.failure.run_index == 28


def test_dfs_counts_outcomes_in_this_process() -> None:
    scenario = {s.name: s for s in load_file(FIXTURE)}["rare-order"]
    [counted] = sh.explore(scenario, options=sh.ExploreOptions(strategy="dfs", runs=10_000), store=None,
                           stop_at_first=False)
    assert counted.exhausted and counted.campaign is None
    assert sum(row.count for row in counted.outcomes) == counted.runs > 1
    assert {row.outcome for row in counted.outcomes} == {"pass", "fail"}


def test_same_failure_with_1_worker_2_workers_and_2_shards_merged(tmp_path: Path) -> None:
    common = (RARE, "--strategy", "random", "--runs", "60")
    here = explore_json(*common, cwd=tmp_path)
    assert here["failure"]["run_index"] == 28 and here["outcomes"][-1]["count"] == 1
    for workers in ("1", "2"):
        assert answer(explore_json(*common, "--workers", workers, cwd=tmp_path)) == answer(here)
    for shard in ("1/2", "2/2"):
        done = cli("explore", *common, "--shard", shard, "--json", cwd=tmp_path)
        (tmp_path / f"shard{shard[0]}.json").write_text(done.stdout)
    merged = cli("merge", "shard1.json", "shard2.json", "--json", cwd=tmp_path)
    assert merged.returncode == 1, merged.stderr
    assert answer(json.loads(merged.stdout)["results"][0]) == answer(here)
    text = cli("merge", "shard2.json", "shard1.json", cwd=tmp_path)
    assert "FAILED at run 28 of 60" in text.stdout and here["failure"]["trace_hash"] in text.stdout


@pytest.mark.slow  # long (real watchdogs or many worker processes): opt-in, -m slow
def test_counting_mode_adds_up_and_does_not_depend_on_workers_or_shards(tmp_path: Path) -> None:
    common = (RARE, "--strategy", "pct", "--runs", "50", "--count-outcomes")
    here = explore_json(*common, cwd=tmp_path)
    assert sum(row["count"] for row in here["outcomes"]) == here["runs"] == 50
    assert answer(explore_json(*common, "--workers", "2", cwd=tmp_path)) == answer(here)
    paths = []
    for k in (1, 2, 3):
        done = cli("explore", *common, "--shard", f"{k}/3", "--workers", "2", "--json", cwd=tmp_path)
        paths.append(tmp_path / f"s{k}.json")
        paths[-1].write_text(done.stdout)
    merged = json.loads(cli("merge", *map(str, paths), "--json", cwd=tmp_path).stdout)["results"][0]
    assert answer(merged) == answer(here)
    table = cli("explore", *common, cwd=tmp_path).stdout
    assert "outcomes of 50 runs" in table and "first schedule: s1" in table


@pytest.mark.slow  # long (real watchdogs or many worker processes): opt-in, -m slow
def test_a_crashing_schedule_is_a_crash_outcome_not_the_end_of_the_tool(tmp_path: Path) -> None:
    counted = [explore_json(CRASH, "--strategy", "random", "--runs", "30", "--count-outcomes", "--workers", w,
                            cwd=tmp_path) for w in ("1", "2")]
    assert answer(counted[0]) == answer(counted[1])
    crash = next(row for row in counted[0]["outcomes"] if row["outcome"] == "crash")
    assert crash["kind"] == "crash" and "exited with code 3" in crash["first_message"]
    assert crash["first_schedule"].startswith("s1") and sum(r["count"] for r in counted[0]["outcomes"]) == 30
    # The first schedule of seed 4 that kills its process is reported as the failure, with
    # exit code 1 (not the scenario's 3), at the same run index the count found it.
    census = explore_json(CRASH, "--strategy", "random", "--seed", "4", "--runs", "20", "--count-outcomes",
                          "--workers", "1", cwd=tmp_path)
    first_crash = next(row for row in census["outcomes"] if row["outcome"] == "crash")["first_run"]
    done = cli("explore", CRASH, "--strategy", "random", "--seed", "4", "--runs", "20", "--workers", "2",
               cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "kind: crash" in done.stdout and f"run-index: {first_crash}" in done.stdout


@pytest.mark.parametrize("args, message", [
    (("--workers", "0"), "--workers must be at least 1"),
    (("--workers", "-1"), "--workers must be at least 1"),
    (("--workers", "abc"), "--workers must be a number"),
    (("--shard", "3/2"), "K must be between 1 and N"),
    (("--shard", "0/0"), "N must be between 1"),
    (("--shard", "half"), "--shard must look like K/N"),
    (("--shard", "1/99"), "more shards than runs"),
    (("--strategy", "dfs", "--workers", "2"), "runs in one process"),
])
def test_bad_scaling_options_are_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    done = cli("explore", RARE, "--runs", "10", *args, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("error:") and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""


@pytest.mark.slow  # long (real watchdogs or many worker processes): opt-in, -m slow
def test_too_many_workers_are_capped_with_a_note(tmp_path: Path) -> None:
    done = cli("explore", RARE, "--strategy", "random", "--runs", "30", "--workers", "100000", cwd=tmp_path)
    assert done.returncode == 1 and "--workers 100000 capped to" in done.stderr


def test_unreachable_cluster_is_a_one_line_error_within_seconds(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    started = time.monotonic()
    done = cli("explore", RARE, "--runs", "10", "--cluster", f"tcp://127.0.0.1:{port}", cwd=tmp_path)
    assert done.returncode == 2 and "cannot reach a Dask scheduler" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert time.monotonic() - started < 30  # a bound against hangs; the timeout itself is 3 s


@pytest.mark.slow  # long (real watchdogs or many worker processes): opt-in, -m slow
def test_merge_refuses_shards_of_different_explorations(tmp_path: Path) -> None:
    for name, seed, shard in (("a", "0", "1/2"), ("b", "1", "2/2"), ("c", "0", "2/2")):
        done = cli("explore", RARE, "--strategy", "random", "--runs", "20", "--seed", seed, "--shard", shard,
                   "--json", cwd=tmp_path)
        (tmp_path / f"{name}.json").write_text(done.stdout)
    (tmp_path / "junk.json").write_text("{not json")
    for files, message in ((("a.json", "b.json"), "different explorations"), (("a.json",), "is missing"),
                           (("a.json", "a.json", "c.json"), "given twice"), (("junk.json",), "not a JSON"),
                           (("nowhere.json",), "not found")):
        done = cli("merge", *files, cwd=tmp_path)
        assert done.returncode == 2 and message in done.stderr, (files, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1


def test_ctrl_c_stops_every_worker_and_keeps_what_finished(tmp_path: Path) -> None:
    mark = uuid.uuid4().hex
    env = {**os.environ, "SIMHARNESS_STORE": "off", ENV_MARK: mark}
    tool = subprocess.Popen([sys.executable, "-m", "simharness", "explore", RARE, "--strategy", "random",
                             "--runs", "1000000", "--count-outcomes", "--workers", "2"], cwd=tmp_path, env=env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while len(marked_processes(mark)) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        tool.send_signal(signal.SIGINT)
        out, err = tool.communicate(timeout=60)
    finally:
        tool.kill()
    assert tool.returncode == 130, err
    assert "outcomes of" in out and "interrupted" in err
    time.sleep(0.5)
    assert marked_processes(mark) == []


@pytest.fixture()
def dask_cluster(tmp_path: Path) -> Iterator[str]:
    """A real `dask scheduler` and two `dask worker` processes on 127.0.0.1."""
    pytest.importorskip("distributed")
    # The `dask` command of this interpreter's environment (a venv's bin/ need not be on PATH).
    beside = Path(sys.executable).parent / "dask"
    dask = str(beside) if beside.exists() else shutil.which("dask")
    assert dask, "distributed is installed but its `dask` command is not found"
    scheduler_file = tmp_path / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    logs = open(tmp_path / "dask.log", "w")
    processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                   "--no-dashboard", "--scheduler-file", str(scheduler_file)],
                                  stdout=logs, stderr=logs, env=env, start_new_session=True)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        for _ in range(2):
            processes.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--nworkers", "1",
                                               "--host", "127.0.0.1", "--no-dashboard"],
                                              stdout=logs, stderr=logs, env=env, start_new_session=True))
        from distributed import Client
        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(10)
        logs.close()


def test_a_two_worker_dask_cluster_gives_the_local_answer(tmp_path: Path, dask_cluster: str) -> None:
    common = (RARE, "--strategy", "random", "--runs", "60")
    here = explore_json(*common, cwd=tmp_path)
    assert answer(explore_json(*common, "--cluster", dask_cluster, cwd=tmp_path)) == answer(here)
    counted = ("--count-outcomes", "--runs", "40")
    assert answer(explore_json(CRASH, "--strategy", "random", *counted, "--cluster", dask_cluster, cwd=tmp_path)) \
        == answer(explore_json(CRASH, "--strategy", "random", *counted, "--workers", "2", cwd=tmp_path))



def test_cluster_workers_that_cannot_load_the_scenario_stop_it_with_one_line(dask_cluster: str) -> None:
    from dataclasses import replace

    from simharness.explore.campaign import run_campaign
    from simharness.explore.cluster_driver import ClusterExecutor
    from simharness.explore.schedules import make_spec

    scenario = {s.name: s for s in load_file(FIXTURE)}["rare-order"]
    spec = make_spec(scenario, "default", strategy="random", seed=0, depth=3, settings=sh.RunSettings())
    executor = ClusterExecutor.connect(dask_cluster)
    try:
        for bad, message in ((replace(spec, source_sha256="0" * 64), "differs from the explorer's copy"),
                             (replace(spec, source_file="/nonexistent/races.py"), "cannot read")):
            with pytest.raises(sh.SimharnessError, match=message) as raised:
                run_campaign(bad, executor, runs=5)
            assert "cannot load the scenario" in str(raised.value) and "\n" not in str(raised.value)
            executor = ClusterExecutor.connect(dask_cluster)  # an error closes the executor
    finally:
        executor.close()
