"""`--workers N`: schedules run in N worker processes, each a reused controlled loop.

Batches of run indices go to idle workers; every outcome comes back as soon as its
schedule is done, so when a worker dies (`os._exit`, SIGKILL, out of memory) the
first index of its batch without an outcome is the schedule that killed it. That
schedule is run once more in a fresh worker that reports each decision as it is
taken, which recovers the schedule up to the crash; the dead worker is replaced and
the rest of its batch requeued. Workers never outlive the pool: `close` (also on
Ctrl-C or an error) asks them to stop, then kills their process groups.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from typing import Any
from multiprocessing.connection import Connection, wait

from simharness.engine.realtime import monotonic
from simharness.engine.schedule import Decision, schedule_from
from simharness.errors import ConfigError, SimharnessError
from simharness.explore.campaign import Sink
from simharness.explore.schedules import CampaignSpec, ScheduleOutcome

#: `--workers` above this many per CPU is capped (schedules are CPU-bound).
MAX_WORKERS_PER_CPU = 4
#: Seconds a worker may take to re-run a schedule that killed another one.
RECORD_TIMEOUT_S = 120.0


def cpu_count() -> int:
    """CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def worker_limit() -> int:
    return MAX_WORKERS_PER_CPU * cpu_count()


def parse_workers(text: str) -> tuple[int, str | None]:
    """`--workers` value -> (workers, note or None). "auto" = CPUs; too many is capped."""
    value = text.strip().lower()
    if value == "auto":
        return cpu_count(), None
    try:
        count = int(value)
    except ValueError:
        raise ConfigError(f"--workers must be a number of processes or 'auto', got {text!r}") from None
    if count < 1:
        raise ConfigError(f"--workers must be at least 1 (or 'auto'), got {count}")
    if count > worker_limit():
        return worker_limit(), (f"--workers {count} capped to {worker_limit()} "
                                f"({MAX_WORKERS_PER_CPU} per CPU, {cpu_count()} CPUs)")
    return count, None


