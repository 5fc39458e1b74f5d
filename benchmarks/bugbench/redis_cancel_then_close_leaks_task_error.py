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
async def redis_cancel_then_close_leaks_task_error() -> None:
    data: dict[bytes, bytes] = {}
    server = await asyncio.start_server(lambda r, w: serve(r, w, data), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
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
