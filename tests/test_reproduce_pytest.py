"""reproduce on an unchanged pytest-asyncio test: a CI run's failure, found again as a schedule.

The "CI run" is real: pytest runs the suite on the stock runtime in a subprocess (the old
config fetch slowed down, as a loaded CI machine does), writing its output and JUnit XML.
Then `simharness reproduce PATH::TEST` and `pytest --sim-reproduce junit.xml` search for it.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TEST = "test_cache.py::test_latest_refresh_wins"
QUIET = ("-p", "no:cacheprovider", "-p", "no:randomly")


def _run(folder: Path, *command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("SIMHARNESS_STORE", "PYTEST_ADDOPTS", "CI")}
    return subprocess.run([sys.executable, "-m", *command], cwd=folder, capture_output=True, text=True, timeout=600,
                          env={**clean, "PYTHONPATH": str(ROOT), **(env or {})})


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    (tmp_path / "test_cache.py").write_text((HERE / "fixtures" / "reproduce" / "suite_ci.py").read_text())
    return tmp_path


def _ci_run(folder: Path, env: dict[str, str]) -> Path:
    """The suite on the stock runtime, as CI ran it: its output (and junit.xml) kept."""
    done = _run(folder, "pytest", *QUIET, "-q", "--junitxml=junit.xml", "test_cache.py", env=env)
    assert done.returncode == 1 and f"FAILED {TEST}" in done.stdout, done.stdout + done.stderr
    (folder / "ci.txt").write_text(done.stdout)
    return folder / "ci.txt"


def test_the_ci_failure_of_a_test_is_reproduced_replayed_and_remembered(suite: Path) -> None:
    log = _ci_run(suite, {"SLOW_V1_S": "0.3"})
    done = _run(suite, "simharness", "reproduce", TEST, "--failure", str(log), "--runs", "50")
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(rf"^{re.escape(TEST)}: reproduced after \d+ schedule", done.stdout, re.MULTILINE), done.stdout
    assert "a stale refresh overwrote the newer one" in done.stdout
    replay = re.search(r"^replay: (pytest .*)$", done.stdout, re.MULTILINE)
    assert replay, done.stdout
    replayed = _run(suite, *shlex.split(replay.group(1)), *QUIET)
    assert replayed.returncode == 1 and "a stale refresh overwrote the newer one" in replayed.stdout
    # The next plain `pytest --sim` replays the stored reproduction before exploring.
    again = _run(suite, "pytest", *QUIET, "--sim", "--sim-runs", "1", "test_cache.py")
    assert "replaying a failure remembered in the failure store" in again.stdout, again.stdout


def test_sim_reproduce_takes_every_failed_test_of_a_junit_file(suite: Path) -> None:
    _ci_run(suite, {"SLOW_V1_S": "0.3"})
    done = _run(suite, "pytest", *QUIET, "--sim-reproduce", "junit.xml", "--sim-runs", "50")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 1 deselected" in done.stdout  # the test that passed in CI is not run
    assert "simharness: reproduced the recorded failure (AssertionError: a stale refresh" in done.stdout
    assert re.search(r"^replay: pytest .*--sim-replay s1", done.stdout, re.MULTILINE)


def test_an_environment_failure_is_not_reproduced_and_the_race_is_listed_apart(suite: Path) -> None:
    log = _ci_run(suite, {"CONFIG_SERVER": "down"})
    done = _run(suite, "simharness", "reproduce", TEST, "--failure", str(log), "--runs", "30")
    assert done.returncode == 1, done.stdout + done.stderr  # a failure was found, not the recorded one
    assert f"{TEST}: not reproduced in 30 schedule(s)" in done.stdout
    closest = done.stdout.split("closest failures (not the recorded one):", 1)[1]
    assert "a stale refresh overwrote the newer one" in closest
    assert "differs: exception AssertionError, not ConnectionRefusedError" in closest
    via_pytest = _run(suite, "pytest", *QUIET, "-rs", "--sim-reproduce", "ci.txt", "--sim-runs", "30")
    assert via_pytest.returncode == 0, via_pytest.stdout
    assert "1 skipped" in via_pytest.stdout and "not reproduced in 30 schedule(s)" in via_pytest.stdout


def test_bad_failure_files_and_test_ids(suite: Path) -> None:
    _ci_run(suite, {"SLOW_V1_S": "0.3"})
    (suite / "green.xml").write_text('<testsuites><testsuite><testcase classname="test_cache" name="x"/>'
                                     "</testsuite></testsuites>")
    usage = _run(suite, "pytest", *QUIET, "--sim-reproduce", "green.xml")
    assert usage.returncode == 4 and "JUnit file with no failed test" in usage.stderr, usage.stderr
    other = _run(suite, "simharness", "reproduce", "test_cache.py::test_sum_is_stable", "--failure", "ci.txt")
    assert other.returncode == 2 and "from another test" in other.stderr
    traceback = suite / "tb.txt"
    traceback.write_text('Traceback (most recent call last):\n  File "test_cache.py", line 42, in test_gone\n'
                         "AssertionError: boom\n")
    missing = _run(suite, "simharness", "reproduce", "test_cache.py::test_gone", "--failure", str(traceback))
    assert missing.returncode == 2 and "error: no test test_cache.py::test_gone" in missing.stderr, missing.stderr
    for result in (other, missing):
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
