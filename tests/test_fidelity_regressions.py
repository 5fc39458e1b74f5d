"""Defects the CPython-suite fidelity run found (docs/fidelity.md, D3, D5, D6), each
checked on the stock loop first and then on the controlled loop.

Each test states what stock asyncio does; the controlled loop must do the same.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Callable

import pytest

import simharness  # noqa: F401  (registers the simulated world with the loop)
from simharness.engine.loop import ControlledLoop

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "stock": asyncio.new_event_loop,
    "controlled": lambda: ControlledLoop(choose=lambda options: 0),
}


@pytest.fixture(params=list(LOOPS))
def loop(request: pytest.FixtureRequest):
    loop = LOOPS[request.param]()
    asyncio.set_event_loop(loop)
    yield loop
    if isinstance(loop, ControlledLoop):
        loop.drain()
    loop.close()
    asyncio.set_event_loop(None)


def test_a_pending_task_nobody_references_is_destroyed(loop: asyncio.AbstractEventLoop) -> None:
    """D3: the loop holds tasks weakly, so a dropped pending task is collected and reported."""
    seen: list[str] = []
    loop.set_exception_handler(lambda _loop, context: seen.append(context["message"]))

    async def waits_forever(future: asyncio.Future[None]) -> None:
        await future

    task = loop.create_task(waits_forever(loop.create_future()))
    loop.call_soon(loop.stop)
    loop.run_forever()
    del task
    gc.collect()
    assert seen == ["Task was destroyed but it is pending!"]


def test_a_finished_task_is_freed(loop: asyncio.AbstractEventLoop) -> None:
    """D3: a weak reference to a finished, unreferenced task dies with it."""
    import weakref

    async def work() -> int:
        return 1

    task = loop.create_task(work())
    loop.run_until_complete(task)
    ref = weakref.ref(task)
    del task
    gc.collect()
    assert ref() is None


def test_task_repr_names_the_asyncio_class(loop: asyncio.AbstractEventLoop) -> None:
    async def work() -> None:
        return None

    task = loop.create_task(work(), name="worker")
    assert repr(task).startswith("<Task pending name='worker'")
    assert repr(loop.create_future()).startswith("<Future pending")
    loop.run_until_complete(task)


class _Recorder(asyncio.SubprocessProtocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.events: list[str] = []
        self.finished: asyncio.Future[None] = loop.create_future()
        self.stdout_lost: asyncio.Future[object] = loop.create_future()

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.events.append(f"pipe {fd} lost")
        if fd == 1 and not self.stdout_lost.done():
            self.stdout_lost.set_result(exc)

    def process_exited(self) -> None:
        self.events.append("exited")

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append("connection lost")
        self.finished.set_result(None)


def _start(loop: asyncio.AbstractEventLoop) -> tuple[asyncio.SubprocessTransport, _Recorder]:
    recorder = _Recorder(loop)
    transport, _ = loop.run_until_complete(loop.subprocess_exec(
        lambda: recorder, sys.executable, "-c", "import sys; sys.stdin.read()"))
    return transport, recorder


def test_a_killed_child_loses_every_pipe_then_the_connection(loop: asyncio.AbstractEventLoop) -> None:
    """D5: stdin is reported lost too when the child exits, so connection_lost() comes."""
    transport, recorder = _start(loop)
    transport.kill()
    loop.run_until_complete(asyncio.wait_for(recorder.finished, 10))
    assert sorted(e for e in recorder.events if e.startswith("pipe")) == [
        "pipe 0 lost", "pipe 1 lost", "pipe 2 lost"]
    assert recorder.events[-1] == "connection lost"
    assert recorder.events.index("exited") < recorder.events.index("connection lost")


def test_closing_a_childs_stdout_reports_it_lost(loop: asyncio.AbstractEventLoop) -> None:
    """D6: the parent closing its end of the child's stdout is reported as that pipe lost."""
    transport, recorder = _start(loop)
    pipe = transport.get_pipe_transport(1)
    assert pipe is not None
    pipe.close()
    assert loop.run_until_complete(asyncio.wait_for(recorder.stdout_lost, 10)) is None
    transport.kill()
    loop.run_until_complete(asyncio.wait_for(recorder.finished, 10))
    assert recorder.events.count("pipe 1 lost") == 1


