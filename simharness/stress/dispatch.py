"""The parallel dispatcher: worker slots taking jobs from one queue.

It is written against seed 001's dispatcher bugs: every wait has a deadline (a hung
worker is killed with its process group at --timeout and its run recorded as
`timeout`); a worker that dies mid-run has that run recorded as `crash` and the
rest of its job handed to a fresh worker; no failure of one run or slot stops the
others (each slot catches everything around a job); a stop request (Ctrl-C) kills
every worker, so no process of the run survives it.
"""

from __future__ import annotations

import queue
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from simharness.real.protocol import RealJob, RunOutcome, SimJob
from simharness.engine.realtime import monotonic
from simharness.stress.workers import WorkerDied, WorkerProcess, describe_exit

Job = RealJob | SimJob

#: How long a fresh worker may take to import simharness and say it is ready.
_START_S = 60.0
_TAIL_BYTES = 2000


@dataclass(frozen=True)
class RealRecord:
    """One finished real run, as the dispatcher hands it to the collector."""

    job: RealJob
    outcome: RunOutcome
    worker_pid: int
    output_tail: str


@dataclass(frozen=True)
class SimRecord:
    """One finished simulated exploration (or its crash/timeout)."""

    job: SimJob
    document: dict[str, Any]     # {"runs", "explorations", "found"} from the worker
    error: str | None            # set when the worker crashed or hung instead
    worker_pid: int


@dataclass(frozen=True)
class SkipRecord:
    """Runs not done because their variant already timed out too often at that level."""

    job: RealJob
    indices: tuple[int, ...]
    reason: str


@dataclass(frozen=True)
class TimingRecord:
    """The timings a timed job runs under (a buggy variant's failures as durations), or why none."""

    job: RealJob
    timings: tuple[dict[str, Any], ...]   # {"schedule", "delays", "statement"}
    reason: str


Sink = Callable[[RealRecord | SimRecord | SkipRecord | TimingRecord], None]

#: Timeouts of one variant at one level after which its remaining runs are skipped: each
#: costs a full --timeout, and more of them add no evidence (a hang is a hang).
TIMEOUT_LIMIT = 3


def _tail(directory: Path) -> str:
    log = directory / "output.log"
    try:
        with open(log, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - _TAIL_BYTES))
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


