"""A stress worker process: `python -m simharness.real.worker JOB_FD RESULT_FD`.

The supervisor starts it in a new session (its own process group) and sends jobs as
JSON lines on JOB_FD; results go back on RESULT_FD. Scenario output never touches
the protocol: during a run, fds 1 and 2 point at the run's own `output.log`. Every
run gets its own directory as cwd and its own TMPDIR inside it, and after every run
the worker checks what the run left behind (`leaks.find_leaks`). A worker whose
state is suspect after a run (a blocked loop, a leak it cannot undo) says `retire`
and exits; the supervisor starts a fresh one.
"""

from __future__ import annotations

import ctypes
import faulthandler
import os
import signal
import sys
import tempfile
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from simharness.discovery import load_file
from simharness.errors import SimharnessError
from simharness.scenario import Scenario
from simharness.real import leaks
from simharness.real.execute import run_copies, warm_up
from simharness.real.loopwatch import LoopWatch
from simharness.real.protocol import RealJob, RunOutcome, RunSpec, SimJob, decode, encode
from simharness.real.simjob import explore_for_stress
from simharness.real.timed import FoundTiming, found_timings, timings_of


_PR_SET_PDEATHSIG = 1


class Channel:
    """The worker's end of the protocol: read jobs, write messages (thread-safe)."""

    def __init__(self, job_fd: int, result_fd: int) -> None:
        os.set_inheritable(job_fd, False)  # a scenario's child must not read our jobs
        os.set_inheritable(result_fd, False)
        self._jobs = os.fdopen(job_fd, "rb")
        self._result_fd = result_fd
        self._lock = threading.Lock()

    def read(self) -> dict[str, Any] | None:
        line = self._jobs.readline()
        return decode(line) if line else None

    def send(self, message: dict[str, Any]) -> None:
        data = encode(message)
        with self._lock:
            while data:
                data = data[os.write(self._result_fd, data):]


