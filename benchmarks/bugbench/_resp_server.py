"""A minimal key-value server speaking RESP2 on asyncio streams, for the redis-py entries.

Test infrastructure, not a model of a bug: it stands where a Redis server would, on the
simulated network, so the real redis-py client has something to talk to. Its GET is slow
by an outside operation of unknown duration (`sh.checkpoint`), which is where a caller's
timeout can fire between a request and its reply.
"""

from __future__ import annotations

import asyncio

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


async def start(data: dict[bytes, bytes]) -> tuple[asyncio.Server, int]:
    """A listening server on 127.0.0.1 and its port."""
    server = await asyncio.start_server(lambda r, w: serve(r, w, data), "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]
