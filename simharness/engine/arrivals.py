"""Outside events waiting to complete: their per-actor order and their happens-before.

A *pending event* is a callback the outside world will deliver (a checkpoint
continuation, bytes on a simulated connection, a thread's result, a child's output).
Events of one actor (`key`) complete in the order they were posted: one stream, one
order. Events of different actors may complete in any order, with one exception:

Posts from threads (`call_soon_threadsafe`) keep the order in which they really
happened, because one may have caused the other (thread A posts X, then signals B,
which posts Y: Y can never overtake X). The only thread posts that may overtake each
other are *completions* of executor work items (the post that delivers a
`run_in_executor` / `to_thread` result when the function returns): two work items
run in parallel, so either may finish first, whatever synchronisation they did
before returning. Completions posted next to each other are put in a canonical
order (by actor), so what the loop sees does not depend on which thread the
operating system ran first.

Mechanism only: which head completes next is the strategy's decision.
"""

from __future__ import annotations

from collections import deque
from typing import Any


class PendingEvents:
    """The outside events posted but not yet delivered to the ready queue, in posting order."""

    def __init__(self) -> None:
        self._events: list[Any] = []
        # Posts from other threads (and from signal handlers) land here first; they join
        # the pending list at the next decision point, when every thread is quiet. A
        # deque: its append and popleft are atomic, so no lock is needed, and none may
        # be taken (a signal handler can run while the loop thread is in the middle of
        # admitting arrivals).
        self._arrivals: deque[Any] = deque()  # real posting order

    def __bool__(self) -> bool:
        return bool(self._events) or bool(self._arrivals)

    def add(self, handle: Any) -> None:
        """A post from the loop thread: it follows every earlier post of the same key."""
        handle.after = ()
        handle.not_before = 0
        self._events.append(handle)

    def arrive(self, handle: Any, completion: bool, not_before: int = 0) -> None:
        """A post from another thread; `completion` marks an executor work item's result,
        `not_before` the posting thread's virtual time (it completes no earlier)."""
        handle.completion = completion
        handle.not_before = not_before
        self._arrivals.append(handle)

    def admit_arrivals(self) -> None:
        """Move posts from threads into the pending list (call when threads are quiet)."""
        if not self._arrivals:
            return
        arrived: list[Any] = []
        while self._arrivals:
            arrived.append(self._arrivals.popleft())
        earlier = [h for h in self._events if getattr(h, "completion", None) is not None]
        ordered: list[Any] = []
        run: list[Any] = []  # consecutive completions: canonical order by actor
        for handle in arrived:
            if handle.completion:
                run.append(handle)
                continue
            ordered.extend(sorted(run, key=lambda h: h.key))
            run = []
            ordered.append(handle)
        ordered.extend(sorted(run, key=lambda h: h.key))
        for handle in ordered:
            handle.after = tuple(h for h in earlier if not (h.completion and handle.completion))
            earlier.append(handle)
        self._events.extend(ordered)

    def heads(self, now_ns: int) -> list[Any]:
        """The events that may complete next: the oldest live one of each key whose causes
        are out and whose thread's virtual time (`not_before`) has come."""
        live = [h for h in self._events if not h.cancelled()]
        self._events = live
        waiting = {id(h) for h in live}
        heads: list[Any] = []
        seen: set[str] = set()
        for handle in live:
            if handle.key in seen:  # the set is only asked, never iterated
                continue
            seen.add(handle.key)
            if (not any(id(cause) in waiting for cause in handle.after)
                    and handle.not_before <= now_ns):
                heads.append(handle)
        return heads

    def next_due(self, now_ns: int) -> int | None:
        """The earliest `not_before` still to come among pending events, or None."""
        due = [h.not_before for h in self._events if h.not_before > now_ns and not h.cancelled()]
        return min(due) if due else None

    def remove(self, handle: Any) -> None:
        self._events.remove(handle)

    def take_all(self) -> list[Any]:
        """Every pending event, in order (cleanup: no decisions any more)."""
        self.admit_arrivals()
        events, self._events = [h for h in self._events if not h.cancelled()], []
        return events
