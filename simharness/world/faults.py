"""Network faults as explorer choices: refused, reset, stalled and partitioned connections.

Off unless a scenario declares them (`@scenario(faults=("reset", ...))`); a run may narrow
the declared set (`simharness explore --faults reset`, `RunSettings.fault_selection`,
which the run hands the loop as `scenario_options["faults"]`).

A fault is never a separate mechanism: it is an *alternative* to a network event. Beside
the event the network posts anyway (a connection attempt reaching the listener, a
delivery of bytes), it posts one event per enabled fault, each on its own key, right
after it. Whichever of the group the strategy releases first runs and cancels the
others. The real event comes first, so it is option 0: the default order and every
shrunk schedule take it, and a fault is always a recorded non-default decision that
shrinking removes when the failure does not need it. Its label is what the explanation
prints ("conn-2 127.0.0.1:50001 -> 127.0.0.1:6379: reset after 3 bytes (fault)").

Every fault is something a real network does to a TCP connection: a connection attempt
answered with RST (a firewall, a listener restarting), an RST in the middle of a
stream (a middlebox, a crashed peer's kernel), a peer process that stops reading for
longer than any timer of the run (it reads again only when nothing else can happen,
see `Network.idle`), a partition that holds both directions for `partition_s` (default
1 s) of virtual time and then lets the retransmitted bytes through.
"""

from __future__ import annotations

import asyncio
import errno
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simharness.scenario import fault_target
from simharness.world.sockets import sockaddr

if TYPE_CHECKING:
    from simharness.engine.loop import ControlledLoop
    from simharness.world.transport import Pipe

#: How long a partition holds a connection unless the scenario says (`partition_s=`).
DEFAULT_PARTITION_S = 1.0
#: Faults one run may meet unless the scenario says (`max_faults=`): a network that fails
#: every exchange would make runs endless (a retry loop meets a fault on every attempt).
DEFAULT_MAX_FAULTS = 2

_used: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()  # faults met, per run's loop


def enabled(loop: ControlledLoop) -> tuple[str, ...]:
    """The fault specs this run may still inject (declared or narrowed by the run, within its budget)."""
    budget = int(loop.scenario_options.get("max_faults", DEFAULT_MAX_FAULTS))
    if _used.get(loop, 0) >= budget:
        return ()
    return tuple(loop.scenario_options.get("faults", ()))


def _wanted(specs: tuple[str, ...], name: str, server: tuple[Any, ...]) -> bool:
    """Whether a spec of fault `name` covers a connection to `server` (host, port, ...)."""
    for spec in specs:
        fault, host, port = fault_target(spec)
        if fault == name and port in (None, server[1]) and (
                host is None or host == server[0] or (host == "localhost" and server[0] in ("127.0.0.1", "::1"))):
            return True
    return False


def _count(loop: ControlledLoop) -> None:
    _used[loop] = _used.get(loop, 0) + 1


Alternative = tuple[str, str, Callable[..., None], tuple[Any, ...]]


def post_with_alternatives(loop: ControlledLoop, key: str, label: str, callback: Callable[..., None],
                           args: tuple[Any, ...], alternatives: list[Alternative]) -> None:
    """Post `callback(*args)` as an "io" event and each (suffix, label, fn, args) beside it.

    The first of the group to run cancels the rest.
    """
    group: list[asyncio.Handle] = []

    def first(index: int, fn: Callable[..., None], *call_args: Any) -> None:
        for other, handle in enumerate(group):
            if other != index:
                handle.cancel()
        if index:
            _count(loop)
        fn(*call_args)

    group.append(loop.post_event("io", key, label, first, 0, callback, *args))
    for index, (suffix, alt_label, fn, alt_args) in enumerate(alternatives, 1):
        group.append(loop.post_event("io", f"{key}!{suffix}", alt_label, first, index, fn, *alt_args))


# ----- connection attempts ---------------------------------------------------------------------
def connect_alternatives(loop: ControlledLoop, number: int, target: str, family: int, host: str, port: int,
                         future: asyncio.Future[Any]) -> list[Alternative]:
    """The faults a connection attempt may meet: refused although something listens."""
    if not _wanted(enabled(loop), "refused", (host, port)):
        return []
    return [("refused", f"conn-{number} connect to {target}: refused (fault)", _refuse,
             (future, sockaddr(family, host, port)))]


def _refuse(future: asyncio.Future[Any], address: tuple[Any, ...]) -> None:
    if not future.done():
        future.set_exception(OSError(errno.ECONNREFUSED, f"Connect call failed {address}"))


# ----- deliveries ----------------------------------------------------------------------------
def delivery_alternatives(loop: ControlledLoop, pipe: Pipe) -> list[Alternative]:
    """The faults a delivery of bytes may meet instead of arriving."""
    specs = enabled(loop)
    if not specs or not pipe.buffer or pipe.server is None:
        return []
    chosen = [name for name in ("reset", "stall", "partition", "crash") if _wanted(specs, name, pipe.server)]
    after = f"after {pipe.delivered} byte{'' if pipe.delivered == 1 else 's'}"
    found: list[Alternative] = []
    if "reset" in chosen:
        found.append(("reset", f"{pipe.label}: reset {after} (fault)", _reset, (pipe,)))
    if "stall" in chosen:
        found.append(("stall", f"{pipe.label}: the receiver stops reading {after} (fault)", _stall, (pipe,)))
    host = pipe.receiver.server.host if pipe.receiver is not None and pipe.receiver.server is not None else None
    if "crash" in chosen and host is not None:
        found.append(("crash", f"{pipe.label}: host {host.name} crashes before reading it, restarts "
                      f"after {float(loop.scenario_options.get('restart_s', 1.0)):g} s (fault)", _crash, (pipe, host)))
    if "partition" in chosen and not pipe.held:
        seconds = float(loop.scenario_options.get("partition_s", DEFAULT_PARTITION_S))
        found.append(("partition", f"{pipe.label}: partitioned for {seconds:g} s {after} (fault)",
                      _partition, (loop, pipe, seconds)))
    return found


def _reset(pipe: Pipe) -> None:
    """An RST reaches both ends; the bytes in flight are lost."""
    pipe.scheduled = False
    pipe.buffer.clear()
    for end in (pipe.receiver, pipe.sender):
        if end is not None and not end.lost:
            end.reset_arrived()


def _crash(pipe: Pipe, host: Any) -> None:
    pipe.scheduled = False
    host.crash()


def _stall(pipe: Pipe) -> None:
    """The receiving process stops reading (until nothing else can happen: `Network.idle`)."""
    pipe.scheduled = False
    pipe.stalled = True


def _partition(loop: ControlledLoop, pipe: Pipe, seconds: float) -> None:
    """Nothing passes either way until the partition heals; then both directions resume."""
    pipes = [p for p in (pipe, pipe.reverse) if p is not None]
    for held in pipes:
        held.held = True
    pipe.scheduled = False

    def heal() -> None:
        for held in pipes:
            held.held = False
            held.kick()

    loop.call_later(seconds, heal)
