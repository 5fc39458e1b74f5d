"""Issue 20: bad input, injected faults, signals and hostile documents end in a clear
line (exit 2) or a clean stop, never a traceback, a hang, a leaked process or a
foreign file's contents."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from cli_helpers import FIXTURES, RACE, ROOT, run_cli

LOST = f"{RACE}::lost-update"
FAULTS = ROOT / "tests" / "fixtures" / "stress" / "faults.py"


def one_error_line(done) -> str:
    assert done.code == 2, (done.code, done.out, done.err)
    assert "Traceback" not in done.err and "internal error" not in done.err, done.err
    errors = [line for line in done.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.err
    return errors[0]


# -- processes of a stress run ---------------------------------------------------------

def _marked(mark: str) -> list[int]:
    """Pids of living processes whose environment holds `mark`."""
    found = []
    needle = f"SIMHARNESS_TEST_MARK={mark}".encode()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                if needle not in handle.read().split(b"\0"):
                    continue
            with open(f"/proc/{name}/stat", "rb") as stat:
                if stat.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X"):
                    continue
        except OSError:
            continue
        found.append(int(name))
    return found


def _start_stress(tmp_path: Path, mark: str, *args: str) -> subprocess.Popen[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "SIMHARNESS_TEST_MARK": mark, "SIMHARNESS_STORE": "off"}
    return subprocess.Popen(
        [sys.executable, "-m", "simharness", "stress", f"{FAULTS}::slow", "--backend", "real",
         "--runs", "400", "--concurrency", "1", "--workers", "1", "--report-dir", str(tmp_path / "reports"),
         *args], cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_children(process: subprocess.Popen[str], mark: str, count: int, within_s: float = 60) -> list[int]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        children = [p for p in _marked(mark) if p != process.pid]
        if len(children) >= count:
            return children
        time.sleep(0.01)
    raise AssertionError(f"stress started only {_marked(mark)} within {within_s} s")


def _left(mark: str, within_s: float = 5.0) -> list[int]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and _marked(mark):
        time.sleep(0.05)
    left = _marked(mark)
    for pid in left:  # never leave them to the rest of the suite
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return left


def test_sigkill_of_the_stress_process_leaves_no_burner_or_worker(tmp_path: Path) -> None:
    mark = uuid.uuid4().hex
    process = _start_stress(tmp_path, mark, "--load", "2")
    try:
        _wait_for_children(process, mark, 3)  # both burners and the worker
        time.sleep(0.3)
    finally:
        process.kill()
        process.communicate(timeout=30)
    assert _left(mark) == []


def test_sigint_during_burner_start_up_is_a_clean_interrupt(tmp_path: Path) -> None:
    mark = uuid.uuid4().hex
    process = _start_stress(tmp_path, mark, "--load", "8")
    try:
        _wait_for_children(process, mark, 1)  # the first burner: start-up is under way
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stderr
    assert "internal error" not in stderr and "Traceback" not in stderr, stderr
    assert "interrupted" in stdout + stderr
    assert _left(mark) == []
    assert json.loads((tmp_path / "reports" / "stress-summary.json").read_text())["interrupted"] is True


def test_an_interrupt_while_burners_start_kills_those_started(monkeypatch: pytest.MonkeyPatch) -> None:
    from simharness.stress import load

    started: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def popen(*args, **kwargs):  # the third burner's start is where Ctrl-C lands
        if len(started) == 2:
            raise KeyboardInterrupt
        started.append(real_popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(load.subprocess, "Popen", popen)
    with pytest.raises(KeyboardInterrupt):
        with load.CpuLoad(5):
            pass
    assert len(started) == 2
    assert all(p.poll() is not None for p in started)  # killed and reaped


def test_an_interrupt_before_the_dispatcher_starts_gives_partial_reports(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from simharness.stress import orchestrator
    from simharness.stress.options import StressOptions

    class Interrupted:
        def __init__(self, count: int) -> None:
            pass

        def __enter__(self):
            raise KeyboardInterrupt

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(orchestrator, "CpuLoad", Interrupted)
    report = orchestrator.run_stress(StressOptions(
        targets=(f"{FAULTS}::passes",), backend="real", runs=1, concurrency=(1,), workers=1,
        load=1, report_dir=str(tmp_path / "reports")))
    assert report.interrupted and not report.ok
    assert json.loads((tmp_path / "reports" / "stress-summary.json").read_text())["interrupted"] is True


@pytest.mark.parametrize("args, needle", [
    (["--load", "100000"], "--load must be at most"),
    (["--workers", "1000"], "--workers must be at most"),
    (["--timeout", "1e99"], "--timeout must be a positive number of seconds up to 86400"),
    (["--timeout", "inf"], "--timeout must be a positive number"),
    (["--runs", "99999999999"], "--runs must be at most"),
    (["--concurrency", "1,100000"], "--concurrency levels must be at most"),
])
def test_stress_limits_are_capped(args: list[str], needle: str, tmp_path: Path) -> None:
    done = run_cli("stress", f"{FAULTS}::passes", "--report-dir", str(tmp_path / "r"), *args, timeout=60)
    assert needle in one_error_line(done)
    assert not (tmp_path / "r").exists()  # refused before anything started


HARDENING = ROOT / "tests" / "fixtures" / "hardening"


def cli(*args: str, cwd: Path | str = ROOT, env: dict[str, str] | None = None, timeout: float = 120):
    from cli_helpers import Completed

    environment = {**os.environ, "PYTHONPATH": str(ROOT), "SIMHARNESS_STORE": "off", **(env or {})}
    environment.pop("SIMHARNESS_DEBUG", None)
    done = subprocess.run([sys.executable, "-m", "simharness", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=timeout)
    return Completed(done.returncode, done.stdout, done.stderr)


# -- terminal output ---------------------------------------------------------------------

def test_control_characters_never_reach_the_terminal() -> None:
    hostile = str(HARDENING / "hostile_text.py")
    for args in (["explore", hostile, "--runs", "1"], ["list", hostile]):
        done = run_cli(*args)
        assert "Traceback" not in done.err
        for stream in (done.out, done.err):
            assert "\x1b" not in stream and "\x07" not in stream and "\x9b" not in stream, args
        assert "wipe\\x1b[2J\\x1b[H-screen" in done.out
    explored = run_cli("explore", hostile, "--runs", "1")
    assert "boom \\x1b[2J\\x1b]0;owned\\x07 \\x9b31m end" in explored.out
    document = run_cli("explore", hostile, "--runs", "1", "--json")
    assert "\x1b" not in document.out and "\x9b" not in document.out
    assert json.loads(document.out)["results"][0]["failure"]["message"].startswith("AssertionError: boom \x1b[2J")


def test_stress_tables_never_cut_names_and_ci_logs_get_progress_lines(tmp_path: Path) -> None:
    done = cli("stress", str(HARDENING / "long_names.py"), "--backend", "real", "--runs", "1",
               "--concurrency", "1", "--workers", "1", "--report-dir", str(tmp_path / "r"),
               env={"COLUMNS": "80", "SIMHARNESS_PROGRESS_EVERY": "0"}, timeout=180)
    assert done.code == 0, done.err
    assert "…" not in done.out
    rows = [line for line in done.out.splitlines() if "metrics-lost-update" in line]
    assert any("metrics-lost-update-with-a-rather-long-scenario-name " in line for line in rows), done.out
    assert any("metrics-lost-update-with-a-rather-long-scenario-name-threads" in line for line in rows), done.out
    progress = [line for line in done.err.splitlines() if line.startswith("stress: ")]
    assert progress and progress[-1].startswith("stress: 2/2 done"), done.err


def test_stress_reports_get_the_umask_mode(tmp_path: Path) -> None:
    done = cli("stress", f"{FAULTS}::passes", "--backend", "real", "--runs", "1", "--concurrency", "1",
               "--workers", "1", "--report-dir", str(tmp_path / "r"))
    assert done.code == 0, done.err
    mask = os.umask(0o022)
    os.umask(mask)
    for name in ("stress-summary.json", "stress-junit.xml"):
        assert (tmp_path / "r" / name).stat().st_mode & 0o777 == 0o666 & ~mask, name


def test_ctrl_c_during_explore_says_so() -> None:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "SIMHARNESS_STORE": "off"}
    process = subprocess.Popen([sys.executable, "-m", "simharness", "explore", str(HARDENING / "slow_sim.py"),
                                "--runs", "100000", "--strategy", "random"], cwd=ROOT, env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted" in err and "Traceback" not in err


def test_version_and_shell_completion() -> None:
    done = run_cli("--version")
    assert done.code == 0 and done.out.startswith("simharness ")
    helped = run_cli("--help")
    assert "--install-completion" in helped.out and "--version" in helped.out


# -- parse errors: one line, everywhere ---------------------------------------------------

@pytest.mark.parametrize("args", [
    ["explore", LOST, "--runs", "abc"], ["list", "--bogus"], ["replay", LOST, "--bogus"],
    ["stress", "--bogus"], ["report", "--bogus"], ["shrink", LOST], ["frobnicate"], ["explore"],
    ["--bogus"],
])
def test_parse_errors_are_one_error_line(args: list[str]) -> None:
    done = run_cli(*args)
    line = one_error_line(done)
    assert done.out == "" and done.err.splitlines() == [line]
    assert "Usage:" not in done.err


# -- scenarios: options, names, folders ---------------------------------------------------

@pytest.mark.parametrize("declaration, needle", [
    ("bogus_option=1", "unknown option 'bogus_option'"),
    ("max_steps=-5", "option max_steps=-5 must be an integer from 1"),
    ("max_time_s=float('inf')", "option max_time_s=inf must be a positive number"),
    ("backends=('cloud',)", "option backends=('cloud',)"),
])
@pytest.mark.parametrize("command", ["list", "stress"])
def test_bad_scenario_options_are_load_errors(declaration: str, needle: str, command: str, tmp_path: Path) -> None:
    path = tmp_path / "opts.py"
    path.write_text(f"import simharness as sh\n\n@sh.scenario({declaration})\nasync def opts():\n    pass\n")
    args = [command, str(path)] + (["--report-dir", str(tmp_path / "r")] if command == "stress" else [])
    line = one_error_line(run_cli(*args, cwd=tmp_path))
    assert needle in line and "opts.py" in line


def test_unknown_name_lists_the_valid_ones_and_suggests_the_spelling() -> None:
    line = one_error_line(run_cli("explore", "no-such-scenario"))
    assert "(valid: " in line and "token-overwrite" in line and "metrics-lost-update-threads" in line
    line = one_error_line(run_cli("explore", "token_overwrite"))
    assert "did you mean token-overwrite?" in line


def test_outside_the_repository_a_name_or_folder_gets_a_useful_error(tmp_path: Path) -> None:
    (tmp_path / "somedir").mkdir()
    line = one_error_line(run_cli("explore", "somedir/", cwd=tmp_path))
    assert "somedir/ is a folder" in line and "--scenarios-dir" in line
    line = one_error_line(run_cli("explore", "token-overwrite", cwd=tmp_path))
    assert str(tmp_path / "scenarios") in line and "--scenarios-dir" in line


def test_one_broken_file_in_the_folder_does_not_hide_the_others(tmp_path: Path) -> None:
    folder = tmp_path / "sc"
    folder.mkdir()
    (folder / "race.py").write_text((FIXTURES / "race.py").read_text())
    (folder / "aaa_broken.py").write_text("1 / 0\n")
    done = run_cli("explore", "lost-update", "--scenarios-dir", str(folder), "--variant", "fixed", "--runs", "5",
                   cwd=tmp_path)
    assert done.code == 0, done.err
    assert "passed all 5 runs" in done.out
    assert "aaa_broken.py" in done.err and "ZeroDivisionError" in done.err
    listed = run_cli("list", "--scenarios-dir", str(folder), cwd=tmp_path)
    assert "lost-update" in listed.out  # the rest is listed...
    assert "aaa_broken.py" in one_error_line(listed)  # ...and the broken file makes it exit 2
    missing = one_error_line(run_cli("explore", "nothing", "--scenarios-dir", str(folder), cwd=tmp_path))
    assert "lost-update" in missing and "aaa_broken.py" in missing


# -- report: hostile documents and output paths -------------------------------------------

@pytest.fixture(scope="module")
def replay_document() -> dict:
    explored = run_cli("explore", LOST, "--variant", "buggy", "--runs", "200", "--json")
    schedule = json.loads(explored.out)["results"][0]["failure"]["schedule"]
    done = run_cli("replay", LOST, "--variant", "buggy", "--schedule", schedule, "--json")
    assert done.code == 1, done.err
    return json.loads(done.out)


def _relabel(document: dict, name: str) -> dict:
    text = json.dumps(document).replace("race.py:", f"{name}:")
    return json.loads(text)


@pytest.mark.parametrize("name", ["../outside/secret.py", "/etc/../{outside}/secret.py", "secret.py", "link.py"])
def test_a_crafted_document_embeds_no_foreign_file(name: str, replay_document: dict, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    marker = "TOP-SECRET-LINE"
    (outside / "secret.py").write_text("\n".join(f"{marker} {n}" for n in range(60)) + "\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / "link.py").symlink_to(outside / "secret.py")
    document = _relabel(replay_document, name.format(outside=outside))
    document["target"] = str(outside / "secret.py")  # the target too is the document's word
    (work / "result.json").write_text(json.dumps(document))
    done = run_cli("report", "result.json", "--out", "page.html", cwd=work)
    assert done.code == 0, done.err
    assert marker not in (work / "page.html").read_text()


def test_a_plain_name_in_a_named_source_folder_is_still_embedded(replay_document: dict, tmp_path: Path) -> None:
    (tmp_path / "result.json").write_text(json.dumps(replay_document))
    done = run_cli("report", "result.json", "--out", "page.html", "--source-dir", str(FIXTURES), cwd=tmp_path)
    assert done.code == 0, done.err
    assert "class SharedCounter" in (tmp_path / "page.html").read_text() or \
        "await sh.checkpoint" in (tmp_path / "page.html").read_text()


@pytest.mark.parametrize("document", [
    {"target": "x", "results": [{"failure": 5, "failed": True}]},
    {"target": "x", "results": [{"failure": {"run_index": "a"}, "failed": True, "detail": {"trace": 7}}]},
    {"trace": [{"index": "x", "time": "y"}], "schedule": 5, "explanation": {"departures": [3]}},
    {"trace": 12, "schedule": []},
    {"verdicts": 3, "results": [1, 2]},
    {"verdicts": [{"ok": "yes"}], "results": [{"levels": 5, "outcomes": "x"}]},
])
def test_wrong_shape_documents_are_one_error_line(document: dict, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps(document))
    done = run_cli("report", "bad.json", "--out", "page.html", cwd=tmp_path)
    if done.code == 0:  # drawn with neutral values: acceptable, as long as it is a page
        assert (tmp_path / "page.html").read_text().startswith("<!DOCTYPE html>")
        return
    one_error_line(done)


def test_deeply_nested_json_is_one_error_line(tmp_path: Path) -> None:
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    assert "nests too deeply" in one_error_line(run_cli("report", "deep.json", cwd=tmp_path))


@pytest.mark.parametrize("where", ["file/sub", "file", "/proc/simharness-report"])
def test_bad_report_folders_are_one_error_line(where: str, replay_document: dict, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("in the way\n")
    (tmp_path / "result.json").write_text(json.dumps(replay_document))
    line = one_error_line(run_cli("report", "result.json", "--report-dir", where, cwd=tmp_path))
    assert "cannot write" in line


def test_explore_html_checks_the_report_folder_before_exploring(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("in the way\n")
    started = time.monotonic()
    done = run_cli("explore", str(HARDENING / "slow_sim.py"), "--runs", "100000", "--html",
                   "--report-dir", str(tmp_path / "file" / "reports"), cwd=tmp_path)
    assert "cannot write reports into" in one_error_line(done)
    assert done.out == "" and time.monotonic() - started < 30


def test_a_stored_failure_is_not_run_0_of_0(tmp_path: Path) -> None:
    from simharness.report import render_html

    document = {"target": "t.py", "results": [{
        "scenario": "s", "variant": "v", "strategy": "pct", "seed": 0, "runs": 0, "failed": True,
        "failure": {"kind": "assertion", "message": "m", "schedule": "s1f-aaaaaa", "run_index": 0}}]}
    page = render_html(document)
    assert "run 0 of 0" not in page and "stored failure" in page


# -- the failure store ---------------------------------------------------------------------

def test_one_malformed_store_row_is_dropped_alone(tmp_path: Path) -> None:
    import sqlite3

    store = tmp_path / "failures.db"
    first = cli("explore", LOST, "--variant", "buggy", "--runs", "200", "--store", str(store))
    assert first.code == 1, first.err
    with sqlite3.connect(store) as db:
        db.execute("INSERT INTO failures VALUES ('lost-update', 'buggy', 'junk', 'assertion', 'pct', "
                   "'not-a-seed', 0, 0, 0, 0)")
    again = cli("explore", LOST, "--variant", "buggy", "--runs", "200", "--store", str(store))
    assert again.code == 1
    assert "FAILED replaying a stored failure" in again.out, again.out + again.err
    assert "malformed row" in again.err and "not used" not in again.err
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*) FROM failures WHERE schedule = 'junk'").fetchone() == (0,)


# -- shrink, trace hash, trace listing -----------------------------------------------------

def test_shrink_command_shrinks_an_unshrunk_schedule() -> None:
    # pct's first failure here has departures to spare (portfolio's is already minimal).
    found = run_cli("explore", LOST, "--variant", "buggy", "--runs", "200", "--no-shrink", "--json", "--strategy", "pct")
    long = json.loads(found.out)["results"][0]["failure"]["schedule"]
    done = run_cli("shrink", LOST, "--variant", "buggy", "--schedule", long, "--json")
    assert done.code == 1, done.err
    shrunk = json.loads(done.out)
    assert shrunk["original_schedule"] == long
    assert shrunk["departures"] < shrunk["original_departures"] or shrunk["decisions"] < shrunk["original_decisions"]
    replayed = run_cli(*shrunk["replay"].split()[1:])
    assert replayed.code == 1 and f"trace-hash: {shrunk['trace_hash']}" in replayed.out
    capped = one_error_line(run_cli("shrink", LOST, "--variant", "buggy", "--schedule", long, "--max-replays", "0"))
    assert "--max-replays must be from 1" in capped


def test_shrink_refuses_a_passing_schedule() -> None:
    import simharness as sh
    from simharness.engine.strategies import FifoStrategy
    from simharness.explore.runner import run_strategy

    scenario = next(s for s in sh.load_file(RACE) if s.name == "lost-update")
    fifo = run_strategy(scenario, "buggy", FifoStrategy())
    assert not fifo.failed
    line = one_error_line(run_cli("shrink", LOST, "--variant", "buggy", "--schedule", fifo.schedule.encode()))
    assert "passes when replayed: nothing to shrink" in line


def test_different_scenarios_and_variants_never_share_a_trace_hash() -> None:
    import simharness as sh
    from simharness.engine.strategies import FifoStrategy
    from simharness.explore.runner import run_strategy

    twins = sh.load_file(HARDENING / "twins.py")
    hashes = {(s.name, v): run_strategy(s, v, FifoStrategy()).trace_hash for s in twins for v in s.variant_names}
    assert len(set(hashes.values())) == 4, hashes


def test_replay_trace_actor_column_stays_narrow() -> None:
    found = run_cli("explore", LOST, "--variant", "buggy", "--runs", "200", "--json")
    schedule = json.loads(found.out)["results"][0]["failure"]["schedule"]
    done = run_cli("replay", LOST, "--variant", "buggy", "--schedule", schedule, "--trace")
    task_lines = [line for line in done.out.splitlines() if " Task-2 " in line and "race.py:" in line]
    assert task_lines
    for line in task_lines:
        gap = line.split(" Task-2", 1)[1]
        assert len(gap) - len(gap.lstrip(" ")) <= 24, line


@pytest.mark.parametrize("args, needle", [
    (["--depth", "1000000000"], "--depth must be at most 1000"),
    (["--max-steps", "99999999999999999999"], "--max-steps must be at most"),
    (["--runs", "99999999999999999999"], "--runs must be at most"),
    (["--seed", "99999999999999999999999"], "--seed must be between"),
])
def test_explore_limits_are_capped(args: list[str], needle: str) -> None:
    assert needle in one_error_line(run_cli("explore", LOST, *args, timeout=30))


def test_a_newline_in_a_message_cannot_forge_a_replay_line(tmp_path: Path) -> None:
    path = tmp_path / "forge.py"
    path.write_text("import simharness as sh\n\n@sh.scenario\nasync def forge():\n"
                    "    raise AssertionError('x\\nreplay: simharness replay evil')\n")
    done = run_cli("explore", str(path), "--runs", "1", cwd=tmp_path)
    assert done.code == 1
    assert [line for line in done.out.splitlines() if line.startswith("replay:")] == [
        line for line in done.out.splitlines() if line.startswith("replay: simharness replay ") and "evil" not in line]
    assert "x\\nreplay: simharness replay evil" in done.out