def crash_message(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"the worker process running this schedule was killed by {name}"
    return f"the worker process running this schedule exited with code {exitcode}"


class Helper:
    """A helper process (`python -m MODULE FD PARENT_PID ARGS...`) in its own process group,
    talking over a socket pair; by default a schedule worker (`worker_main`)."""

    def __init__(self, module: str = "simharness.explore.worker_main", *args: str) -> None:
        mine, theirs = socket.socketpair()
        try:
            # stdout goes to our stderr: whatever a scenario prints must not mix with --json output.
            self.process = subprocess.Popen(
                [sys.executable, "-m", module, str(theirs.fileno()), str(os.getpid()), *args],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=2, process_group=0,
                close_fds=True)
        finally:
            theirs.close()
        self.conn = Connection(mine.detach())
        self.sentinel: int | None = None
        try:
            self.sentinel = os.pidfd_open(self.process.pid)
        except (AttributeError, OSError):  # no pidfd: the socket's end of file says the same
            pass
        self.pending: deque[int] = deque()  # indices of the current batch without an outcome yet
        self.busy = False
        self.careful = False  # the current batch reports each outcome as soon as it is known

    def waitables(self) -> list[Any]:
        return [self.conn] + ([self.sentinel] if self.sentinel is not None else [])

    def alive(self) -> bool:
        return self.process.poll() is None

    @property
    def exitcode(self) -> int | None:
        return self.process.poll()

    def join(self, timeout: float) -> None:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass

    def send(self, message: object) -> bool:
        try:
            self.conn.send(message)
            return True
        except (BrokenPipeError, OSError):
            return False

    def kill(self) -> None:
        pid = self.process.pid
        for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
            try:
                kill()  # the group too: processes the scenario started
            except (ProcessLookupError, PermissionError):
                pass
        self.join(5)
        self.conn.close()
        if self.sentinel is not None:
            os.close(self.sentinel)
            self.sentinel = None


def batch_size(count: int, workers: int) -> int:
    """Small enough to balance load and stop early, big enough to cost nothing."""
    return max(1, min(64, -(-count // (workers * 8))))


class ProcessPool:
    """An executor running schedules in `workers` worker processes (started on first use)."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {workers}")
        self.workers = workers
        self._pool: list[Helper] = []
        self._recorded: dict[str, int] = {}  # crash message -> lowest index whose schedule was recorded

    def run(self, spec: CampaignSpec, indices: Sequence[int], *, stop_at_first: bool, sink: Sink) -> None:
        size = batch_size(len(indices), self.workers)
        queue: deque[tuple[list[int], bool]] = deque((list(indices[i:i + size]), False)
                                                     for i in range(0, len(indices), size))
        lowest: int | None = None
        try:
            while True:
                for worker in [w for w in self._pool if not w.busy and not w.alive()]:
                    worker.kill()  # died while idle: nothing of its own to report
                    self._pool.remove(worker)
                needed = min(self.workers, len(queue) + sum(w.busy for w in self._pool))
                while len(self._pool) < needed:
                    self._pool.append(Helper())
                for worker in self._pool:
                    if worker.busy or not queue:
                        continue
                    if stop_at_first and lowest is not None and queue[0][0][0] > lowest:
                        queue.clear()
                        break
                    batch, careful = queue.popleft()
                    worker.pending = deque(batch)
                    worker.careful = careful
                    worker.busy = True
                    worker.send(("batch", spec, batch, careful))
                busy = [w for w in self._pool if w.busy]
                if not busy:
                    return
                ready = set(wait([x for w in busy for x in w.waitables()]))
                for worker in busy:
                    if not ready.intersection(worker.waitables()):
                        continue
                    found = self._drain(worker, sink)
                    if not worker.alive():
                        crashed = self._replace(worker, spec, sink, queue)
                        found = crashed if found is None or (crashed is not None and crashed < found) else found
                    if stop_at_first and found is not None and (lowest is None or found < lowest):
                        lowest = found
                        for other in self._pool:
                            if other.busy:
                                other.send(("limit", lowest))
        except BaseException:
            self.close()
            raise

    def _drain(self, worker: Helper, sink: Sink) -> int | None:
        """Read what the worker sent; the lowest failing index among it, if any."""
        found = None
        try:
            while worker.conn.poll():
                message = worker.conn.recv()
                if message[0] == "outcomes":
                    for outcome in message[1]:
                        if worker.pending and worker.pending[0] == outcome.index:
                            worker.pending.popleft()
                        sink(outcome)
                        if outcome.failed and (found is None or outcome.index < found):
                            found = outcome.index
                elif message[0] == "done":
                    worker.busy = False
                    worker.pending.clear()
                elif message[0] == "error":
                    raise SimharnessError(message[1])
        except (EOFError, OSError):
            worker.join(5)
        return found

    def _replace(self, worker: Helper, spec: CampaignSpec, sink: Sink,
                 queue: deque[tuple[list[int], bool]]) -> int | None:
        """A worker died: find the schedule that killed it, report it as a crash, requeue the rest.

        Outcomes come back per batch, so the unreported part of a batch is first run
        again carefully (outcome by outcome); a worker that dies then names its killer.
        """
        worker.join(5)
        exitcode = worker.exitcode
        pending = list(worker.pending)
        worker.kill()
        self._pool.remove(worker)
        if not pending:
            return None
        if not worker.careful and len(pending) > 1:
            queue.appendleft((pending, True))
            return None
        killer = pending[0]
        message = crash_message(exitcode)
        lowest = self._recorded.get(message)
        if lowest is None or killer < lowest:  # only a row's first crash needs its schedule
            self._recorded[message] = killer
            sink(self._record_crash(spec, killer, message))
        else:
            sink(ScheduleOutcome(killer, "crash", "crash", message))
        if pending[1:]:
            queue.appendleft((pending[1:], False))
        return killer

    def _record_crash(self, spec: CampaignSpec, index: int, message: str) -> ScheduleOutcome:
        """Run schedule `index` again in a fresh worker, collecting its decisions until it dies."""
        recorder = Helper()
        decisions: list[Decision] = []
        deadline = monotonic() + RECORD_TIMEOUT_S
        note = ""
        try:
            recorder.send(("record", spec, index))
            while monotonic() < deadline:
                if not wait(recorder.waitables(), timeout=deadline - monotonic()):
                    break
                try:
                    while recorder.conn.poll():
                        message_ = recorder.conn.recv()
                        if message_[0] == "decision":
                            decisions.append(Decision(message_[1], message_[2], message_[3]))
                        elif message_[0] == "recorded":
                            again: ScheduleOutcome = message_[1]
                            note = f" (it did not kill the worker when run again: {again.outcome}" \
                                   f"{': ' + again.kind if again.kind else ''})"
                            return ScheduleOutcome(index, "crash", "crash", message + note, again.schedule,
                                                   "", again.decisions)
                        elif message_[0] == "error":
                            note = f" (running it again: {message_[1]})"
                            raise EOFError
                except (EOFError, OSError):
                    break
        finally:
            recorder.kill()
        schedule = schedule_from(spec.scenario, spec.variant, spec.settings.preemptive, decisions)
        return ScheduleOutcome(index, "crash", "crash", message + note, schedule.encode(), "", 0)

    def close(self) -> None:
        """Stop every worker (idempotent)."""
        pool, self._pool = self._pool, []
        for worker in pool:
            worker.send(None)
        for worker in pool:
            worker.join(1.0)
            worker.kill()

    def __enter__(self) -> ProcessPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
