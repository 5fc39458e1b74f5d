"""Real child processes under the controlled loop: hung children time out on the virtual clock.

The scenarios live in this file; a fresh interpreter loads it as a scenario file to
check that a schedule replays with the same trace hash in another process.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import simharness as sh
from simharness import ExploreOptions, explore_variant
from simharness.scenario import scenario_of
from simharness.engine.strategies import FifoStrategy

from replay_helpers import replay_in_fresh_process

ROOT = Path(__file__).resolve().parent.parent
PIPE = asyncio.subprocess.PIPE
#: Process ids started by the scenarios of this process (checked after the runs).
STARTED: list[int] = []
#: Order in which `two-children` saw the children's output, per run.
OUTPUT_ORDERS: list[tuple[str, ...]] = []


@sh.scenario(process_settle_s=0.2)
async def hung_child_killed_at_deadline() -> None:
    """`sleep 1000` never answers: communicate() times out at virtual 5 s, then kill() ends it."""
    loop = asyncio.get_running_loop()
    proc = await asyncio.create_subprocess_exec("sleep", "1000", stdout=PIPE, stderr=PIPE)
    STARTED.append(proc.pid)
    try:
        await asyncio.wait_for(proc.communicate(), 5)
    except asyncio.TimeoutError:
        assert loop.time() == 5.0, f"timed out at t={loop.time()}"
    else:
        raise AssertionError("sleep 1000 finished")
    proc.kill()
    assert await proc.wait() == -9
    assert loop.time() == 5.0


@sh.scenario
async def two_children() -> None:
    """Two children print and exit; the explorer decides whose output arrives first."""
    order: list[str] = []

    async def run(word: str) -> None:
        proc = await asyncio.create_subprocess_shell(f"echo {word}; echo err-{word} >&2",
                                                     stdout=PIPE, stderr=PIPE)
        out, err = await proc.communicate()
        assert proc.returncode == 0 and err == f"err-{word}\n".encode()
        order.append(out.decode().strip())

    await asyncio.gather(run("a"), run("b"))
    OUTPUT_ORDERS.append(tuple(order))


@sh.scenario
async def stdin_conversation() -> None:
    """A child that answers line by line through stdin/stdout, then a bulk `cat`."""
    code = "import sys\nfor line in sys.stdin: print(line.strip().upper(), flush=True)"
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, stdin=PIPE, stdout=PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"hello\n")
    await proc.stdin.drain()
    assert await proc.stdout.readline() == b"HELLO\n"
    proc.stdin.close()
    assert await proc.wait() == 0
    cat = await asyncio.create_subprocess_exec("cat", stdin=PIPE, stdout=PIPE)
    out, _ = await cat.communicate(b"0123456789" * 20_000)  # more than a pipe buffer
    assert out == b"0123456789" * 20_000


@sh.scenario(process_settle_s=0.2)
async def fails_with_children_running() -> None:
    """The scenario dies while a child and its own background child still run."""
    proc = await asyncio.create_subprocess_shell("sleep 1000 & sleep 1000", stdout=PIPE)
    STARTED.append(proc.pid)
    await asyncio.sleep(1)
    raise RuntimeError("scenario failed midway")


@sh.scenario(process_settle_s=0.2)
async def silent_worker() -> None:
    """A child that computes silently for longer than the settle window, then answers."""
    code = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass\nprint('done')"
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, stdout=PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 5)
    assert out == b"done\n", out
    assert asyncio.get_running_loop().time() == 0  # its work took no virtual time


def _gone(pid: int) -> bool:
    """True when no live process (zombies aside) is left in the child's process group."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pass
    else:
        return False
    listing = subprocess.run(["ps", "-eo", "pgid=,stat="], capture_output=True, text=True, check=True)
    # A killed grandchild re-parented to an init that does not reap stays a zombie: dead.
    return not [line for line in listing.stdout.splitlines()
                if line.split()[0] == str(pid) and not line.split()[1].startswith("Z")]


def _replay_in_fresh_process(name: str, schedule: str) -> str:
    return replay_in_fresh_process(__file__, name, schedule, hash_seed="7")


def test_hung_child_times_out_at_its_virtual_deadline_and_is_killed() -> None:
    STARTED.clear()
    result = sh.run_strategy(scenario_of(hung_child_killed_at_deadline), "default", FifoStrategy())
    assert result.failure is None, result.failure
    assert result.virtual_time == 5.0
    assert len(STARTED) == 1 and _gone(STARTED[0])
    assert _replay_in_fresh_process("hung-child-killed-at-deadline",
                                    result.schedule.encode()) == result.trace_hash


def test_output_of_two_children_arrives_in_explored_orders_and_replays() -> None:
    scenario = scenario_of(two_children)
    OUTPUT_ORDERS.clear()
    fifo = [sh.run_strategy(scenario, "default", FifoStrategy()) for _ in range(3)]
    assert OUTPUT_ORDERS == [("a", "b")] * 3
    assert len({r.trace_hash for r in fifo}) == 1
    OUTPUT_ORDERS.clear()
    exploration = explore_variant(scenario, "default", ExploreOptions(strategy="random", runs=20, seed=3))
    assert exploration.failure is None
    assert set(OUTPUT_ORDERS) == {("a", "b"), ("b", "a")}
    assert _replay_in_fresh_process("two-children", fifo[0].schedule.encode()) == fifo[0].trace_hash


def test_stdin_and_stdout_streams_work_unmodified() -> None:
    result = sh.run_strategy(scenario_of(stdin_conversation), "default", FifoStrategy())
    assert result.failure is None, result.failure


def test_children_never_outlive_a_failed_run() -> None:
    STARTED.clear()
    result = sh.run_strategy(scenario_of(fails_with_children_running), "default", FifoStrategy())
    assert result.failure is not None and result.failure.kind == "exception"
    assert "failed midway" in result.failure.message
    assert len(STARTED) == 1 and _gone(STARTED[0])


def test_a_silent_child_that_computes_is_not_taken_for_hung() -> None:
    """Silence alone is not a hang: a busy child (or one slow to start on a loaded
    machine) keeps the loop waiting instead of timing out on the virtual clock."""
    result = sh.run_strategy(scenario_of(silent_worker), "default", FifoStrategy())
    assert result.failure is None, result.failure
