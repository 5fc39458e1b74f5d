"""The bench's entries: each a real, publicly fixed concurrency bug and the releases around its fix.

One entry names its scenario file (in this folder), the PyPI package, the last release
with the bug and the first release with the fix, and where the fix is public. The
scenario file is the same for both: which release is installed in the venv that runs
it decides whether the bug is there. `install.py` builds one venv per (package,
version); `run.py` measures each entry in them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bug:
    """One bench entry: a scenario file run against the buggy and the fixed release of a package."""

    name: str
    package: str
    buggy: str
    fixed: str
    reference: str  # the public issue or fix commit

    @property
    def file(self) -> str:
        return f"{self.name}.py"


BUGS: tuple[Bug, ...] = (
    Bug("anyio_limiter_cancel_after_grant", "anyio", "4.9.0", "4.10.0",
        "https://github.com/agronholm/anyio/issues/947 (fix: PR #952, commit 19e54772)"),
    Bug("anyio_lock_cancelled_waiter_strands", "anyio", "4.13.0", "4.14.0",
        "https://github.com/agronholm/anyio/pull/1145 (commit f8b9f011)"),
    Bug("anyio_condition_notify_lost_on_cancel", "anyio", "4.12.1", "4.13.0",
        "https://github.com/agronholm/anyio/issues/1075 (fix: commit 9369d80b)"),
    Bug("anyio_limiter_overgrant", "anyio", "4.14.1", "4.14.2",
        "https://github.com/agronholm/anyio/issues/1170 (fix: PR #1172, commit 6bbc6c33)"),
    Bug("anyio_memory_stream_item_to_cancelled", "anyio", "4.3.0", "4.4.0",
        "https://github.com/agronholm/anyio/issues/728 (fix: PR #735, commit e7f750b9)"),
    Bug("anyio_lock_owned_by_cancelled_task", "anyio", "3.3.4", "3.4.0",
        "https://github.com/agronholm/anyio/issues/387 (fix: PR #388)"),
    Bug("anyio_lock_native_cancel_in_acquire", "anyio", "3.4.0", "3.5.0",
        "https://github.com/agronholm/anyio/issues/398 (fix: PR #399)"),
    Bug("anyio_start_cancelled_before_started", "anyio", "4.3.0", "4.4.0",
        "https://github.com/agronholm/anyio/issues/706 (fix: PR #707, commit e024e920)"),
    Bug("async_lru_evicted_while_pending", "async-lru", "2.0.2", "2.0.3",
        "https://github.com/aio-libs/async-lru/issues/480"),
    Bug("async_lru_clear_while_pending", "async-lru", "2.0.3", "2.0.4",
        "https://github.com/aio-libs/async-lru/issues/503 (fix: PR #506)"),
    Bug("httpcore_cancelled_queued_request", "httpcore", "0.14.6", "0.14.7",
        "https://github.com/encode/httpcore/pull/502"),
    Bug("janus_join_spins_on_stale_finished", "janus", "1.1.0", "1.2.0",
        "https://github.com/aio-libs/janus/issues/715 (fix: PR #716, commit a85cc40)"),
    Bug("redis_cancelled_command_off_by_one", "redis", "4.5.3", "4.5.4",
        "https://github.com/redis/redis-py/issues/2624 (CVE-2023-28859; fix: PR #2666)"),
    Bug("redis_cancel_then_close_leaks_task_error", "redis", "4.5.4", "4.5.5",
        "https://github.com/redis/redis-py/issues/2665 (fix: PR #2695)"),
    Bug("redis_cancelled_pipeline_off_by_one", "redis", "4.5.2", "4.5.5",
        "https://github.com/redis/redis-py/issues/2579 (CVE-2023-28858; fix: PR #2641 in 4.5.3, reworked by PR #2695 in 4.5.5)"),
)
