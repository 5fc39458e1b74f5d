"""Bad input: exit 2 with exactly one clear line on stderr, nothing on stdout, no traceback."""

from __future__ import annotations

import pytest

from cli_helpers import FIXTURES, RACE, run_cli
from simharness.explore.runner import ExploreOptions, explore_variant
from simharness.discovery import resolve_one

LOST = f"{RACE}::lost-update"
BROKEN = str(FIXTURES / "bad" / "broken.py")
SYNTAX = str(FIXTURES / "bad" / "syntax.py")


@pytest.fixture(scope="module")
def buggy_schedule() -> str:
    """A failing schedule of lost-update/buggy, found through the Python API."""
    found = explore_variant(resolve_one(LOST), "buggy", ExploreOptions(runs=200)).failure
    assert found is not None
    return found.schedule


def expect_one_line(args: list[str], *needles: str) -> str:
    done = run_cli(*args)
    assert done.code == 2, (args, done.code, done.out, done.err)
    assert done.out == "", args
    assert "Traceback" not in done.err
    errors = [line for line in done.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.err
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


@pytest.mark.parametrize("args, needles", [
    (["explore", "missing.py"], ["scenario file not found: missing.py"]),
    (["explore", BROKEN], ["failed to import", "broken.py:5: ZeroDivisionError: division by zero"]),
    (["list", SYNTAX], ["failed to import", "syntax.py:5: SyntaxError"]),
    (["explore", f"{RACE}::nothing"], ["has no scenario 'nothing'", "lost-update"]),
    (["explore", "nothing", "--scenarios-dir", str(FIXTURES)], ["no scenario named 'nothing'"]),
    (["explore", "nothing", "--scenarios-dir", str(FIXTURES / "absent")], ["scenarios folder not found"]),
    (["explore", LOST, "--variant", "zzz"], ["no variant 'zzz'", "valid: buggy, fixed"]),
    (["explore", RACE, "--variant", "zzz"], ["has variant 'zzz'", "buggy", "fixed"]),
    (["explore", LOST, "--runs", "0"], ["--runs must be at least 1, got 0"]),
    (["explore", LOST, "--runs", "-3"], ["--runs must be at least 1, got -3"]),
    (["explore", LOST, "--depth", "0"], ["--depth must be at least 1"]),
    (["explore", LOST, "--max-steps", "0"], ["--max-steps must be at least 1"]),
    (["explore", LOST, "--strategy", "bogus"], ["unknown strategy 'bogus'", "fifo, random, pct, dfs"]),
    (["explore", LOST, "--bound", "2"], ["--bound only applies to --strategy dfs"]),
    (["explore", f"{RACE}::real-only"], ["only runs on the real backend"]),
    (["explore", "missing.py", "--json"], ["scenario file not found"]),
    (["replay", LOST, "--variant", "buggy", "--schedule", "garbage"], ["not a simharness schedule"]),
    (["replay", LOST, "--variant", "buggy", "--schedule", "s1f-vszdjy-zzzz"], ["schedule"]),
    (["replay", f"{RACE}::real-only", "--schedule", "s1f-aaaaaa"], ["only runs on the real backend"]),
    (["replay", RACE, "--variant", "buggy", "--schedule", "s1f-aaaaaa"], ["names 4 scenarios", "PATH.py::NAME"]),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], needles: list[str]) -> None:
    expect_one_line(args, *needles)


def test_schedule_from_another_variant_or_scenario(buggy_schedule: str) -> None:
    # Strict: another variant's schedule is refused. (Without --strict it is replayed
    # leniently: tests/test_replay_lenient.py.)
    expect_one_line(["replay", LOST, "--variant", "fixed", "--schedule", buggy_schedule, "--strict"],
                    "recorded for another scenario or variant")
    expect_one_line(["replay", f"{RACE}::always-passes", "--schedule", buggy_schedule],
                    "recorded for another scenario or variant")
    expect_one_line(["replay", LOST, "--schedule", buggy_schedule], "several variants", "valid: buggy, fixed")


def test_diverging_replay_names_the_decision(buggy_schedule: str) -> None:
    # Same scope, no decisions: the run reaches a decision the schedule does not have.
    head = "-".join(buggy_schedule.split("-")[:2])
    expect_one_line(["replay", LOST, "--variant", "buggy", "--schedule", head, "--strict"],
                    "replay diverged from the schedule at decision 1")
    expect_one_line(["replay", LOST, "--variant", "buggy", "--schedule", head, "--json", "--strict"], "decision 1")


@pytest.mark.parametrize("args", [
    ["replay", LOST, "--variant", "buggy"],           # --schedule missing
    ["explore"],                                      # target missing
    ["frobnicate"],                                   # no such command
    ["explore", LOST, "--runs", "many"],              # not a number
])
def test_usage_errors_exit_2_without_traceback(args: list[str]) -> None:
    # Parse errors too are one `error:` line (not click's usage block), as docs/cli.md says.
    line = expect_one_line(args)
    assert "--help" in line
    assert len(run_cli(*args).err.splitlines()) == 1


@pytest.mark.parametrize(("source", "wanted"), [
    ("@sh.scenario(variants={'a': 1})\nasync def takes_none() -> None:\n    pass\n", "one argument"),
    ("@sh.scenario\nasync def takes_one(store) -> None:\n    pass\n", "cannot be called with variant"),
])
def test_scenario_that_cannot_take_its_variant_is_a_usage_error(tmp_path, source: str, wanted: str) -> None:
    # Calling it would raise TypeError inside the run: that is the user's setup, not a found bug.
    file = tmp_path / "mismatch.py"
    file.write_text("import simharness as sh\n\n" + source)
    done = run_cli("explore", str(file), "--runs", "3")
    assert done.code == 2, done
    assert wanted in done.err and "FAILED" not in done.out and "Traceback" not in done.err
