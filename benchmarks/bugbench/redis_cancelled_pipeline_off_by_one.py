"""redis-py asyncio: a pipeline cancelled after it was sent leaves its replies for the next user.

Bug: redis/redis-py#2579 (CVE-2023-28858, behind the ChatGPT outage of March 2023):
cancelling an async pipeline's `execute()` after the commands were written returned the
connection to the pool with the replies unread, and the next user of that connection
read them as its own. Fixed by PR #2641 in redis 4.5.3; buggy release: 4.5.2.

The real timing: the server is slow to answer, the caller's timeout fires during
`execute()`, and the next pipeline takes the same pooled connection. The server is a
minimal RESP server written here on asyncio streams (the simulated network); the client
is the real redis-py. Oracle: every GET returns the value of its own key.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from redis.asyncio import Redis

import simharness as sh

sys.path.append(str(Path(__file__).parent))  # for the shared RESP server beside this file
from _resp_server import start  # noqa: E402


@sh.scenario
async def redis_cancelled_pipeline_off_by_one() -> None:
    data: dict[bytes, bytes] = {}
    server, port = await start(data)
    client = Redis(host="127.0.0.1", port=port, max_connections=1)
    try:
        await client.set("foo", "foo")
        await client.set("bar", "bar")
        try:
            async with client.pipeline(transaction=False) as pipe:
                pipe.get("foo")
                await asyncio.wait_for(pipe.execute(), 0.5)
        except asyncio.TimeoutError:
            pass  # the caller gives up on a slow answer and goes on
        async with client.pipeline(transaction=False) as pipe:
            pipe.get("bar")
            assert await pipe.execute() == [b"bar"], "a pipeline read another pipeline's replies"
    finally:
        await client.close()
        server.close()
