"""aiohttp: a request cancelled just after it was handed a connection slot strands the pool.

NOT a bench entry: it fails on every aiohttp release tried (3.10.10, 3.10.11, 3.14.5),
so there is no fixed release to pin (see docs/bugbench.md, "Bugs tried and left out").
Related: aio-libs/aiohttp#9670 "deadlock with TCPConnector limit after timeout", whose fix
(PR #9671, 3.10.11) made the waiters cancellation-safe except for this hand-over.
Run it with any aiohttp: `simharness explore THIS_FILE --runs 2000`.

With a connection limit, a request waiting for a slot waits on a future; releasing a
connection pops the first waiter and sets its future. If that request's task is
cancelled before it runs (a timeout, a client that went away), it leaves without the
slot and without waking the next waiter: the slot is free, but every request queued
behind (and every new one, which queues behind them) waits forever.

The real timing: a pool of one connection; one request is in flight and two more wait
for the slot; the first response arrives and the first waiter's client disconnects in
the same loop cycle. The server is a minimal HTTP/1.1 server on asyncio streams (the
simulated network); the client is the real aiohttp. Oracle: every request that was not
cancelled gets its response.
"""

from __future__ import annotations

import asyncio

import aiohttp

import simharness as sh


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer every HTTP/1.1 request with a short body sent after its headers, keeping the connection."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1]
            await sh.checkpoint("the server handles a request")  # a handler of unknown duration
            body = b"hello " + path
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
            await writer.drain()
            await sh.checkpoint("the server produces the body")  # headers first, body later
            writer.write(body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@sh.scenario
async def aiohttp_cancelled_waiter_strands_pool() -> None:
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    # The server may take any time (an outside operation): no client timeout.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1),
                                     timeout=aiohttp.ClientTimeout(total=None)) as session:

        async def get(path: str) -> bytes:
            async with session.get(url + path) as response:
                return await response.read()

        first = asyncio.create_task(get("/first"))
        await asyncio.sleep(0)
        second = asyncio.create_task(get("/second"))
        third = asyncio.create_task(get("/third"))

        async def disconnect_watch() -> None:
            await sh.checkpoint("the second request's client disconnects")
            second.cancel()

        watcher = asyncio.create_task(disconnect_watch())
        assert await first == b"hello /first"
        await asyncio.gather(second, watcher, return_exceptions=True)
        assert await third == b"hello /third"
    server.close()
