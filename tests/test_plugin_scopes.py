"""Tests on loops wider than the function under `pytest --sim` (issue 16 item 2), in pytester
subprocesses: they run on a shared controlled loop in the default order, not explored, and the
summary says so; sync tests with asyncio.run() are left alone and counted."""

from __future__ import annotations

import re
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "plugin"))
from pytester_helpers import prepare, run, suite  # noqa: E402

pytest_plugins = ["pytester"]

SCOPED_LINE = (r"simharness: ran in the default order on a shared controlled loop, not explored "
               r"\(the loop outlives one test\): ")


@pytest.fixture
def tester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    return prepare(pytester, monkeypatch)


def test_module_scoped_loop_with_an_async_server_fixture(tester: pytest.Pytester) -> None:
    suite(tester, "suite_scoped_module")
    result = run(tester, "--sim", "--sim-seed", "1", "--junitxml", "junit.xml")
    result.assert_outcomes(passed=4)
    output = result.stdout.str()
    assert re.search(SCOPED_LINE + r"3 tests, 0 failures, 0 unsupported$", output, re.MULTILINE), output
    assert "simharness:   3 x on a module-scoped loop" in output
    assert "simharness:   1 x sync test calling asyncio.run() (its own stock loop)" in output
    assert not re.search(r"^simharness: \d+ tests? ", output, re.MULTILINE)  # nothing was explored
    log = (tester.path / "scopes.log").read_text().splitlines()
    # One server for the module; virtual time went on from where the first test left it; at the
    # module's end the fixture closed the server and the loop's close drained the heartbeat.
    assert log == ["server up", "first ends at 10", "second starts at 10", "server closed", "heartbeat stopped"]
    cases = {case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
             for case in ET.parse(tester.path / "junit.xml").getroot().iter("testcase")}
    assert cases["test_first"]["simharness_status"] == "default-order"
    assert cases["test_first"]["simharness_scope"] == "module"
    assert cases["test_sync_with_asyncio_run"]["simharness_status"] == "left-alone"


def test_session_scoped_loop_is_shared_across_modules(tester: pytest.Pytester) -> None:
    tester.makeini(textwrap.dedent("""\
        [pytest]
        asyncio_mode = auto
        asyncio_default_fixture_loop_scope = session
        asyncio_default_test_loop_scope = session
        """))
    tester.makeconftest(textwrap.dedent("""\
        import asyncio
        import pytest

        @pytest.fixture(scope="session")
        async def database():
            yield {"loop": asyncio.get_running_loop(), "rows": []}
        """))
    body = textwrap.dedent("""\
        import asyncio
        from simharness.engine.loop import ControlledLoop

        async def test_writes_{n}(database):
            assert isinstance(asyncio.get_running_loop(), ControlledLoop)
            assert asyncio.get_running_loop() is database["loop"]
            database["rows"].append({n})
            await asyncio.sleep(5)
        """)
    tester.makepyfile(test_a=body.format(n=1), test_b=body.format(n=2))
    result = run(tester, "--sim", "--sim-seed", "1")
    result.assert_outcomes(passed=2)
    output = result.stdout.str()
    assert re.search(SCOPED_LINE + r"2 tests, 0 failures", output), output
    assert "simharness:   2 x on a session-scoped loop" in output


def test_package_scoped_loop(tester: pytest.Pytester) -> None:
    package = tester.mkpydir("pkg")
    (package / "conftest.py").write_text(textwrap.dedent("""\
        import asyncio
        import pytest_asyncio

        @pytest_asyncio.fixture(scope="package", loop_scope="package")
        async def queue():
            return asyncio.Queue()
        """))
    for n in (1, 2):
        (package / f"test_part{n}.py").write_text(textwrap.dedent(f"""\
            import asyncio
            import pytest

            @pytest.mark.asyncio(loop_scope="package")
            async def test_queue_{n}(queue):
                await queue.put({n})
                assert queue.qsize() == {n}  # the same queue, on the same loop, across modules
            """))
    result = run(tester, "--sim", "--sim-seed", "1", "-p", "no:anyio")
    result.assert_outcomes(passed=2)
    output = result.stdout.str()
    assert re.search(SCOPED_LINE + r"2 tests, 0 failures", output), output
    assert "simharness:   2 x on a package-scoped loop" in output