class Worker:
    """Runs jobs one at a time, each run isolated in its own directory and output file."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.home = os.getcwd()
        # Our own stdout/stderr (the worker log), restored after each run's redirection.
        self.saved_out = os.dup(1)
        self.saved_err = os.dup(2)
        os.set_inheritable(self.saved_out, False)
        os.set_inheritable(self.saved_err, False)
        self.current: tuple[RealJob, RunSpec] | None = None
        self.watch = LoopWatch(self._give_up)
        self.timings: dict[tuple[Any, ...], tuple[tuple[FoundTiming, ...], str]] = {}
        leaks.become_subreaper()
        faulthandler.enable()  # a segfault's traceback lands in the run's output.log

    def _scenario(self, source_file: str, name: str) -> Scenario:
        for declared in load_file(source_file):
            if declared.name == name:
                return declared
        raise SimharnessError(f"{source_file} has no scenario {name!r}")

    def _give_up(self, message: str) -> None:
        """Watchdog thread: the loop stays blocked after the interrupt; report and exit."""
        current = self.current
        if current is not None:
            job, spec = current
            leaks.kill_tree(os.getpid())
            self.channel.send(RunOutcome(
                index=spec.index, seed=spec.seed, kind="blocked-loop",
                message=message + " (the interrupt did not unblock it: worker replaced)",
                duration_s=0.0, concurrency=job.concurrency, failed_copies=job.concurrency,
                retire=True).to_message())
        os._exit(3)

    def _timings(self, scenario: Scenario, job: RealJob) -> tuple[FoundTiming, ...] | None:
        """The timings of a timed job (cached: every job of the variant needs the same), or None."""
        key = (job.source_file, job.scenario, job.timing_from, job.timing_runs, job.timing_schedules)
        if job.known_timings is not None and key not in self.timings:  # worked out by the simulated half
            stored = timings_of(scenario, job.timing_from, job.timing_schedules) if job.timing_schedules else ((), "")
            reason = "; ".join(r for r in (job.known_reason, stored[1]) if r)
            self.timings[key] = (tuple(FoundTiming(**t) for t in job.known_timings) + stored[0], reason)
        if key not in self.timings:
            def progress(done: int, planned: int) -> None:  # the supervisor's deadline moves on
                self.channel.send({"type": "progress", "done": done, "planned": planned})

            progress(0, job.timing_runs)
            self.timings[key] = found_timings(scenario, job.timing_from, job.timing_runs, job.timing_schedules,
                                              progress)
        timings, reason = self.timings[key]
        self.channel.send({"type": "timing", "timings": [asdict(t) for t in timings], "reason": reason})
        if not timings:
            self.channel.send({"type": "skip", "indices": [s.index for s in job.runs],
                               "reason": f"no timing to run under: {reason}"})
            return None
        return timings

    def run_real(self, job: RealJob) -> bool:
        """Do every run of the job; return False when this worker must retire."""
        scenario = self._scenario(job.source_file, job.scenario)
        timings = self._timings(scenario, job) if job.timing_from else ()
        if timings is None:
            return True
        warm_up(job.loop)  # before any run's baseline: the loop kind's lasting resources
        for spec in job.runs:
            self.channel.send({"type": "start", "index": spec.index})
            # Runs of a timed job take turns among the timings of every failure found.
            delays = timings[(spec.index - 1) % len(timings)].delays if timings else None
            outcome = self._one_run(scenario, job, spec, delays)
            self.channel.send(outcome.to_message())
            if outcome.retire:
                return False
        return True

    def _one_run(self, scenario: Scenario, job: RealJob, spec: RunSpec,
                 delays: dict[str, float] | None = None) -> RunOutcome:
        directory = Path(spec.directory)
        temp = directory / "tmp"
        temp.mkdir(parents=True, exist_ok=True)
        os.chdir(directory)
        tempfile.tempdir = str(temp)
        os.environ["TMPDIR"] = str(temp)
        log = os.open(directory / "output.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        self.current = (job, spec)
        before = leaks.snapshot()
        try:
            result = run_copies(
                scenario, job.variant, concurrency=job.concurrency, noise=job.noise, seed=spec.seed,
                loop_kind=job.loop, soft_timeout_s=job.soft_timeout_s, blocked_loop_s=job.blocked_loop_s,
                watch=self.watch, delays=delays)
            found = leaks.find_leaks(before, temp)
        finally:
            self.current = None
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(self.saved_out, 1)
            os.dup2(self.saved_err, 2)
            os.chdir(self.home)
            tempfile.tempdir = None
            os.environ.pop("TMPDIR", None)
        kind, message = result.kind, result.message
        if found.found and kind is None:
            kind, message = "leak", "; ".join(found.found)
        return RunOutcome(
            index=spec.index, seed=spec.seed, kind=kind, message=message,
            duration_s=round(result.duration_s, 6), concurrency=job.concurrency,
            failed_copies=result.failed_copies, leaks=found.found, traceback=result.traceback,
            # A leaked thread or descriptor cannot be undone from here: start afresh.
            retire=result.retire or found.lasting)

    def run_sim(self, job: SimJob) -> None:
        scenario = self._scenario(job.source_file, job.scenario)

        def progress(done: int, planned: int) -> None:
            self.channel.send({"type": "progress", "done": done, "planned": planned})

        try:
            document = explore_for_stress(scenario, job.variant, job.runs, job.seed, progress)
            found = document.get("found")
            if found and scenario.expectation(job.variant) == "fail" and "real" in scenario.options.get(
                    "backends", ("sim", "real")):
                # Once here, for every timed job of the scenario (each would replay it twice).
                timings, reason = timings_of(scenario, job.variant, (found["schedule"],))
                document["timings"], document["timing_reason"] = [asdict(t) for t in timings], reason
        except Exception as error:  # a tool error while exploring: report it, keep serving
            self.channel.send({"type": "sim-result", "error": f"{type(error).__name__}: {error}"})
            return
        self.channel.send({"type": "sim-result", **document})

    def serve(self) -> None:
        self.channel.send({"type": "ready", "pid": os.getpid()})
        while True:
            message = self.channel.read()
            if message is None or message["type"] == "exit":
                return
            if message["type"] == "real":
                keep = self.run_real(RealJob.from_message(message))
            else:
                self.run_sim(SimJob.from_message(message))
                keep = True
            self.channel.send({"type": "done", "job_id": message["job_id"], "retire": not keep})
            if not keep:
                return


def _die_with_parent(parent: int) -> None:
    """End this worker, and everything it started, as soon as the stress process is gone.

    A SIGKILLed supervisor cannot kill its workers, and a worker in the middle of a
    hung run would never read the end of its job pipe: the kernel sends SIGTERM when
    the supervisor's thread that started us ends (Linux `PR_SET_PDEATHSIG`), and the
    handler kills our descendants before exiting. (No watcher thread: faulthandler's
    dump of a crash would grow by one thread.)
    """
    def gone(signum: int, frame: object) -> None:
        leaks.kill_tree(os.getpid())
        os._exit(4)

    signal.signal(signal.SIGTERM, gone)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if parent and os.getppid() != parent:  # it died before the request took effect
        gone(signal.SIGTERM, None)


def main(argv: list[str]) -> int:
    _die_with_parent(int(argv[2]) if len(argv) > 2 else 0)
    channel = Channel(int(argv[0]), int(argv[1]))
    try:
        Worker(channel).serve()
    except SimharnessError as error:
        channel.send({"type": "error", "message": str(error)})
        return 2
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit: interpreter shutdown would join a thread a scenario leaked, forever.
    os._exit(code)
