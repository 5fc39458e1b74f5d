"""redis-py asyncio: a command cancelled after it was sent leaves its reply for the next command.

Bug: redis/redis-py#2624 "Off by 1 - Canceling async Redis command leaves connection
open, in unsafe state for future commands" (CVE-2023-28859; the ChatGPT outage of March
2023 came from its sibling #2579); redis 4.5.3 fixed the pipeline only (PR #2641), the
`Redis` client was fixed by PR #2666 in redis 4.5.4; buggy release: 4.5.3.

A `GET` cancelled (here by `asyncio.wait_for`) after the request was written but before
the reply was read left the reply on the connection; the next command on that
connection read it as its own answer.

The real timing: the server is slow to answer one request, the caller's timeout fires,
and the caller goes on with the next command on the same connection. The server is a
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
async def redis_cancelled_command_off_by_one() -> None:
    data: dict[bytes, bytes] = {}
    server, port = await start(data)
    client = Redis(host="127.0.0.1", port=port, single_connection_client=True)
    try:
        await client.set("foo", "foo")
        await client.set("bar", "bar")
        try:
            await asyncio.wait_for(client.get("foo"), 0.5)
        except asyncio.TimeoutError:
            pass  # the caller gives up on a slow answer and goes on
        assert await client.get("bar") == b"bar", "GET bar answered with another command's reply"
    finally:
        await client.close()
        server.close()
