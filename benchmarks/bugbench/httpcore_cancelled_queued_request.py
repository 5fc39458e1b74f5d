"""httpcore: a queued request that is cancelled stays in the pool's queue and takes the next connection.

Bug: encode/httpcore PR #502 "Requests which raise a PoolTimeout need to be removed from
the pool queue" (it resolves "the case of task-cancellation-of-a-queued-waiting-request"
too), released in httpcore 0.14.7; buggy release: 0.14.6.

A request waiting for a free connection of a full pool that was cancelled (or timed out)
was left in the pool's queue. When the busy connection was released, the pool handed it
to that dead request; nobody ever used or returned it, so every later request waited
for a connection until its pool timeout.

The real timing: a pool of one connection; one request is in flight, a second one waits
for the connection and its caller gives up (its task is cancelled, as when the client
that asked for it disconnects) before the first response arrives. The server is a
minimal HTTP/1.1 server on asyncio streams (the simulated network); the client is the
real httpcore. Oracle: a third request made afterwards succeeds.
"""

from __future__ import annotations

import asyncio

import httpcore

import simharness as sh


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer every HTTP/1.1 request on the connection with a short body, keeping it alive."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1]
            await sh.checkpoint("the server handles a request")  # a handler of unknown duration
            body = b"hello " + path
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@sh.scenario
async def httpcore_cancelled_queued_request() -> None:
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    # The server may take any time (an outside operation): only waiting for the pool is bounded.
    timeouts = {"pool": 5.0, "connect": None, "read": None, "write": None}
    async with httpcore.AsyncConnectionPool(max_connections=1) as pool:

        async def get(path: str) -> bytes:
            response = await pool.request("GET", url + path, extensions={"timeout": timeouts})
            return response.content

        first = asyncio.create_task(get("/first"))
        await asyncio.sleep(0)
        second = asyncio.create_task(get("/second"))

        async def disconnect_watch() -> None:
            await sh.checkpoint("the second request's client disconnects")
            second.cancel()

        watcher = asyncio.create_task(disconnect_watch())
        assert await first == b"hello /first"
        await asyncio.gather(second, watcher, return_exceptions=True)
        assert await get("/third") == b"hello /third"
    server.close()
