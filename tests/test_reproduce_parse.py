"""reproduce's failure readers and matching rules, on output that real pytest and Python print here.

Each test runs pytest (or Python) in a subprocess on a small failing file, then parses what
it printed or the JUnit XML it wrote: the parsers meet pytest's real formats, including
assertion rewriting, not a hand-written imitation of them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from simharness.discovery import resolve_one
from simharness.engine.strategies import FifoStrategy
from simharness.explore.reproduce import FailureFileError, compare, normalise, read_failures
from simharness.explore.reproduce.target import FailureTarget
from simharness.explore.runner import run_strategy
from simharness.outcome import Failure, Frame

ROOT = Path(__file__).resolve().parent.parent

FAILING = textwrap.dedent('''
    import asyncio

    async def helper(x):
        await asyncio.sleep(0)
        assert x == 2, "lost update"

    def test_chain():
        asyncio.run(helper(1))

    def test_rewritten():
        value = 1
        assert value + 1 == 3

    class TestK:
        def test_raise(self):
            raise KeyError("missing at 0x7f3a2b1c")

    def test_passes():
        pass
''')


def _pytest(folder: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
                           "test_demo.py", *args], cwd=folder, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    (folder / "test_demo.py").write_text(FAILING)
    return folder


def _by_id(targets: list[FailureTarget]) -> dict[str, FailureTarget]:
    return {t.test_id: t for t in targets}


def _innermost(target: FailureTarget) -> tuple[str, int, str]:
    frame = target.frames[-1]
    return Path(frame.file).name, frame.line, frame.function


@pytest.mark.parametrize("style", [["-q"], ["--tb=long"], ["--tb=short"], ["--tb=native"], ["-q", "-rN"]])
def test_pytest_output_gives_test_id_type_message_and_frames(demo: Path, style: list[str]) -> None:
    output = demo / "out.txt"
    output.write_text(_pytest(demo, *style))
    found = _by_id(read_failures(output))
    assert set(found) == {"test_demo.py::test_chain", "test_demo.py::test_rewritten", "test_demo.py::TestK::test_raise"}
    chain = found["test_demo.py::test_chain"]
    # Assertion rewriting: the user's message first, pytest's explanation after it.
    assert chain.exc_type == "AssertionError"
    assert chain.message.splitlines()[0] == "lost update"
    assert "assert 1 == 2" in chain.message
    assert _innermost(chain) == ("test_demo.py", 6, "helper")
    assert ("test_demo.py", 9, "test_chain") in [(Path(f.file).name, f.line, f.function) for f in chain.frames]
    rewritten = found["test_demo.py::test_rewritten"]
    assert (rewritten.exc_type, rewritten.message) == ("AssertionError", "assert (1 + 1) == 3")
    raised = found["test_demo.py::TestK::test_raise"]
    assert raised.exc_type == "KeyError" and "0x7f3a2b1c" in raised.message
    assert _innermost(raised)[:2] == ("test_demo.py", 17)


def test_summary_only_output_has_ids_and_messages_but_no_frames(demo: Path) -> None:
    output = demo / "summary.txt"
    output.write_text(_pytest(demo, "--tb=no", "-rf"))
    chain = _by_id(read_failures(output))["test_demo.py::test_chain"]
    assert (chain.exc_type, chain.message, chain.frames) == ("AssertionError", "lost update", ())


def test_junit_xml_rebuilds_test_ids_from_classnames(demo: Path) -> None:
    _pytest(demo, "--junitxml=junit.xml")
    found = _by_id(read_failures(demo / "junit.xml", root=demo))
    assert set(found) == {"test_demo.py::test_chain", "test_demo.py::test_rewritten", "test_demo.py::TestK::test_raise"}
    assert _innermost(found["test_demo.py::test_chain"]) == ("test_demo.py", 6, "helper")
    assert found["test_demo.py::TestK::test_raise"].exc_type == "KeyError"
    assert all(t.source == "junit" for t in found.values())


def test_plain_traceback_takes_the_exception_that_propagated(tmp_path: Path) -> None:
    script = tmp_path / "boom.py"
    script.write_text(textwrap.dedent('''
        import asyncio
        async def inner():
            try:
                {}["key"]
            except KeyError as error:
                raise RuntimeError("lookup failed for id 4242") from error
        asyncio.run(inner())
    '''))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    (tmp_path / "tb.txt").write_text(done.stderr)
    (target,) = read_failures(tmp_path / "tb.txt")
    assert (target.exc_type, target.message, target.test_id) == ("RuntimeError", "lookup failed for id 4242", "")
    assert _innermost(target) == ("boom.py", 7, "inner")


def test_files_that_record_no_failure_are_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("the build was green\n")
    (tmp_path / "ok.xml").write_text('<testsuites><testsuite><testcase classname="t" name="x"/></testsuite></testsuites>')
    (tmp_path / "log.jsonl").write_text(json.dumps({"type": "run", "backend": "real", "kind": None}) + "\n")
    for name, said in (("notes.txt", "holds no traceback"), ("ok.xml", "no failed test"),
                       ("log.jsonl", "no failed real run"), ("missing.txt", "cannot read")):
        with pytest.raises(FailureFileError, match=said):
            read_failures(tmp_path / name)


def test_volatile_parts_are_masked() -> None:
    assert normalise("<Conn object at 0x7f00aa> port 40123 in /tmp/pytest-of-x/p1/db.sqlite") == \
        normalise("<Conn object at 0x7fffbb> port 51000 in /tmp/pytest-of-y/p9/db.sqlite")
    assert normalise("lost update: value is 1") != normalise("token issued to another flow")


def _observed(message: str, *frames: Frame, kind: str = "assertion") -> Failure:
    return Failure(kind, message, frames=frames)  # type: ignore[arg-type]


def test_matching_needs_type_message_and_innermost_user_frames() -> None:
    user = Frame("/ci/work/tests/race.py", 47, "lost_update")
    target = FailureTarget("AssertionError", "lost update: value is 3, expected 4",
                           (Frame("/usr/lib/python3.12/asyncio/runners.py", 118, "run"), user))
    stdlib = Frame(sys.modules["asyncio"].__file__ or "", 1, "run")
    same = _observed("AssertionError: lost update: value is 1, expected 2 (at race.py:47)",
                     stdlib, Frame("/home/me/tests/race.py", 47, "lost_update"))
    assert compare(target, same).matched
    other_line = _observed("AssertionError: lost update: value is 1, expected 2 (at race.py:52)",
                           Frame("/home/me/tests/race.py", 52, "lost_update"))
    assert not compare(target, other_line).matched
    assert any("raised at race.py:52" in d for d in compare(target, other_line).differences)
    other_type = _observed("ValueError: lost update: value is 1, expected 2 (at race.py:47)", user, kind="exception")
    assert not compare(target, other_type).matched
    assert compare(target, other_line).closeness > compare(target, other_type).closeness > 0


def test_a_bare_assert_is_matched_by_its_frames() -> None:
    # pytest printed its rewritten explanation; the scenario's own run has no message at all.
    target = FailureTarget("AssertionError", "assert 1 == 2", (Frame("tests/test_x.py", 9, "test_x"),))
    assert compare(target, _observed("AssertionError (at test_x.py:9)", Frame("/w/tests/test_x.py", 9, "test_x"))).matched


def test_a_real_simulated_failure_carries_its_frames() -> None:
    scenario = resolve_one("tests/fixtures/cli/race.py::raises-itself")
    result = run_strategy(scenario, "default", FifoStrategy())
    assert result.failure is not None
    assert (Path(result.failure.frames[-1].file).name, result.failure.frames[-1].function) == ("race.py", "raises_itself")
    recorded = FailureTarget("RuntimeError", "scenario blew up", (Frame("race.py", result.failure.frames[-1].line,
                                                                         "raises_itself"),))
    assert compare(recorded, result.failure).matched


def test_a_stock_hang_matches_a_deadlock_only_where_the_same_tasks_wait() -> None:
    hang = FailureTarget("", "1 of 1 copies still running after 8 s: Task-5 at pool.py:49", (), kind="timeout")
    here = Failure("deadlock", "nothing can run and nothing is pending; blocked: Task-2 awaits Event.wait() at pool.py:49")
    elsewhere = Failure("deadlock", "nothing can run and nothing is pending; blocked: main awaits Future at pool.py:60")
    assert compare(hang, here).matched
    assert compare(hang, elsewhere).differences == ("tasks wait elsewhere: pool.py:60",)
    assert not compare(hang, Failure("leak", "1 task(s) still pending: Task-2 awaiting Event at pool.py:49")).matched
    # The stock runtime named a library frame the simulation does not: nothing to compare there.
    inside = FailureTarget("", "1 of 1 copies still running after 8 s: Task-5 at _asyncio.py:1781", (), kind="timeout")
    assert compare(inside, elsewhere).matched


def test_a_run_the_real_backend_had_to_kill_matches_any_simulated_hang() -> None:
    killed = FailureTarget("", "run did not finish within --timeout 10 s: worker 28875 and its process group killed",
                           (), kind="timeout")
    assert compare(killed, Failure("timeout", "step budget of 200000 steps exceeded")).matched
    assert not compare(killed, Failure("assertion", "AssertionError: x (at a.py:1)")).matched
