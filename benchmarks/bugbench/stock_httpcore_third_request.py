"""The httpcore entry's scenario on plain asyncio (real sockets, real clock), many times.

Checks whether the failures simharness finds on httpcore 0.14.7, the entry's "fixed"
release (a third request that never gets a connection: `PoolTimeout`), happen on the
stock runtime too. The second request's cancellation comes after a random number of
loop iterations and sometimes a short real delay; the server answers after a random
delay of up to 2 ms.

    benchmarks/bugbench/.venvs/httpcore-0.14.7/bin/python \
        benchmarks/bugbench/stock_httpcore_third_request.py 2000 1   # runs, seed

Measured 2026-12-08: 2 of 2,000 runs fail with PoolTimeout on 0.14.7 (seed 1): a real
bug left in that release, not a false alarm of simharness.
"""

import asyncio
import random
import sys

import httpcore

async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1]
            await asyncio.sleep(random.random() * DELAY)
            body = b"hello " + path
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()

DELAY = 0.002

async def once():
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    timeouts = {"pool": 1.0, "connect": None, "read": None, "write": None}
    try:
        async with httpcore.AsyncConnectionPool(max_connections=1) as pool:
            async def get(path):
                response = await pool.request("GET", url + path, extensions={"timeout": timeouts})
                return response.content
            first = asyncio.create_task(get("/first"))
            await asyncio.sleep(0)
            second = asyncio.create_task(get("/second"))
            async def disconnect_watch():
                # a random number of loop iterations, then maybe a short real delay
                for _ in range(random.randrange(40)):
                    await asyncio.sleep(0)
                if random.random() < 0.5:
                    await asyncio.sleep(random.random() * DELAY)
                second.cancel()
            watcher = asyncio.create_task(disconnect_watch())
            assert await first == b"hello /first"
            await asyncio.gather(second, watcher, return_exceptions=True)
            assert await get("/third") == b"hello /third"
    finally:
        server.close()

async def main(n):
    fails = {}
    for i in range(n):
        try:
            await once()
        except Exception as e:
            k = type(e).__name__ + ": " + str(e)[:80]
            fails[k] = fails.get(k, 0) + 1
    print(n, "runs; failures:", fails)

random.seed(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
asyncio.run(main(int(sys.argv[1])))
