"""redis-py asyncio: a cancelled command's shielded task dies unobserved when the client closes.

Bug: redis/redis-py#2665 (agronholm's report in it: cancel a pending `blpop`, close the
client, and asyncio logs "Task exception was never retrieved ... ConnectionError('Connection
closed by server.')"). redis 4.5.4 fixed the off-by-one reply of #2624 by running each
command in a task under `asyncio.shield`; a cancelled caller left that task running, and
closing the client killed it with an exception nobody retrieved. PR #2695 ("Optionally
disable disconnects in read_response", merged as the replacement of the shield) fixed it
in redis 4.5.5; buggy release: 4.5.4.

The real timing: the server is slow to answer, the caller's timeout fires, and the caller
closes the client. The server is a minimal RESP server written here on asyncio streams
(the simulated network); the client is the real redis-py. Oracle: no task dies with an
exception nobody retrieves.
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
async def redis_cancel_then_close_leaks_task_error() -> None:
    data: dict[bytes, bytes] = {}
    server, port = await start(data)
    client = Redis(host="127.0.0.1", port=port, single_connection_client=True)
    try:
        await client.set("foo", "foo")
        try:
            await asyncio.wait_for(client.get("foo"), 0.5)
        except asyncio.TimeoutError:
            pass  # the caller gives up on a slow answer and shuts down
    finally:
        await client.close()
        server.close()
