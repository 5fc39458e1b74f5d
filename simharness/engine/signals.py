"""Unix signal handlers on the controlled loop (`loop.add_signal_handler`).

On the stock loop a signal handler is a real `signal.signal` registration whose
delivery wakes the selector; the callback then runs on the loop's next iteration. Here
the registration is just as real (same checks, same errors, main thread only), and a
delivered signal becomes an outside event, released at the loop's next decision point
by default, as the stock selector would wake: so `os.kill(os.getpid(), SIGUSR1)` from
scenario code runs the handler on the next iteration, on every schedule.

One departure, for determinism: the real SIGCHLD of the simulated world's own children
arrives at operating-system times, so a SIGCHLD handler is registered (and removed) as
on the stock loop but not called for them; the process world reports child exits itself,
which is what the stock loop's child watchers use SIGCHLD for.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any


class SignalMethods:
    """`add_signal_handler` / `remove_signal_handler` as `_UnixSelectorEventLoop` has them."""

    _signal_handlers: dict[int, asyncio.Handle]  # set up by the loop: signal number -> handler

    def post_from_signal(self, key: str, label: str, handle: asyncio.Handle) -> None:
        raise NotImplementedError  # the loop offers the handler's run as an outside event

    def add_signal_handler(self, sig: int, callback: Callable[..., Any], *args: Any) -> None:
        if asyncio.iscoroutine(callback) or asyncio.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        _check_signal(sig)
        self._check_closed()  # type: ignore[attr-defined]
        handle = asyncio.Handle(callback, args, self, None)  # type: ignore[arg-type]
        handlers = self._signal_handlers
        handlers[sig] = handle
        try:
            signal.signal(sig, self._on_signal)
            signal.siginterrupt(sig, False)
        except ValueError as error:  # not the main thread: the stock loop's wording and type
            del handlers[sig]
            raise RuntimeError(str(error)) from None
        except OSError as error:
            del handlers[sig]
            raise RuntimeError(f"sig {sig} cannot be caught") from error

    def remove_signal_handler(self, sig: int) -> bool:
        _check_signal(sig)
        if self._signal_handlers.pop(sig, None) is None:
            return False
        try:
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
        except OSError as error:
            raise RuntimeError(f"sig {sig} cannot be caught") from error
        return True

    def remove_all_signal_handlers(self) -> None:
        """Restore the default disposition of every signal this loop handles (on close)."""
        for sig in list(self._signal_handlers):
            self.remove_signal_handler(sig)

    def _on_signal(self, sig: int, _frame: object) -> None:
        # Runs in the main thread between two bytecodes: only an atomic append happens here.
        handle = self._signal_handlers.get(sig)
        if handle is None or sig == signal.SIGCHLD:
            return
        if handle.cancelled():
            return  # removed at the next add/remove, as the stock loop does lazily
        name = signal.Signals(sig).name
        self.post_from_signal(f"signal:{name}", f"signal {name} delivered", handle)


def _check_signal(sig: object) -> None:
    if not isinstance(sig, int):
        raise TypeError(f"sig must be an int, not {sig!r}")
    if sig not in signal.valid_signals():
        raise ValueError(f"invalid signal number {sig}")
