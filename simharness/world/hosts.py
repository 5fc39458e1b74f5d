"""Hosts: a server process of the scenario, which the `crash` fault may crash and restart.

`async with sh.host("db", start_db):` runs `start_db()` (a coroutine that starts the
host's servers and returns, optionally returning them; the state it makes is the
process's memory) in a context of its own; every server it creates belongs to the host,
and leaving the block closes them (on the real backend, the ones it returned). With `faults=("crash",)` the
explorer may crash the host instead of delivering bytes to one of its connections
(`world/faults.py`): as when a process dies, its listening sockets close (new
connections are refused until it restarts) and the kernel closes its connections (each
peer sees end of file, then a reset for bytes the host never read); after `restart_s`
(scenario option, default 1 s) of virtual time `start_db()` runs again, with fresh memory.

Not a full process death: the host's handlers are told their connections were lost
(`connection_lost(None)`, so stream handlers read end of file and return) instead of
vanishing, and tasks the host started itself keep running; cancelling them would make
asyncio report errors a real crash never produces (3.11's stream server logs a
cancelled handler as an exception).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

#: How long a crashed host stays down unless the scenario says (`restart_s=`).
DEFAULT_RESTART_S = 1.0

_HOST: contextvars.ContextVar[Host | None] = contextvars.ContextVar("simharness_host", default=None)


def current_host() -> Host | None:
    """The host whose code is running now (None: the scenario's own code)."""
    return _HOST.get()


class Host:
    """A named server process of the scenario (see the module docstring)."""

    def __init__(self, name: str, start: Callable[[], Awaitable[Any]]) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError("a host needs a non-empty name")
        if not callable(start):
            raise TypeError(f"host {name}: start must be an async function, not {start!r}")
        self.name = name
        self._start = start
        self.servers: list[Any] = []  # SimServers its code created (simulation only)
        self._returned: list[Any] = []  # servers start() returned (closed at exit, on either backend)
        self.crashes = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False

    def __repr__(self) -> str:
        return f"<simharness host {self.name}>"

    async def __aenter__(self) -> Host:
        self._loop = asyncio.get_running_loop()
        await self._launch()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        self._stopped = True  # a restart still pending does not happen
        for server in [*self.servers, *(s for s in self._returned if s not in self.servers)]:
            server.close()

    def _launch(self) -> asyncio.Task[Any]:
        assert self._loop is not None
        context = contextvars.copy_context()
        context.run(_HOST.set, self)
        return self._loop.create_task(self._run_start(), name=f"host {self.name} start", context=context)

    async def _run_start(self) -> None:
        started = await self._start()
        if isinstance(started, asyncio.AbstractServer):
            started = [started]
        self._returned = [s for s in started or () if isinstance(s, asyncio.AbstractServer)]

    def crash(self) -> None:
        """The process dies: its sockets close as the kernel closes them; it restarts later."""
        self.crashes += 1
        servers, self.servers = self.servers, []
        for server in servers:
            server.crash()
        assert self._loop is not None
        restart_s = float(getattr(self._loop, "scenario_options", {}).get("restart_s", DEFAULT_RESTART_S))
        self._loop.call_later(restart_s, self._restart)

    def _restart(self) -> None:
        if not self._stopped:
            self._launch()


def host(name: str, start: Callable[[], Awaitable[Any]]) -> Host:
    """A host named `name` whose servers `start()` starts: use as `async with sh.host(...)`."""
    return Host(name, start)
