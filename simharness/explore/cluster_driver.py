"""The Dask client lives in a helper process, never in the explorer.

The explorer enters run environments (virtual clock, watchdog signals) to replay and
shrink failures; a Dask client or `LocalCluster` in the same process runs its event
loop in background threads and must never see a virtual clock. So `ClusterExecutor`
starts `python -m simharness.explore.cluster_driver FD PARENT ADDRESS WORKERS`, which
owns the `cluster.DaskExecutor` and streams outcomes back. Killing the driver's
process group takes a local cluster's processes with it; the simharness worker
processes under them die with their parents (PDEATHSIG).
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait

from simharness.engine.realtime import monotonic
from simharness.errors import ConfigError, SimharnessError
from simharness.explore.campaign import Sink
from simharness.explore.schedules import CampaignSpec, ScheduleOutcome
from simharness.explore.helper import Helper

#: Seconds to import Dask and start or reach a cluster before giving up.
START_TIMEOUT_S = 60.0


class ClusterExecutor:
    """An executor whose batches run on a Dask cluster, driven from a helper process."""

    def __init__(self, address: str, workers: int = 2) -> None:
        self.address = address
        self._driver: Helper | None = Helper("simharness.explore.cluster_driver", address, str(workers))
        try:
            message = self._receive(START_TIMEOUT_S, f"starting the Dask client for {address}")
        except BaseException:
            self.close()
            raise
        if message[0] != "ready":
            self.close()
            raise ConfigError(f"--cluster: unexpected answer from the Dask driver: {message!r}")

    @classmethod
    def connect(cls, address: str) -> ClusterExecutor:
        return cls(address)

    @classmethod
    def local(cls, workers: int) -> ClusterExecutor:
        return cls("local", workers)

    def _receive(self, timeout_s: float | None, doing: str) -> tuple[object, ...]:
        driver = self._driver
        assert driver is not None
        deadline = None if timeout_s is None else monotonic() + timeout_s
        while True:
            left = None if deadline is None else max(0.0, deadline - monotonic())
            if not wait(driver.waitables(), timeout=left) and deadline is not None and monotonic() >= deadline:
                raise ConfigError(f"--cluster: no answer within {timeout_s:g} s while {doing}")
            try:
                if driver.conn.poll():
                    message = driver.conn.recv()
                elif driver.alive():
                    continue
                else:
                    raise EOFError
            except (EOFError, OSError):
                raise ConfigError(f"--cluster: the Dask driver process died while {doing} "
                                  f"(exit code {driver.exitcode})") from None
            if message[0] == "error":
                raise SimharnessError(str(message[1]))
            return tuple(message)

    def run(self, spec: CampaignSpec, indices: Sequence[int], *, stop_at_first: bool, sink: Sink) -> None:
        if self._driver is None:
            raise ConfigError("the Dask cluster executor is closed")
        try:
            self._driver.send(("run", spec, list(indices), stop_at_first))
            while True:
                message = self._receive(None, "running schedules")
                if message[0] == "done":
                    return
                for outcome in message[1]:  # type: ignore[attr-defined]
                    sink(outcome)
        except BaseException:
            self.close(wait_s=0.0)  # Ctrl-C or an error: stop the cluster's work now
            raise

    def close(self, wait_s: float = 10.0) -> None:
        """Ask the driver to close its client (and local cluster), then end its process group.

        With `wait_s=0` (an interrupt, an error) the driver is killed at once: its client
        goes with it, a local cluster too, and a remote cluster cancels what it ran for it.
        """
        driver, self._driver = self._driver, None
        if driver is None:
            return
        if wait_s > 0 and driver.send(None):
            driver.join(wait_s)
        driver.kill()


def driver_main(conn: Connection, parent: int, address: str, workers: int) -> None:
    from simharness.explore.cluster import DaskExecutor
    from simharness.explore.worker_main import _die_with_parent

    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        executor = DaskExecutor.local(workers) if address == "local" else DaskExecutor.connect(address)
    except SimharnessError as error:
        conn.send(("error", str(error)))
        return
    try:
        conn.send(("ready",))
        while True:
            try:
                message = conn.recv()
            except EOFError:
                return
            if message is None:
                return
            _, spec, indices, stop_at_first = message
            buffer: list[ScheduleOutcome] = []

            def flush() -> None:  # outcomes go back a batch at a time: the explorer's share stays small
                conn.send(("outcomes", list(buffer)))
                buffer.clear()

            try:
                executor.run(spec, indices, stop_at_first=stop_at_first, sink=buffer.append, flush=flush)
                conn.send(("done",))
            except SimharnessError as error:
                conn.send(("error", str(error)))
    except (BrokenPipeError, ConnectionResetError):
        return
    finally:
        executor.close()


if __name__ == "__main__":
    import sys

    driver_main(Connection(int(sys.argv[1])), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