class Dispatcher:
    """Runs every job on `workers` slots; records each run through `sink` as it ends."""

    def __init__(self, jobs: list[Job], workers: int, session_dir: Path, timeout_s: float,
                 sim_timeout_s: float, sink: Sink) -> None:
        self._queue: queue.Queue[Job] = queue.Queue()
        for job in jobs:
            self._queue.put(job)
        self.slots = workers
        self.session_dir = session_dir
        self.timeout_s = timeout_s
        self.sim_timeout_s = sim_timeout_s
        self.sink = sink
        self.stop = threading.Event()
        self.errors: list[str] = []  # dispatcher-level problems (never silently dropped)
        self._timeouts: dict[tuple[str, str, int, str], int] = {}  # timed runs counted apart
        self._timeouts_lock = threading.Lock()
        # What each exploration found ((scenario, variant) -> failing schedule or None): a
        # timed job of that variant's scenario takes it instead of exploring again.
        self._explored: dict[tuple[str, str], dict[str, Any]] = {}
        self._threads = [threading.Thread(target=self._slot, args=(i,), name=f"stress-slot-{i}", daemon=True)
                         for i in range(workers)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def join(self, timeout_s: float) -> None:
        for thread in self._threads:
            if thread.ident is not None:  # an interrupt can come before (or while) they start
                thread.join(timeout_s)

    # -- one slot ---------------------------------------------------------------------

    def _slot(self, number: int) -> None:
        worker: WorkerProcess | None = None
        try:
            while not self.stop.is_set():
                try:
                    job: Job | None = self._queue.get_nowait()
                except queue.Empty:
                    break
                while job is not None and not self.stop.is_set():
                    try:
                        if worker is None:
                            worker = self._spawn(number)
                        job, worker = self._run(worker, job)
                    except Exception as error:  # keep the slot alive; say what happened
                        self.errors.append(f"slot {number}: {type(error).__name__}: {error}")
                        if worker is not None:
                            worker.kill()
                            worker = None
                        job = None
        finally:
            if worker is not None:
                if self.stop.is_set():
                    worker.kill()
                else:
                    worker.stop()

    def _spawn(self, number: int) -> WorkerProcess:
        worker = WorkerProcess(self.session_dir / f"worker-{number}.log")
        try:
            message = worker.receive(monotonic() + _START_S, poll_s=_START_S)
        except WorkerDied:
            message = None
        if message is None or message.get("type") != "ready":
            worker.kill()
            raise RuntimeError(f"worker did not start ({describe_exit(worker.exit_status)}); "
                               f"see {worker.log_path}")
        return worker

    def _run(self, worker: WorkerProcess, job: Job) -> tuple[Job | None, WorkerProcess | None]:
        if isinstance(job, RealJob):
            return self._run_real(worker, job)
        return self._run_sim(worker, job)

    def _gone(self, worker: WorkerProcess) -> str:
        status = worker.wait(2.0)
        if status is None:
            worker.kill()
            status = worker.exit_status
        return describe_exit(status)

    def _skip_rest(self, job: RealJob, remaining: list[Any]) -> bool:
        """Skip `remaining` runs (recording that) if the variant timed out too often here."""
        with self._timeouts_lock:
            count = self._timeouts.get((job.scenario, job.variant, job.concurrency, job.timing_from), 0)
        if count < TIMEOUT_LIMIT or not remaining:
            return False
        self.sink(SkipRecord(job, tuple(r.index for r in remaining),
                             f"skipped after {count} timeouts at concurrency {job.concurrency}"))
        for spec in remaining:
            shutil.rmtree(spec.directory, ignore_errors=True)
        remaining.clear()
        return True

    def _record_real(self, job: RealJob, outcome: RunOutcome, worker: WorkerProcess) -> None:
        if outcome.kind == "timeout":
            key = (job.scenario, job.variant, job.concurrency, job.timing_from)
            with self._timeouts_lock:
                self._timeouts[key] = self._timeouts.get(key, 0) + 1
        directory = Path(next(r.directory for r in job.runs if r.index == outcome.index))
        tail = _tail(directory)
        shutil.rmtree(directory, ignore_errors=True)
        self.sink(RealRecord(job, outcome, worker.pid, tail))

    def _with_found(self, job: RealJob) -> RealJob:
        """A timed job, given the failure the simulated half already found (if it is done)."""
        key = (job.scenario, job.timing_from)
        if not job.timing_from or key not in self._explored:
            return job
        document = self._explored[key]
        found = (document.get("found") or {}).get("schedule")
        others = tuple(s for s in job.timing_schedules if s != found)
        if "timings" in document:  # the simulated half restated its failure already
            return replace(job, timing_runs=0, timing_schedules=others, known_timings=tuple(document["timings"]),
                           known_reason=document.get("timing_reason", ""))
        return replace(job, timing_runs=0, timing_schedules=((found,) if found else ()) + others)

    def _run_real(self, worker: WorkerProcess, job: RealJob) -> tuple[Job | None, WorkerProcess | None]:
        job = self._with_found(job)
        remaining = list(job.runs)
        if self._skip_rest(job, remaining):
            return None, worker
        current = remaining[0].index
        try:
            worker.send(job.to_message())
        except WorkerDied:
            self._gone(worker)
            return job, None
        deadline = monotonic() + self.timeout_s + _START_S / 4  # first run includes the import
        while not self.stop.is_set():
            try:
                message = worker.receive(deadline)
            except WorkerDied:
                how = self._gone(worker)
                if remaining and remaining[0].index == current:
                    spec = remaining.pop(0)
                    self._record_real(job, RunOutcome(
                        index=spec.index, seed=spec.seed, kind="crash",
                        message=f"worker process died during the run ({how})", duration_s=0.0,
                        concurrency=job.concurrency, failed_copies=job.concurrency), worker)
                self._skip_rest(job, remaining)
                return (replace(job, runs=tuple(remaining)) if remaining else None), None
            if message is None:
                if monotonic() < deadline:
                    continue
                worker.kill()
                spec = remaining.pop(0)
                self._record_real(job, RunOutcome(
                    index=spec.index, seed=spec.seed, kind="timeout",
                    message=(f"run did not finish within --timeout {self.timeout_s:g} s: worker "
                             f"{worker.pid} and its process group killed"),
                    duration_s=self.timeout_s, concurrency=job.concurrency,
                    failed_copies=job.concurrency), worker)
                self._skip_rest(job, remaining)
                return (replace(job, runs=tuple(remaining)) if remaining else None), None
            kind = message["type"]
            if kind == "start":
                current = message["index"]
                deadline = monotonic() + self.timeout_s
            elif kind == "progress":  # a timed job finding its timing in simulation: an exploration's deadline
                deadline = monotonic() + self.sim_timeout_s
            elif kind == "timing":
                self.sink(TimingRecord(job, tuple(message["timings"]), message["reason"]))
            elif kind == "skip":
                skipped = set(message["indices"])
                self.sink(SkipRecord(job, tuple(r.index for r in remaining if r.index in skipped),
                                     message["reason"]))
                remaining = [r for r in remaining if r.index not in skipped]
            elif kind == "result":
                outcome = RunOutcome.from_message(message)
                remaining = [r for r in remaining if r.index != outcome.index]
                current = -1
                self._record_real(job, outcome, worker)
                if outcome.kind == "timeout" and self._skip_rest(job, remaining):
                    worker.kill()  # it would go on with runs we just skipped
                    return None, None
                deadline = monotonic() + self.timeout_s
            elif kind == "done":
                # A retiring worker stops after the run that spoiled it: the rest of the
                # job goes to a fresh worker.
                rest = replace(job, runs=tuple(remaining)) if remaining else None
                if message.get("retire"):
                    self._gone(worker)
                    return rest, None
                return rest, worker
            elif kind == "error":
                raise RuntimeError(message.get("message", "worker error"))
        return None, worker

    def _run_sim(self, worker: WorkerProcess, job: SimJob) -> tuple[Job | None, WorkerProcess | None]:
        try:
            worker.send(job.to_message())
        except WorkerDied:
            self._gone(worker)
            return job, None
        deadline = monotonic() + self.sim_timeout_s
        while not self.stop.is_set():
            try:
                message = worker.receive(deadline)
            except WorkerDied:
                how = self._gone(worker)
                self.sink(SimRecord(job, {}, f"worker process died while exploring ({how})", worker.pid))
                return None, None
            if message is None:
                if monotonic() < deadline:
                    continue
                worker.kill()
                self.sink(SimRecord(job, {}, f"exploration sent no progress for {self.sim_timeout_s:g} s: "
                                             "worker and its process group killed", worker.pid))
                return None, None
            if message["type"] == "progress":
                deadline = monotonic() + self.sim_timeout_s
            elif message["type"] == "sim-result":
                document = {k: v for k, v in message.items() if k not in ("type", "error")}
                if message.get("error") is None:
                    self._explored[(job.scenario, job.variant)] = document
                self.sink(SimRecord(job, document, message.get("error"), worker.pid))
            elif message["type"] == "done":
                return None, worker
            elif message["type"] == "error":
                raise RuntimeError(message.get("message", "worker error"))
        return None, worker

    def kill_all(self) -> None:
        """Stop every slot now; each kills its own worker on the way out."""
        self.stop.set()
