"""clear-all-toctou: `clear_all_async` empties the registry, then clears instances outside the lock.

Seed: 000_62378e3dea7156f6.txt, section 1.3 ("Check-Then-Act in clear_all_async()"): a
test still running calls `get_instance()` between the registry being emptied and the old
instances being cleared, gets a NEW instance the cleanup never sees, and its token
survives the cleanup ("stale tokens persist across tests"). Fix: clear under one lock.

The model is the seed's code after its own fix 1.2 (instance locks are `asyncio.Lock`,
and `set_tokens` persists the token while holding it, modelled with `sh.checkpoint()`):
that is what gives the cleanup an await between emptying the registry and clearing the
old instances. In the fixed variant one `asyncio.Lock` guards both the registry and the
whole cleanup, so `get_instance` waits until the cleanup is over.

Oracle: when `clear_all_async()` returns, no registered storage holds a token (every
token written before the cleanup returned is gone).

Intermittent, as in the seed ("3/5 tests pass one run, 5/5 pass another"): the runner
cleans up after collecting the test reports, by which time the tests have usually
stored their tokens (the default order, and the stock run, pass); only a test
whose conversation outlasts the runner's reporting hits the window.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from typing import Any, ClassVar

import simharness as sh

SERVER = "http://server"


class SharedTokenStorage:
    """Per-server-URL singleton token storage, with the seed's `clear_all_async`."""

    _instances: ClassVar[dict[str, SharedTokenStorage]] = {}
    _lock: ClassVar[Any] = threading.Lock()

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.tokens: str | None = None
        self._instance_lock = asyncio.Lock()

    @classmethod
    def reset(cls) -> None:
        """A fresh registry for one run (class state would otherwise outlive it)."""
        cls._instances = {}
        cls._lock = threading.Lock()

    @classmethod
    def get_instance(cls, server_url: str) -> Any:
        with cls._lock:
            if server_url not in cls._instances:
                cls._instances[server_url] = cls(server_url)
            return cls._instances[server_url]

    async def set_tokens(self, tokens: str) -> None:
        async with self._instance_lock:
            await sh.checkpoint("persist tokens")  # keyring/disk write under the lock
            self.tokens = tokens

    @classmethod
    async def clear_all_async(cls) -> None:
        instances_to_clear = []
        with cls._lock:
            instances_to_clear = list(cls._instances.values())
            cls._instances.clear()  # Clear registry

        # Clear instances OUTSIDE lock (TOCTOU bug)
        for instance in instances_to_clear:
            async with instance._instance_lock:
                instance.tokens = None


class OneLockTokenStorage(SharedTokenStorage):
    """The fix: one `asyncio.Lock` held for the registry and the whole cleanup."""

    @classmethod
    def reset(cls) -> None:
        cls._instances = {}
        cls._lock = asyncio.Lock()

    @classmethod
    async def get_instance(cls, server_url: str) -> SharedTokenStorage:  # type: ignore[override]
        async with cls._lock:
            if server_url not in cls._instances:
                cls._instances[server_url] = cls(server_url)
            return cls._instances[server_url]

    @classmethod
    async def clear_all_async(cls) -> None:
        async with cls._lock:
            for instance in list(cls._instances.values()):
                async with instance._instance_lock:
                    instance.tokens = None
            cls._instances.clear()


async def _storage(cls: type[SharedTokenStorage]) -> SharedTokenStorage:
    found = cls.get_instance(SERVER)
    return await found if inspect.isawaitable(found) else found


async def _test(cls: type[SharedTokenStorage], name: str) -> None:
    await sh.checkpoint(f"test {name} runs its conversation")
    storage = await _storage(cls)
    await storage.set_tokens(f"token-{name}")


@sh.scenario(variants={"buggy": SharedTokenStorage, "fixed": OneLockTokenStorage},
             expect={"buggy": "fail", "fixed": "pass"},
             bug={"kind": "assertion", "message": "stale token survived clear_all_async"})
async def clear_all_toctou(storage_cls: type[SharedTokenStorage]) -> None:
    """Suite cleanup runs when the runner is done with its reports; tests 3 and 4 usually are
    too (the default order passes), unless a test's conversation takes long."""
    # A subclass per run keeps the class-level registry of this run to itself, also when
    # the real backend runs several copies of the scenario in one loop.
    cls = type(storage_cls.__name__, (storage_cls,), {})
    cls.reset()
    await (await _storage(cls)).set_tokens("token-1")  # an earlier test's token

    async def cleanup() -> None:
        # The runner cleans up once it has collected the test reports. Usually every test
        # has stored its token by then; a test whose conversation is slow may still be
        # running.
        await sh.checkpoint("runner collects test reports")
        await cls.clear_all_async()
        # Checked in the same step as the return: nothing has run in between.
        leftovers = {url: s.tokens for url, s in cls._instances.items() if s.tokens is not None}
        assert not leftovers, f"stale token survived clear_all_async: {leftovers}"

    # The tests were started before the runner began collecting their reports.
    await asyncio.gather(_test(cls, "3"), _test(cls, "4"), cleanup())
