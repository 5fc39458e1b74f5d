"""sync-lock-in-async: a `threading.Lock` held across an await blocks the event loop.

Seed: 000_62378e3dea7156f6.txt, section 1.2 ("Async Methods with Sync Locks Create
Deadlocks"), fix from "Recommendations" item 1 (replace threading.Lock with asyncio.Lock).

Oracle: every flow's token call returns; with the buggy lock the second coroutine blocks
the loop thread inside `threading.Lock.acquire`, which simharness reports as kind
`blocked-loop` (the scenario sets `blocked_loop_s=1.0`) instead of hanging.

The seed's `get_tokens` holds the lock for a plain read with no await inside: that alone
cannot block one event loop (variant `seed-read-only`, expected to pass). The hang needs
a coroutine suspended *while holding* the lock, which is what `set_tokens` does here: it
persists the new token (a slow write, modelled with `sh.checkpoint()`) under the lock.
On plain `asyncio.run` the buggy variant hangs forever when it meets the race: that is
the bug.

Intermittent, as in the seed ("deadlocks across parallel tests", "3/5 tests pass one
run, 5/5 pass another"): flow B reads the token one conversation turn after flow A
starts refreshing it, so in the default order (the stock run) A's persist is done and
the lock free; the loop blocks only when the persist takes longer than B's turn.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import simharness as sh


class OAuthToken:
    """An OAuth access token (only its value matters here)."""

    def __init__(self, access_token: str) -> None:
        self.access_token = access_token


class SharedTokenStorage:
    """Token storage shared by parallel flows, guarded by a `threading.Lock` (the bug)."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.tokens: OAuthToken | None = None
        self.persisted: list[str] = []
        self._instance_lock = threading.Lock()  # threading.Lock in async code!

    async def _persist(self, tokens: OAuthToken) -> None:
        # Writing the token to the keyring/disk: a slow operation the test does not control.
        await sh.checkpoint("persist tokens")
        self.persisted.append(tokens.access_token)

    async def get_tokens(self) -> OAuthToken | None:
        with self._instance_lock:
            return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        with self._instance_lock:
            self.tokens = tokens
            await self._persist(tokens)  # suspended while holding the thread lock


class ReadOnlyLockedStorage(SharedTokenStorage):
    """The seed's code exactly as shown: the thread lock is never held across an await."""

    async def set_tokens(self, tokens: OAuthToken) -> None:
        with self._instance_lock:
            self.tokens = tokens
        await self._persist(tokens)


class AsyncLockedStorage(SharedTokenStorage):
    """The fix: an `asyncio.Lock`, which suspends the waiting coroutine, not the thread."""

    def __init__(self, server_url: str) -> None:
        super().__init__(server_url)
        self._async_lock = asyncio.Lock()

    async def get_tokens(self) -> OAuthToken | None:
        async with self._async_lock:
            return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        async with self._async_lock:
            self.tokens = tokens
            await self._persist(tokens)


StorageFactory = Callable[[str], SharedTokenStorage]


async def _flow(storage: SharedTokenStorage, name: str, refresh: bool, turns: int) -> Any:
    # Coroutine A refreshes the token, coroutine B reads it (seed 1.2's timeline).
    for turn in range(turns):
        await sh.checkpoint(f"{name} runs conversation turn {turn + 1}")
    if refresh:
        await storage.set_tokens(OAuthToken(f"token-{name}"))
    return await storage.get_tokens()


@sh.scenario(
    variants={"buggy": SharedTokenStorage, "fixed": AsyncLockedStorage,
              "seed-read-only": ReadOnlyLockedStorage},
    expect={"buggy": "fail", "fixed": "pass", "seed-read-only": "pass"},
    blocked_loop_s=1.0,
    bug={"kind": "blocked-loop", "message": "synchronous lock"})
async def sync_lock_in_async(storage_cls: StorageFactory) -> None:
    """Two parallel flows share one token storage; both token calls must return."""
    storage = storage_cls("http://server")
    # B reads after one more conversation turn than A: usually A has persisted by then.
    got = await asyncio.gather(_flow(storage, "A", refresh=True, turns=1),
                               _flow(storage, "B", refresh=False, turns=2))
    assert got[0] is not None and got[0].access_token == "token-A", f"flow A read back {got[0]}"
    assert storage.persisted == ["token-A"], (
        f"token storage lost a write: persisted {storage.persisted}")
