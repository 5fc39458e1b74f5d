"""The command line as users run it: `python -m simharness` in a subprocess.

Covers list, explore and replay output, exit codes 0 and 1, the replay line that
explore prints (run exactly as printed), and the --json documents.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cli_helpers import FIXTURES, RACE, ROOT, field, run_cli
from simharness.engine.schedule import Schedule, scope_of
from simharness.explore.serialize import replay_command, to_jsonable

LOST = f"{RACE}::lost-update"


def run_printed(line: str, cwd: Path | str | None = None):
    """Run a printed `simharness ...` command line exactly as printed (shell words)."""
    words = shlex.split(line)
    assert words[0] == "simharness"
    return run_cli(*words[1:], **({"cwd": cwd} if cwd else {}))


@pytest.fixture(scope="module")
def buggy_finding() -> str:
    """stdout of exploring the buggy variant (found at a fixed run index)."""
    done = run_cli("explore", LOST, "--variant", "buggy", "--runs", "200", "--seed", "0")
    assert done.code == 1, done.err
    return done.out


def test_help_works_everywhere() -> None:
    helps = {}
    for args in ([], ["list"], ["explore"], ["replay"]):
        done = run_cli(*args, "-h")
        assert done.code == 0, (args, done.err)
        assert "Usage:" in done.out
        helps[tuple(args)] = done.out
    assert "--schedule" in helps[("replay",)]
    assert "--no-shrink" in helps[("explore",)] and "--bound" in helps[("explore",)]


def test_list_shows_names_variants_expectations_and_file() -> None:
    done = run_cli("list", RACE)
    assert done.code == 0, done.err
    assert "lost-update  tests/fixtures/cli/race.py:" in done.out
    assert "variants: buggy (expect fail), fixed (expect pass)" in done.out
    assert "Two tasks add one each" in done.out
    assert "backends: real" in done.out


def test_list_json_and_name_lookup_in_scenarios_dir() -> None:
    done = run_cli("list", "lost-update", "--scenarios-dir", str(FIXTURES), "--json")
    assert done.code == 0, done.err
    document = json.loads(done.out)
    [entry] = document["scenarios"]
    assert entry["name"] == "lost-update"
    assert entry["expect"] == {"buggy": "fail", "fixed": "pass"}
    assert entry["file"].endswith("race.py")


def test_explore_failure_prints_finding_and_exits_1(buggy_finding: str) -> None:
    out = buggy_finding
    assert field(out, "kind") == "assertion"
    assert "lost update: value is 1, expected 2" in field(out, "message")
    assert int(field(out, "run-index")) >= 1
    schedule = field(out, "schedule").split()[0]
    Schedule.decode(schedule).check_scope("lost-update", "buggy")
    assert field(out, "replay") == f"simharness replay {LOST} --variant buggy --schedule {schedule}"
    assert len(field(out, "trace-hash")) == 16
    # The short explanation: the departure that made the difference, next to FIFO.
    assert "departed from the default order; the default (FIFO) order passes" in out
    assert 'held back "checkpoint:Task-2' in out
    assert "FIFO run #" in out


def test_printed_replay_line_reproduces_the_trace_hash(buggy_finding: str) -> None:
    replayed = run_printed(field(buggy_finding, "replay"))
    assert replayed.code == 1, replayed.err
    assert field(replayed.out, "kind") == "assertion"
    assert field(replayed.out, "trace-hash") == field(buggy_finding, "trace-hash")


def test_same_command_finds_the_same_first_failure(buggy_finding: str) -> None:
    again = run_cli("explore", LOST, "--variant", "buggy", "--runs", "200", "--seed", "0")
    for name in ("run-index", "schedule", "trace-hash"):
        assert field(again.out, name) == field(buggy_finding, name)


def test_explore_all_variants_of_file_target_names_each_scenario_in_replay_lines() -> None:
    done = run_cli("explore", RACE, "--runs", "50")
    assert done.code == 1
    assert "lost-update [fixed] passed all 50 runs" in done.out
    assert "always-passes [default] passed all 50 runs" in done.out
    assert f"replay: simharness replay {RACE}::raises-itself --variant default --schedule " in done.out
    assert "skipping real-only" in done.err


def test_passing_variant_exits_0_and_dfs_reports_exhaustion() -> None:
    passed = run_cli("explore", LOST, "--variant", "fixed", "--runs", "30")
    assert passed.code == 0, passed.err
    assert "lost-update [fixed] passed all 30 runs" in passed.out
    assert passed.err == ""  # stderr is not a terminal here: no progress bar
    exhausted = run_cli("explore", f"{RACE}::always-passes", "--strategy", "dfs", "--runs", "30")
    assert exhausted.code == 0, exhausted.err
    assert "exhausted: all 1 schedules" in exhausted.out


def test_scenario_that_raises_is_a_finding_not_a_tool_error() -> None:
    done = run_cli("explore", f"{RACE}::raises-itself", "--runs", "5")
    assert done.code == 1
    assert field(done.out, "kind") == "exception"
    assert "RuntimeError: scenario blew up" in field(done.out, "message")
    replayed = run_printed(field(done.out, "replay"))
    assert replayed.code == 1
    assert field(replayed.out, "trace-hash") == field(done.out, "trace-hash")


def test_name_target_replay_line_runs_in_the_same_folder(tmp_path: Path) -> None:
    (tmp_path / "scenarios").mkdir()
    shutil.copy(RACE, tmp_path / "scenarios" / "race.py")
    done = run_cli("explore", "lost-update", "--variant", "buggy", "--strategy", "random", cwd=tmp_path)
    assert done.code == 1, done.err
    line = field(done.out, "replay")
    assert line.startswith("simharness replay lost-update --variant buggy --schedule ")
    replayed = run_printed(line, cwd=tmp_path)
    assert field(replayed.out, "trace-hash") == field(done.out, "trace-hash")
    custom = run_cli("explore", "lost-update", "--variant", "buggy", "--scenarios-dir", str(tmp_path / "scenarios"))
    assert "--scenarios-dir" in field(custom.out, "replay")
    assert field(run_printed(field(custom.out, "replay")).out, "trace-hash") == field(done.out, "trace-hash")


def test_explore_json_is_the_only_thing_on_stdout() -> None:
    done = run_cli("explore", LOST, "--runs", "100", "--json")
    assert done.code == 1, done.err
    document = json.loads(done.out)  # the whole of stdout is one document
    assert document["target"] == LOST
    buggy, fixed = document["results"]
    for result in (buggy, fixed):
        assert {"scenario", "variant", "strategy", "seed", "runs", "failed", "elapsed_s", "failure",
                "exhausted", "stored_replays"} <= set(result)
    assert (buggy["variant"], buggy["failed"], fixed["failed"], fixed["failure"]) == ("buggy", True, False, None)
    failure = buggy["failure"]
    assert {"kind", "message", "schedule", "trace_hash", "run_index", "steps", "original_schedule",
            "shrink_replays", "preemptive", "replay"} <= set(failure)
    assert failure["replay"] == f"simharness replay {LOST} --variant buggy --schedule {failure['schedule']}"
    assert field(run_printed(failure["replay"]).out, "trace-hash") == failure["trace_hash"]


def test_no_shrink_reports_the_schedule_as_found() -> None:
    done = run_cli("explore", LOST, "--variant", "buggy", "--runs", "100", "--no-shrink", "--json")
    failure = json.loads(done.out)["results"][0]["failure"]
    assert failure["schedule"] == failure["original_schedule"]
    assert failure["shrink_replays"] == 0


def test_replay_passing_schedule_exits_0() -> None:
    schedule = f"s1f-{scope_of('always-passes', 'default')}"
    done = run_cli("replay", f"{RACE}::always-passes", "--schedule", schedule)
    assert done.code == 0, done.err
    assert field(done.out, "outcome") == "pass"
    assert field(done.out, "virtual-time") == "0.100000 s"


def test_replay_trace_prints_every_step_and_why(buggy_finding: str) -> None:
    schedule = field(buggy_finding, "schedule").split()[0]
    done = run_cli("replay", LOST, "--variant", "buggy", "--schedule", schedule, "--trace")
    assert done.code == 1
    steps = int(field(done.out, "steps"))
    listed = [line for line in done.out.splitlines() if line.strip().split("  ")[0].strip().isdigit()]
    assert len(listed) == steps
    assert any("Task-2" in line and "race.py:16" in line for line in listed)
    assert any("t=0.000000" in line for line in listed)
    # A held-back decision is annotated on the line of the step it came before (not a line of its own).
    held = "<- decision 1 (departed, taken before this step): fifo: continue with the ready callbacks"
    assert any(held in line for line in listed)
    assert "    > [1] fifo: continue with the ready callbacks (taken)" in done.out
    assert "FIFO run: #" in done.out


def test_replay_json_document(buggy_finding: str) -> None:
    schedule = field(buggy_finding, "schedule").split()[0]
    done = run_cli("replay", LOST, "--variant", "buggy", "--schedule", schedule, "--json")
    assert done.code == 1
    document = json.loads(done.out)
    assert {"target", "scenario", "variant", "failed", "kind", "message", "trace_hash", "steps", "schedule",
            "virtual_time", "trace", "decisions", "fifo_trace", "explanation"} <= set(document)
    assert (document["scenario"], document["variant"], document["failed"], document["kind"]) == (
        "lost-update", "buggy", True, "assertion")
    assert document["trace_hash"] == field(buggy_finding, "trace-hash")
    assert len(document["trace"]) == document["steps"]
    assert {"index", "actor", "label", "time", "decision", "deviation"} <= set(document["trace"][0])
    assert any(d["chosen"] != 0 for d in document["decisions"])
    assert document["fifo_trace"] and document["fifo_trace"] != document["trace"]
    departures = document["explanation"]["departures"]
    assert departures and departures[0]["taken"].startswith("fifo")


def test_serialize_helpers_give_json_types_and_quoted_commands() -> None:
    assert to_jsonable({"a": (1, float("nan")), "b": Path("x"), "c": {3, 1}, "d": int}) == {
        "a": [1, None], "b": "x", "c": [1, 3], "d": "int"}
    assert replay_command("my dir/x.py::a", "v", "s1f-abcdef") == (
        "simharness replay 'my dir/x.py::a' --variant v --schedule s1f-abcdef")


def _stderr_on_a_terminal(*args: str) -> tuple[int, str, str]:
    # SIMHARNESS_PROGRESS_DELAY=0: the bar shows at once, so the test does not depend on speed.
    """Run the command with stderr on a pseudo-terminal; return (code, stdout, terminal text)."""
    master, slave = os.openpty()
    chunks: list[bytes] = []

    def drain() -> None:  # keep reading, or rich blocks once the pty buffer is full
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SIMHARNESS_STORE": "off", "TERM": "xterm",
           "SIMHARNESS_PROGRESS_DELAY": "0"}
    done = subprocess.run([sys.executable, "-m", "simharness", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=slave, text=True, timeout=300)
    os.close(slave)
    reader.join(timeout=10)
    os.close(master)
    return done.returncode, done.stdout, b"".join(chunks).decode(errors="replace")


def test_progress_bar_on_a_terminal_only_without_json() -> None:
    target = str(FIXTURES / "slow.py")
    code, out, terminal = _stderr_on_a_terminal("explore", target, "--strategy", "random", "--runs", "40")
    assert code == 0
    assert "passed all 40 runs" in out
    assert "many-checkpoints [default]" in terminal and "/40" in terminal
    code, out, terminal = _stderr_on_a_terminal("explore", target, "--strategy", "random", "--runs", "40", "--json")
    assert code == 0 and json.loads(out)["results"][0]["runs"] == 40
    assert "/40" not in terminal and terminal.strip() == ""


def test_failure_store_is_replayed_first_and_can_be_turned_off(tmp_path: Path) -> None:
    store = str(tmp_path / "failures.db")
    first = run_cli("explore", LOST, "--variant", "buggy", "--store", store)
    assert first.code == 1 and int(field(first.out, "run-index")) >= 1
    again = run_cli("explore", LOST, "--variant", "buggy", "--store", store)
    assert again.code == 1
    assert field(again.out, "run-index") == "0"  # the remembered failure, replayed before exploring
    assert field(again.out, "trace-hash") == field(first.out, "trace-hash")
    fresh = run_cli("explore", LOST, "--variant", "buggy", "--store", store, "--no-store")
    assert field(fresh.out, "run-index") == field(first.out, "run-index")
