"""`--cluster ADDRESS`: batches of schedules on a Dask distributed cluster.

Each task runs one batch of run indices. On the Dask worker the batch runs in a
simharness worker process (one per Dask worker thread, kept between tasks): the
controlled loop patches process-wide state (clock, signals), so two batches must
never share a process, and a schedule that kills its process kills that worker
process only; it comes back as a `crash` outcome like with `--workers`.

Workers load the scenario by path: they must see the same files at the same paths
(a shared checkout or image). Before the first batch every Dask worker checks the
file exists and has the content hash the explorer loaded; one that does not stops
the campaign with a one-line error naming it. `distributed` is optional
(`pip install 'simharness[cluster]'`) and imported only here, only when used.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from simharness.errors import ConfigError, ScenarioLoadError, SimharnessError
from simharness.explore.campaign import Sink
from simharness.explore.schedules import CampaignSpec, ScheduleOutcome, file_sha256

#: Seconds to wait for a scheduler before giving up on its address.
CONNECT_TIMEOUT_S = 3.0
#: Most schedules per task: big enough to make a task's overhead vanish.
MAX_BATCH = 256

_local = threading.local()
#: Every pool this Dask worker process started, with the lock its batches hold while running.
_pools: dict[Any, threading.Lock] = {}
_pools_lock = threading.Lock()


# ----- on the Dask workers ---------------------------------------------------------------------
def _pool() -> tuple[Any, threading.Lock]:
    from simharness.explore.workers import ProcessPool
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = ProcessPool(1)
        with _pools_lock:
            _pools[pool] = threading.Lock()
    with _pools_lock:
        if pool not in _pools:  # closed at the end of an earlier campaign: usable again
            _pools[pool] = threading.Lock()
        return pool, _pools[pool]


def run_isolated_batch(spec: CampaignSpec, indices: Sequence[int], stop_at_first: bool) -> list[ScheduleOutcome]:
    """A Dask task: run a batch in this Dask worker's simharness worker process."""
    outcomes: list[ScheduleOutcome] = []
    pool, busy = _pool()
    with busy:
        pool.run(spec, list(indices), stop_at_first=stop_at_first, sink=outcomes.append)
    return outcomes


def check_files(source_file: str, sha256: str) -> str:
    """Run on every Dask worker before the first batch: "" when the scenario file is the same here."""
    digest = file_sha256(source_file)
    if not digest:
        return f"cannot read {source_file}"
    if digest != sha256:
        return f"{source_file} differs from the explorer's copy"
    return ""


def close_pools() -> int:
    """Stop this Dask worker's idle simharness worker processes (at the end of a campaign).

    A pool running a batch of another campaign sharing the cluster is left alone.
    """
    closed = 0
    with _pools_lock:
        for pool, busy in list(_pools.items()):
            if busy.acquire(blocking=False):
                try:
                    pool.close()  # the pool object stays usable: it starts new processes if given work
                    del _pools[pool]
                    closed += 1
                finally:
                    busy.release()
    return closed


# ----- in the explorer -------------------------------------------------------------------------
def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ConfigError("--cluster needs Dask: pip install 'simharness[cluster]'") from None
    return distributed


