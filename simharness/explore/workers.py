"""`--workers N`: schedules run in N worker processes, each a reused controlled loop.

Batches of run indices go to idle workers; outcomes come back per batch (a failure at
once). Each worker is a supervisor that forks the process running the schedules
(`worker_main.supervise`): when that one dies (`os._exit`, SIGKILL, out of memory)
the supervisor says so and forks the next, so a crash costs a fork, not a Python
start-up. The unreported part of the batch then runs again outcome by outcome, and
the schedule whose run dies is the crash; the lowest-index crash of each kind runs
once more reporting each decision as it is taken, which recovers its schedule up to
the crash. A worker whose supervisor itself dies is replaced. Workers never outlive the pool: `close` (also on
Ctrl-C or an error) asks them to stop, then kills their process groups.
"""

from __future__ import annotations

import os
import signal
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import wait

from simharness.engine.realtime import monotonic
from simharness.engine.schedule import Decision, schedule_from
from simharness.errors import ConfigError, SimharnessError
from simharness.explore.campaign import Sink
from simharness.explore.helper import Helper
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
                    if worker.died is not None or not worker.alive():
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
                elif message[0] == "died":  # the runner died; the supervisor forks the next one
                    worker.died = message[1]
                    break
        except (EOFError, OSError):
            worker.join(5)
        return found

    def _replace(self, worker: Helper, spec: CampaignSpec, sink: Sink,
                 queue: deque[tuple[list[int], bool]]) -> int | None:
        """A worker died: find the schedule that killed it, report it as a crash, requeue the rest.

        Outcomes come back per batch, so the unreported part of a batch is first run
        again carefully (outcome by outcome); a worker that dies then names its killer.
        """
        pending = list(worker.pending)
        exitcode: int | None
        if worker.died is not None:  # only its runner died: the worker goes on with a new one
            exitcode, worker.died = worker.died, None
            worker.busy, worker.pending = False, deque()
            recorder: Helper | None = worker
        else:
            worker.join(5)
            exitcode = worker.exitcode
            worker.kill()
            self._pool.remove(worker)
            recorder = None
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
            sink(self._record_crash(spec, killer, message, recorder))
        else:
            sink(ScheduleOutcome(killer, "crash", "crash", message))
        if pending[1:]:
            queue.appendleft((pending[1:], False))
        return killer

    def _record_crash(self, spec: CampaignSpec, index: int, message: str,
                      reuse: Helper | None = None) -> ScheduleOutcome:
        """Run schedule `index` again (in `reuse`, an idle worker, else a new one), collecting
        its decisions until it dies."""
        recorder = reuse or Helper()
        decisions: list[Decision] = []
        deadline = monotonic() + RECORD_TIMEOUT_S
        note = ""
        clean = False  # the recorder is idle again: a reused worker may stay
        try:
            recorder.send(("record", spec, index))
            while not clean and monotonic() < deadline:
                if not wait(recorder.waitables(), timeout=deadline - monotonic()):
                    break
                try:
                    while not clean and recorder.conn.poll():
                        answer = recorder.conn.recv()
                        if answer[0] == "decision":
                            decisions.append(Decision(answer[1], answer[2], answer[3]))
                        elif answer[0] == "died":
                            clean = True
                        elif answer[0] == "recorded":
                            clean = True
                            again: ScheduleOutcome = answer[1]
                            note = f" (it did not kill the worker when run again: {again.outcome}" \
                                   f"{': ' + again.kind if again.kind else ''})"
                            return ScheduleOutcome(index, "crash", "crash", message + note, again.schedule,
                                                   "", again.decisions)
                        elif answer[0] == "error":
                            clean = True
                            note = f" (running it again: {answer[1]})"
                except (EOFError, OSError):
                    break
        finally:
            if reuse is None or not clean:
                recorder.kill()
                if recorder in self._pool:
                    self._pool.remove(recorder)
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
