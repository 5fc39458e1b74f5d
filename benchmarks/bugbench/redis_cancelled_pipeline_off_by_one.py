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

from redis.asyncio import Redis

import simharness as sh


async def read_command(reader: asyncio.StreamReader) -> list[bytes]:
    """One RESP array of bulk strings, as redis-py sends commands."""
    header = await reader.readline()
    if not header:
        raise EOFError
    parts = []
    for _ in range(int(header[1:].strip())):
        size = int((await reader.readline())[1:].strip())
        parts.append((await reader.readexactly(size + 2))[:-2])
    return parts


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: dict[bytes, bytes]) -> None:
    """A tiny key-value server speaking RESP2: GET, SET and anything else answered +OK."""
    try:
        while True:
            command = await read_command(reader)
            name = command[0].upper()
            if name == b"GET":
                await sh.checkpoint("the server looks the key up")  # a lookup of unknown duration
                value = data.get(command[1])
                writer.write(b"$-1\r\n" if value is None else b"$%d\r\n%s\r\n" % (len(value), value))
            else:
                if name == b"SET":
                    data[command[1]] = command[2]
                writer.write(b"+OK\r\n")
            await writer.drain()
    except (EOFError, ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


@sh.scenario
async def redis_cancelled_pipeline_off_by_one() -> None:
    data: dict[bytes, bytes] = {}
    server = await asyncio.start_server(lambda r, w: serve(r, w, data), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
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