def test_scoped_failures_say_what_ran_and_how_to_repeat(tester: pytest.Pytester) -> None:
    suite(tester, "suite_scoped_bug")
    result = run(tester, "--sim", "--sim-seed", "1", "--sim-timeout", "60")
    result.assert_outcomes(passed=1, failed=2)
    output = result.stdout.str()
    assert "assert 2 == 3" in output  # pytest's own traceback is kept
    assert output.count("simharness: this test ran on the module-scoped controlled loop it shares") == 2
    assert "(pytest --sim test_suite.py)" in output or "(pytest -p simharness" in output
    assert re.search(r"RunAborted: virtual-time budget of 86400 s exceeded", output), output
    assert re.search(SCOPED_LINE + r"3 tests, 2 failures, 0 unsupported", output), output


def test_scoped_fixture_using_a_refused_api_is_a_skip(tester: pytest.Pytester) -> None:
    suite(tester, "suite_scoped_unsupported")
    result = run(tester, "--sim", "--sim-seed", "1", "-rs")
    result.assert_outcomes(skipped=2)
    output = result.stdout.str()
    assert output.count("unsupported in simulation: loop.add_reader() (on a shared controlled loop)") == 2
    assert re.search(SCOPED_LINE + r"2 tests, 0 failures, 2 unsupported", output), output


def test_anyio_module_scoped_fixture_holds_a_controlled_runner(tester: pytest.Pytester) -> None:
    suite(tester, "suite_scoped_anyio")
    result = run(tester, "--sim", "--sim-seed", "1", "-p", "no:asyncio")
    result.assert_outcomes(passed=3)
    output = result.stdout.str()
    assert re.search(SCOPED_LINE + r"3 tests, 0 failures", output), output
    assert "simharness:   3 x on a module-scoped loop" in output
    assert (tester.path / "scopes.log").read_text() == "pool closed after 2 uses\n"


def test_a_thread_a_sync_fixture_starts_between_runs_is_not_the_loops_work(tester: pytest.Pytester) -> None:
    # aiosmtpd's threaded controller, in miniature: a server thread that never parks, started by a
    # sync fixture after the module's loop exists. A loop made then would not wait for it; the
    # shared loop must not either (it would wait 30 s for it to settle, then fail the test).
    tester.makepyfile(test_suite=textwrap.dedent("""\
        import asyncio
        import threading
        import time

        import pytest
        import pytest_asyncio

        @pytest_asyncio.fixture(scope="module", loop_scope="module")
        async def shared():
            return "shared"

        @pytest.fixture
        def busy_thread():
            stop = threading.Event()
            thread = threading.Thread(target=lambda: [time.sleep(0.001) for _ in iter(stop.is_set, True)])
            thread.start()
            yield
            stop.set()
            thread.join()

        @pytest.mark.asyncio(loop_scope="module")
        async def test_first(shared):
            await asyncio.sleep(1)

        @pytest.mark.asyncio(loop_scope="module")
        async def test_with_a_thread(shared, busy_thread):
            await asyncio.sleep(1)
        """))
    result = run(tester, "--sim", "--sim-seed", "1")
    result.assert_outcomes(passed=2)
    assert re.search(SCOPED_LINE + r"2 tests, 0 failures", result.stdout.str())


def test_scope_ending_after_an_explored_last_test_tears_down_in_order(tester: pytest.Pytester) -> None:
    # The session's last test is explored: its logged run tears down only to its module, so the
    # module's fixtures end in pytest's own session finish, and only then is the shared loop closed.
    tester.makepyfile(test_suite=textwrap.dedent("""\
        import asyncio

        import pytest
        import pytest_asyncio

        def note(what):
            with open("scopes.log", "a") as log:
                log.write(what + "\\n")

        @pytest_asyncio.fixture(scope="module", loop_scope="module")
        async def service():
            async def worker():
                try:
                    await asyncio.sleep(3600)
                finally:
                    note("worker drained")
            task = asyncio.create_task(worker())
            yield task
            note("service torn down")

        @pytest.mark.asyncio(loop_scope="module")
        async def test_scoped(service):
            assert not service.done()

        @pytest.mark.asyncio
        async def test_explored_last():
            await asyncio.gather(asyncio.sleep(1), asyncio.sleep(2))
        """))
    result = run(tester, "--sim", "--sim-seed", "1", "--sim-runs", "3")
    result.assert_outcomes(passed=2)
    assert "Event loop is closed" not in result.stdout.str() + result.stderr.str()
    assert (tester.path / "scopes.log").read_text().splitlines() == ["service torn down", "worker drained"]
