"""The worker process of `--workers N`: one reused controlled loop, batches in, outcomes out.

Protocol on the connection (pickled tuples), parent to worker:
  ("batch", spec, indices, careful)  run them in order; ("outcomes", [o, ...]) at the end
                             (at once after a failure, after each when careful), then ("done",)
  ("limit", index)           stop-at-first: skip the rest of the batch above `index`
  ("record", spec, index)    run one schedule sending ("decision", i, options, fp) per
                             decision, then ("recorded", o): used to recover the
                             schedule that killed another worker
  None                       exit
Worker to parent, on an error that is not a finding: ("error", message).

Started as `python -m simharness.explore.worker_main FD PARENT_PID` (FD: its end of a
socket pair): a supervisor (`supervise`) that forks the process serving the connection,
and forks another when that one dies, sending ("died", exit code) in its place. The
worker runs in its own process group (a terminal's Ctrl-C reaches only the explorer,
which then stops the workers), and each process dies with its parent (PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Sequence
from multiprocessing.connection import Connection

from simharness.engine.schedule import fingerprint
from simharness.engine.strategies.base import Option, Strategy
from simharness.errors import SimharnessError
from simharness.explore.schedules import CampaignSpec, ScheduleOutcome, ScheduleRunner, outcome_of

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the parent still closes the pipe
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


class _Recording:
    """Wraps a strategy and sends every decision to the parent as it is taken."""

    def __init__(self, inner: Strategy, conn: Connection) -> None:
        self.inner = inner
        self.name = inner.name
        self.conn = conn

    def begin_run(self, run_index: int) -> bool:
        return self.inner.begin_run(run_index)

    def choose(self, options: Sequence[Option]) -> int:
        chosen = self.inner.choose(options)
        self.conn.send(("decision", chosen, len(options), fingerprint(o.key for o in options)))
        return chosen

    def end_run(self) -> None:
        self.inner.end_run()


def _batch(runner: ScheduleRunner, conn: Connection, spec: CampaignSpec, indices: Sequence[int],
           careful: bool) -> None:
    """Run a batch; outcomes go back in one message at its end, or one by one when `careful`.

    A failure is sent at once (stop-at-first needs it early). The parent re-runs the
    unreported part of a batch whose worker died as a careful batch, to learn which
    schedule killed it.
    """
    limit = None
    done: list[ScheduleOutcome] = []
    for index in indices:
        while conn.poll():
            message = conn.recv()
            if message is None:
                raise SystemExit(0)
            if message[0] == "limit":
                limit = message[1] if limit is None else min(limit, message[1])
        if limit is not None and index > limit:
            break
        outcome = outcome_of(index, runner.run(spec, index))
        done.append(outcome)
        if careful or outcome.failed:
            conn.send(("outcomes", done))
            done = []
    conn.send(("outcomes", done))
    conn.send(("done",))


def worker_main(conn: Connection, parent: int) -> None:
    """Serve batches until told to stop or the parent goes away."""
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    runner = ScheduleRunner()
    try:
        while True:
            try:
                message = conn.recv()
            except EOFError:
                return
            if message is None:
                return
            try:
                if message[0] == "batch":
                    _batch(runner, conn, message[1], message[2], message[3])
                elif message[0] == "record":
                    spec, index = message[1], message[2]
                    result = runner.run(spec, index, wrap=lambda s: _Recording(s, conn))  # type: ignore[arg-type,return-value]
                    conn.send(("recorded", outcome_of(index, result)))
            except SimharnessError as error:
                conn.send(("error", str(error)))
            except Exception as error:  # a bug of simharness: still an answer, not a hang
                conn.send(("error", f"internal error in a worker: {type(error).__name__}: {error}"))
    except (BrokenPipeError, EOFError, ConnectionResetError):
        return
    finally:
        runner.close()


def supervise(conn: Connection, parent: int) -> None:
    """Fork a runner to serve the connection; when one dies, say so and fork the next.

    The supervisor never runs a schedule (it stays single-threaded, so forking it is
    safe), and a new runner costs a fork instead of a Python start-up: a scenario that
    kills its process on many schedules stays cheap. The runner that dies sends
    nothing more; the supervisor sends ("died", exit code) in its place.
    """
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    me = os.getpid()
    while True:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                worker_main(conn, me)
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code == 0:
            return  # told to stop, or the explorer went away
        try:
            conn.send(("died", code))
        except OSError:
            return


if __name__ == "__main__":
    import sys

    supervise(Connection(int(sys.argv[1])), int(sys.argv[2]))