class DaskExecutor:
    """An executor sending batches of schedules to a Dask cluster."""

    def __init__(self, client: Any, cluster: Any = None) -> None:
        self.client = client
        self.cluster = cluster
        self._checked: set[tuple[str, str]] = set()

    @classmethod
    def connect(cls, address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> DaskExecutor:
        """Connect to a running scheduler; a one-line error within `timeout_s` when it is not there."""
        distributed = _distributed()
        if not address.strip() or any(c.isspace() for c in address):
            raise ConfigError(f"--cluster must be a scheduler address like tcp://host:8786 or 'local', got {address!r}")
        try:
            client = distributed.Client(address, timeout=timeout_s, set_as_default=False)
        except Exception as error:  # OSError, TimeoutError, ValueError: all "no cluster there"
            detail = " ".join(str(error).split())[:200] or type(error).__name__
            raise ConfigError(f"cannot reach a Dask scheduler at {address} within {timeout_s:g} s ({detail})") from None
        return cls(client)

    @classmethod
    def local(cls, workers: int) -> DaskExecutor:
        """Start a `LocalCluster` of `workers` one-thread worker processes on this machine."""
        distributed = _distributed()
        # Threads are enough: every batch runs in a simharness worker process of its own thread.
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=False,
                                           dashboard_address=None, silence_logs=logging.ERROR)
        try:
            return cls(distributed.Client(cluster, set_as_default=False), cluster)
        except BaseException:
            cluster.close()
            raise

    def _slots(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def _check(self, spec: CampaignSpec) -> None:
        key = (spec.source_file, spec.source_sha256)
        if key in self._checked:
            return
        try:
            answers = self.client.run(check_files, spec.source_file, spec.source_sha256)
        except Exception as error:
            raise ConfigError(f"the Dask workers cannot run simharness ({type(error).__name__}: {error}); "
                              "install simharness on every worker") from None
        if not answers:
            raise ConfigError("the Dask cluster has no workers")
        for worker, problem in sorted(answers.items()):
            if problem:
                raise ScenarioLoadError(f"Dask worker {worker} cannot load the scenario: {problem} "
                                        "(workers must see the same files at the same paths)")
        self._checked.add(key)

    def run(self, spec: CampaignSpec, indices: Sequence[int], *, stop_at_first: bool, sink: Sink,
            flush: Callable[[], object] | None = None) -> None:
        """Run the batches on the cluster; `flush` is called after each batch's outcomes went to `sink`."""
        distributed = _distributed()
        self._check(spec)
        slots = self._slots()
        size = max(1, min(MAX_BATCH, -(-len(indices) // (slots * 4))))
        batches = [list(indices[i:i + size]) for i in range(0, len(indices), size)]
        started: dict[Any, int] = {}  # in-flight future -> first index of its batch

        def submit() -> None:
            batch = batches.pop(0)
            future = self.client.submit(run_isolated_batch, spec, batch, stop_at_first, pure=False,
                                        key=f"simharness-{spec.scenario}-{batch[0]}-{uuid.uuid4().hex}")
            started[future] = batch[0]

        try:
            with self.client.as_current():
                self._loop(distributed, batches, started, submit, sink, stop_at_first, slots, flush)
        except BaseException:
            for future in started:
                future.cancel()
            raise

    @staticmethod
    def _loop(distributed: Any, batches: list[list[int]], started: dict[Any, int], submit: Any, sink: Sink,
              stop_at_first: bool, slots: int, flush: Callable[[], object] | None) -> None:
        lowest: int | None = None
        while batches or started:
            while batches and len(started) < 2 * slots:
                submit()
            done = distributed.wait(list(started), return_when="FIRST_COMPLETED").done
            for future in sorted(done, key=lambda f: started[f]):
                started.pop(future)
                try:
                    outcomes = future.result()
                except SimharnessError:
                    raise
                except Exception as error:
                    raise ConfigError(f"a Dask task failed: {type(error).__name__}: {error}") from None
                for outcome in outcomes:
                    sink(outcome)
                    if stop_at_first and outcome.failed and (lowest is None or outcome.index < lowest):
                        lowest = outcome.index
                if flush is not None:
                    flush()
            if lowest is not None:  # batches above the lowest failure cannot change the answer
                batches[:] = [b for b in batches if b[0] < lowest]
                for other, first in list(started.items()):
                    if first > lowest:
                        other.cancel()
                        started.pop(other)

    def close(self) -> None:
        """Stop the simharness worker processes on the cluster, disconnect, stop a local cluster."""
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.run(close_pools)
        except Exception:
            pass  # the cluster is gone: its workers took their processes with them (PDEATHSIG)
        finally:
            client.close()
            if self.cluster is not None:
                self.cluster.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
