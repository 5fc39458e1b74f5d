"""token-overwrite: a per-URL singleton token store shared by parallel OAuth flows.

Seed: ../shared/seeds/000_62378e3dea7156f6.txt, section 1.1 ("Token Overwrites During
Parallel OAuth Flows", client_manager.py:78-83 and :759).

`SharedTokenStorage.get_instance(server_url)` hands every parallel test connecting to
the same server the same instance, so flow 2's `set_tokens(token_2)` overwrites flow 1's
token before flow 1 reads it back with `get_tokens()`; flow 1 then calls the resource
server with flow 2's token and is answered `invalid_token`. The fix keeps one token
store per flow.

Real parts: a local OAuth provider (token endpoint) and a resource server that checks
whose token it is, both HTTP servers on asyncio streams, 127.0.0.1, ephemeral ports.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import simharness as sh

if str(Path(__file__).parent) not in sys.path:
    sys.path.append(str(Path(__file__).parent))  # for the shared `_http` helper beside this file

from _http import HttpServer, Request, Response, json_response, post_form, request  # noqa: E402

#: Parallel OAuth flows against the same MCP server URL (the seed's "Test 1", "Test 2"),
#: with different speeds: test-1 has a pre-configured client id, test-2 registers one
#: first (dynamic client registration, one more round trip). In native order test-1
#: therefore finishes before test-2's token arrives: the overwrite needs test-1's
#: session connect to be slow, which is what makes it intermittent.
FLOWS: tuple[tuple[str, bool], ...] = (("test-1", False), ("test-2", True))


@dataclass(frozen=True)
class OAuthToken:
    """What the token endpoint returns."""

    access_token: str
    token_type: str = "Bearer"


class TokenError(Exception):
    """An OAuth error reported by a server, e.g. `invalid_token` (the seed's symptom)."""


class SharedTokenStorage:
    """The seed's token store: ONE instance per server URL, for every parallel test."""

    _instances: dict[str, SharedTokenStorage] = {}
    _lock = threading.Lock()

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.tokens: OAuthToken | None = None
        # A threading lock, as in the seed; held only around plain reads and writes
        # here (no await inside), so it cannot block the loop: section 1.2 is another scenario.
        self._instance_lock = threading.Lock()

    @classmethod
    def get_instance(cls, server_url: str) -> SharedTokenStorage:
        with cls._lock:
            if server_url not in cls._instances:
                cls._instances[server_url] = cls(server_url)
            return cls._instances[server_url]  # Same instance for all parallel tests

    @classmethod
    def clear_all(cls) -> None:
        with cls._lock:
            cls._instances.clear()

    async def get_tokens(self) -> OAuthToken | None:
        with self._instance_lock:
            return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        with self._instance_lock:
            self.tokens = tokens


def shared_storage(server_url: str, flow: str) -> SharedTokenStorage:
    """Buggy (client_manager.py:759): every flow gets the URL's shared instance."""
    return SharedTokenStorage.get_instance(server_url)


def per_flow_storage(server_url: str, flow: str) -> SharedTokenStorage:
    """Fixed: a token store per flow/session, never shared."""
    return SharedTokenStorage(server_url)


StorageFor = Callable[[str, str], SharedTokenStorage]


class OAuthProvider:
    """A local OAuth token endpoint: `client_credentials` grant, one fresh token per call."""

    def __init__(self) -> None:
        self.issued: dict[str, str] = {}  # access token -> client it was issued to
        self._serial = itertools.count(1)
        self.server = HttpServer({"/token": self.token, "/register": self.register}, name="oauth-provider")

    async def register(self, req: Request) -> Response:
        return json_response(200, {"client_id": req.json()["client_name"]})

    async def token(self, req: Request) -> Response:
        client_id = req.form().get("client_id", "")
        access_token = f"tok-{client_id}-{next(self._serial)}"
        self.issued[access_token] = client_id
        return json_response(200, {"access_token": access_token, "token_type": "Bearer"})


class ResourceServer:
    """The protected MCP server: accepts a bearer token only from the client it was issued to."""

    def __init__(self, provider: OAuthProvider) -> None:
        self.provider = provider
        self.server = HttpServer({"/mcp": self.mcp}, name="resource-server")

    async def mcp(self, req: Request) -> Response:
        token = req.headers.get("authorization", "").removeprefix("Bearer ")
        client_id = req.headers.get("x-client-id", "")
        owner = self.provider.issued.get(token)
        if owner != client_id:
            return json_response(401, {"error": "invalid_token",
                                       "error_description": f"token {token!r} was issued to {owner!r}, "
                                                            f"not {client_id!r}"})
        return json_response(200, {"result": f"hello {client_id}"})


class MCPClientManager:
    """The client side of one test: OAuth, then a call to the protected server."""

    def __init__(self, storage_for: StorageFor, provider_url: str) -> None:
        self.storage_for = storage_for
        self.provider_url = provider_url

    async def run_test(self, flow: str, server_url: str, register: bool) -> str:
        storage = self.storage_for(server_url, flow)
        client_id = flow
        if register:
            registered = await request("POST", f"{self.provider_url}/register", json_body={"client_name": flow})
            client_id = registered.json()["client_id"]
        # OAuth: the token response's arrival is an I/O event the explorer orders
        # against the other flow's.
        answer = await post_form(f"{self.provider_url}/token",
                                 {"grant_type": "client_credentials", "client_id": client_id})
        await storage.set_tokens(OAuthToken(answer.json()["access_token"]))
        # Connecting the MCP session: a round trip whose duration the test does not control.
        await sh.checkpoint("connect MCP session")
        tokens = await storage.get_tokens()
        assert tokens is not None
        reply = await request("POST", f"{server_url}/mcp", json_body={"method": "tools/list"},
                              headers={"authorization": f"Bearer {tokens.access_token}", "x-client-id": client_id})
        if reply.status != 200:
            error = reply.json()
            raise TokenError(f"{error['error']}: {error['error_description']}")
        return str(reply.json()["result"])


@sh.scenario(variants={"buggy": shared_storage, "fixed": per_flow_storage},
             expect={"buggy": "fail", "fixed": "pass"},
             bug={"kind": "assertion", "message": "TokenError: invalid_token: token .* was issued to"})
async def token_overwrite(storage_for: StorageFor) -> None:
    """Every flow reads back the token it stored, so no call is answered `invalid_token`."""
    SharedTokenStorage.clear_all()  # a fresh registry per run: runs must not share state
    provider = OAuthProvider()
    resource = ResourceServer(provider)
    await provider.server.start()
    await resource.server.start()
    try:
        manager = MCPClientManager(storage_for, provider.server.url)
        outcomes = await asyncio.gather(*(manager.run_test(flow, resource.server.url, register)
                                          for flow, register in FLOWS),
                                        return_exceptions=True)
    finally:
        await resource.server.stop()
        await provider.server.stop()
        SharedTokenStorage.clear_all()
    for (flow, _), outcome in zip(FLOWS, outcomes):
        if isinstance(outcome, TokenError):
            raise AssertionError(f"{flow}: TokenError: {outcome} (another flow's set_tokens "
                                 f"overwrote this flow's token in the shared store)")
        if isinstance(outcome, BaseException):
            raise outcome
