"""The default executor in simulation: one named thread per work item."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future as ConcurrentFuture
from typing import Any


_state = threading.local()


def mark_posts(kind: str | None) -> None:
    """Declare the current thread's loop posts as completions of independent operations.

    Such posts may overtake each other's (two operations running in parallel finish in
    either order); `kind` names them in options ("thread", "sqlite"); None undoes it.
    """
    _state.kind = kind


def posting_kind() -> str | None:
    """The completion kind declared for the current thread's posts, if any."""
    return getattr(_state, "kind", None)


class ThreadPerItemExecutor(Executor):
    """The default executor in simulation: one named thread per work item.

    Names are `simharness-work-N` in submission order, so a result's actor key does not
    depend on which pooled worker the operating system happened to wake.
    """

    def __init__(self) -> None:
        self._count = 0
        self._threads: list[threading.Thread] = []
        # Threads are started only after asyncio attached its done-callback to the
        # future (see `start_pending`): a thread finishing earlier would deliver its
        # result as a plain callback instead of a schedulable event.
        self._unstarted: list[threading.Thread] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> ConcurrentFuture[Any]:
        future: ConcurrentFuture[Any] = ConcurrentFuture()
        self._count += 1

        def work() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as error:
                outcome: tuple[Any, BaseException | None] = (None, error)
            else:
                outcome = (result, None)
            # Setting the future posts asyncio's completion callback to the loop: mark
            # it, since completions of parallel work items may arrive in either order.
            mark_posts("thread")
            try:
                if outcome[1] is not None:
                    future.set_exception(outcome[1])
                else:
                    future.set_result(outcome[0])
            finally:
                mark_posts(None)

        thread = threading.Thread(target=work, name=f"simharness-work-{self._count}", daemon=True)
        self._threads.append(thread)
        self._unstarted.append(thread)
        return future

    def start_pending(self) -> None:
        """Start the threads of items submitted since the last call."""
        pending, self._unstarted = self._unstarted, []
        for thread in pending:
            thread.start()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.start_pending()
        if wait:
            for thread in self._threads:
                thread.join(timeout=5.0)
