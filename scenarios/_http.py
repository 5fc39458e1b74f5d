"""A small HTTP/1.1 server and client on asyncio streams, for catalogue scenarios.

It is just enough HTTP for local OAuth providers, resource servers and callback
servers: one request per connection (`Connection: close`), bodies sized by
`Content-Length`, form or JSON payloads. It only uses `asyncio.start_server` and
`asyncio.open_connection`, so the same code runs on the stock loop (real sockets on
127.0.0.1) and on simharness's controlled loop (its in-memory network), where the
explorer decides the delivery order of different connections.

Files starting with `_` are not scanned as scenario files; other scenarios may import
this one (`from _http import HttpServer, request`, the scenarios folder is on the path
of a scenario module's imports) or load it by path.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

#: Only loopback: scenarios never talk to another address.
HOST = "127.0.0.1"

_REASONS = {200: "OK", 302: "Found", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            500: "Internal Server Error"}


@dataclass(frozen=True)
class Request:
    """One parsed HTTP request as a handler sees it."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes = b""

    def form(self) -> dict[str, str]:
        """The body as `application/x-www-form-urlencoded` fields."""
        return dict(parse_qsl(self.body.decode()))

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass(frozen=True)
class Response:
    """An HTTP response: status, headers (lower-case names) and body."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body or b"null")


Handler = Callable[[Request], Awaitable[Response]]


def json_response(status: int, payload: Any) -> Response:
    """A JSON response (what OAuth endpoints return, errors included)."""
    return Response(status, json.dumps(payload).encode(), {"content-type": "application/json"})


def redirect(location: str) -> Response:
    """A 302 redirect, as an authorization endpoint answers a browser."""
    return Response(302, b"", {"location": location})


class HttpServer:
    """An HTTP server on 127.0.0.1 with an ephemeral port; routes map a path to a handler."""

    def __init__(self, routes: Mapping[str, Handler], name: str = "http") -> None:
        self.routes = dict(routes)
        self.name = name
        self._server: asyncio.Server | None = None
        self._closing: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def serving(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        """Listen on 127.0.0.1, port 0 (the operating system, or the simulation, picks one)."""
        self._server = await asyncio.start_server(self._handle, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def close(self) -> None:
        """Stop listening now (synchronously): later connections are refused."""
        if self._server is not None:
            self._closing, self._server = self._server, None
            self._closing.close()

    async def stop(self) -> None:
        """Stop listening and wait until the listener is closed (idempotent)."""
        self.close()
        closing, self._closing = self._closing, None
        if closing is not None:
            await closing.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
            if request is None:
                return
            handler = self.routes.get(request.path)
            response = (await handler(request) if handler is not None
                        else json_response(404, {"error": "not_found", "path": request.path}))
            writer.write(_encode_response(response))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: nothing to answer
        finally:
            writer.close()


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]] | None:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0]:
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        parsed = await _read_head(reader)
    except asyncio.IncompleteReadError:
        return None
    if parsed is None:
        return None
    start, headers = parsed
    method, target, _version = start.split(" ", 2)
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    parts = urlsplit(target)
    return Request(method, parts.path, dict(parse_qsl(parts.query)), headers, body)


def _encode_response(response: Response) -> bytes:
    reason = _REASONS.get(response.status, "Status")
    headers = {**response.headers, "content-length": str(len(response.body)), "connection": "close"}
    head = f"HTTP/1.1 {response.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode("latin-1") + b"\r\n" + response.body


async def request(method: str, url: str, *, form: Mapping[str, str] | None = None,
                  json_body: Any = None, headers: Mapping[str, str] | None = None) -> Response:
    """Send one request on a new connection and read the whole response.

    Raises `ConnectionRefusedError` when nothing listens on the port (a stopped server).
    """
    parts = urlsplit(url)
    if parts.hostname != HOST:
        raise ValueError(f"scenarios only talk to {HOST}, not {parts.hostname!r}")
    body = b""
    sent = dict(headers or {})
    if form is not None:
        body = urlencode(dict(form)).encode()
        sent["content-type"] = "application/x-www-form-urlencoded"
    elif json_body is not None:
        body = json.dumps(json_body).encode()
        sent["content-type"] = "application/json"
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    sent.update({"host": f"{HOST}:{parts.port}", "content-length": str(len(body)), "connection": "close"})
    reader, writer = await asyncio.open_connection(HOST, parts.port)
    try:
        head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in sent.items())
        writer.write(head.encode("latin-1") + b"\r\n" + body)
        await writer.drain()
        parsed = await _read_head(reader)
        if parsed is None:
            raise ConnectionError(f"empty response from {url}")
        status_line, got = parsed
        payload = await reader.readexactly(int(got.get("content-length", "0")))
        return Response(int(status_line.split(" ", 2)[1]), payload, got)
    finally:
        writer.close()


async def get(url: str, **params: str) -> Response:
    """GET `url` with `params` as the query string."""
    return await request("GET", f"{url}?{urlencode(params)}" if params else url)


async def post_form(url: str, fields: Mapping[str, str], headers: Mapping[str, str] | None = None) -> Response:
    """POST form fields (the OAuth token endpoint's encoding)."""
    return await request("POST", url, form=fields, headers=headers)