def test_a_thread_pool_runs_one_item_after_another(loop: asyncio.AbstractEventLoop) -> None:
    """D1: a pool's idle worker is quiet, and one that was just handed an item is not
    (3.13's SimpleQueue hands the item over while the queue still looks empty)."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        results = [loop.run_until_complete(asyncio.wrap_future(pool.submit(lambda n=n: n), loop=loop))
                   for n in range(3)]

        async def through_run_in_executor() -> int:
            return await asyncio.get_running_loop().run_in_executor(pool, lambda: 7)

        results.append(loop.run_until_complete(through_run_in_executor()))
    assert results == [0, 1, 2, 7]


def test_a_signal_handler_runs_on_the_next_iteration(loop: asyncio.AbstractEventLoop) -> None:
    """add_signal_handler works as on the stock loop: a signal the process sends itself
    runs the handler after the callbacks already ready; removing it restores the default."""
    import os
    import signal

    order: list[str] = []

    async def main() -> tuple[bool, bool]:
        got: asyncio.Future[None] = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR1, lambda: (order.append("handler"), got.set_result(None)))
        loop.call_soon(order.append, "ready before")
        os.kill(os.getpid(), signal.SIGUSR1)
        order.append("after kill")
        await got
        return loop.remove_signal_handler(signal.SIGUSR1), loop.remove_signal_handler(signal.SIGUSR1)

    assert loop.run_until_complete(main()) == (True, False)
    assert order == ["after kill", "ready before", "handler"]
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL
    with pytest.raises(RuntimeError, match="cannot be caught"):
        loop.add_signal_handler(signal.SIGKILL, print)
    with pytest.raises(ValueError, match="invalid signal number"):
        loop.add_signal_handler(999, print)

    async def coroutine_handler() -> None:
        return None

    with pytest.raises(TypeError):
        loop.add_signal_handler(signal.SIGUSR2, coroutine_handler)


def test_debug_source_tracebacks_end_in_the_callers_frame(loop: asyncio.AbstractEventLoop) -> None:
    """D4: in debug mode each handle's source traceback ends at the line that made it."""
    import sys

    loop.set_debug(True)
    here = sys._getframe().f_code.co_name
    for make in (lambda: loop.call_soon(print), lambda: loop.call_soon_threadsafe(print),
                 lambda: loop.call_later(0, print), lambda: loop.call_at(loop.time(), print)):
        handle = make()
        filename, _line, function = handle._source_traceback[-1][:3]
        assert (filename, function) == (__file__, "<lambda>"), here
        handle.cancel()


def test_the_exit_is_known_an_iteration_before_it_is_reported(loop: asyncio.AbstractEventLoop) -> None:
    """asyncio sets the return code when it reaps the child, and calls process_exited()
    and connection_lost() on the next iteration: a callback in between sees the code
    set and no report yet (so communicate() may return while kill() still does not
    raise ProcessLookupError)."""
    import subprocess

    recorder = _Recorder(loop)
    transport, _ = loop.run_until_complete(loop.subprocess_exec(
        lambda: recorder, sys.executable, "-c", "pass",
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    seen: list[tuple[bool, bool]] = []

    def tick() -> None:
        seen.append((transport.get_returncode() is not None, "exited" in recorder.events))
        if not recorder.finished.done():
            loop.call_soon(tick)

    loop.call_soon(tick)
    loop.run_until_complete(asyncio.wait_for(recorder.finished, 10))
    assert (True, False) in seen
    assert recorder.events == ["exited", "connection lost"]


def test_a_busy_loop_polling_a_thread_sees_its_result(loop: asyncio.AbstractEventLoop) -> None:
    """The stock loop polls its selector on every iteration, so a task that polls with
    sleep(0) sees a worker thread's result after a while, not never."""
    async def poll() -> int:
        future = loop.run_in_executor(None, sum, range(1000))
        spins = 0
        while not future.done():
            await asyncio.sleep(0)
            spins += 1
        assert spins < 100_000
        return future.result()

    assert loop.run_until_complete(asyncio.wait_for(poll(), 10)) == sum(range(1000))


def test_closing_the_transport_kills_a_child_before_it_sees_end_of_file(
        loop: asyncio.AbstractEventLoop) -> None:
    """transport.close() kills a running child before its stdin is really closed (the
    descriptor closes on the next iteration, as asyncio's pipe transport does), so a
    child that would exit on end of file is killed: return code -SIGKILL every time."""
    import signal

    codes = []
    for _ in range(5):
        transport, recorder = _start(loop)
        transport.close()
        loop.run_until_complete(asyncio.wait_for(recorder.finished, 10))
        codes.append(transport.get_returncode())
    assert codes == [-signal.SIGKILL] * 5


def test_an_infinite_sleep_is_never_a_deadline_time_passes_to() -> None:
    """A checkpoint is never held back toward a timer at an infinite deadline (it falls
    due never): the correct scenario passes every schedule instead of an OverflowError."""
    from pathlib import Path

    import simharness as sh

    scenario = sh.load_file(Path(__file__).parent / "fixtures" / "engine" / "infinite_sleep.py")[0]
    for strategy in ("random", "pct"):
        exploration = sh.explore_variant(scenario, "default",
                                         sh.ExploreOptions(strategy=strategy, runs=300, seed=0, shrink=False))
        assert exploration.failure is None, exploration.failure
