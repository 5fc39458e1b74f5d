"""shared-provider-isolation: one provider and one `sessions` dict shared by all parallel tests.

Seed: 000_62378e3dea7156f6.txt, sections 3.1 (one provider created for all parallel
tests), 3.2 (the unsynchronized `self.sessions` dict: "RuntimeError: dictionary changed
size during iteration") and 3.4 (the unused `get_isolated_session()`); fix from
"Medium-Term" items 2-3: a provider (an isolated session context) per test.

Oracle: each test sees only its own session (no test's cleanup closes another test's
MCP client, every message goes through the test's own open session) and no
`RuntimeError` is raised. The provider's cleanup iterates `self.sessions` across the
awaits that close each client, written for one test per provider; with a shared
provider another test adding its session during that loop raises the RuntimeError, and
the loop closes sessions of tests still running. Connecting, sending and closing are MCP
round trips, modelled with `sh.checkpoint()`.

Intermittent, as in the seed ("3/5 tests pass one run, 5/5 pass another"): the second
test does its own setup first, so in the default order (the stock run) the first test
has closed its session before the second opens one; they collide on the shared provider
only when the first test's MCP calls take longer than the second test's setup.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import simharness as sh


#: Setup steps of the second test (the first has none): as many as the first test's MCP
#: round trips, so the two tests only meet on the shared provider when those are slow.
FIXTURES_B = 3


class SessionClosed(ConnectionError):
    """A message was sent through an MCP client that is already closed."""


class MCPClient:
    """One MCP connection; remembers which test closed it."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.closed_by: str | None = None

    async def connect(self) -> None:
        await sh.checkpoint(f"{self.owner} connects")

    async def call(self, message: str) -> str:
        await sh.checkpoint(f"{self.owner} sends")
        if self.closed_by is not None:
            raise SessionClosed(f"session of test {self.owner} was closed by test {self.closed_by}")
        return f"reply to {message}"

    async def close(self, by: str) -> None:
        self.closed_by = by
        await sh.checkpoint(f"{by} closes the session of {self.owner}")


class MCPProvider:
    """The provider of the seed: a sessions dict, no lock, cleanup closes every session."""

    def __init__(self, server_config: dict[str, Any]) -> None:
        self.server_config = server_config
        self.sessions: dict[str, dict[str, Any]] = {}

    async def start_session(self, session_id: str) -> bool:
        mcp_client = MCPClient(session_id)
        await mcp_client.connect()
        # No lock protecting this dict!
        self.sessions[session_id] = {
            "created_at": time.time(),
            "mcp_client": mcp_client,
            "server_ids": [self.server_config["name"]],
        }
        return True

    async def send_message(self, session_id: str, message: str) -> str:
        client: MCPClient = self.sessions[session_id]["mcp_client"]
        return await client.call(message)

    async def cleanup(self, test_id: str) -> None:
        """Close every session of this provider (written for one test per provider)."""
        for session in self.sessions.values():
            await session["mcp_client"].close(by=test_id)
        self.sessions.clear()


def create_provider_from_config(server_config: dict[str, Any]) -> MCPProvider:
    return MCPProvider(server_config)


ProviderFor = Callable[[str], MCPProvider]


@dataclass
class TestResult:
    """One test's outcome as the parallel runner records it."""

    test_id: str
    success: bool
    error: str | None = None


async def run_single_test(test_id: str, provider: MCPProvider, fixtures: int = 0) -> TestResult:
    try:
        for fixture in range(fixtures):  # test-specific setup before it talks to the server
            await sh.checkpoint(f"{test_id} loads fixture {fixture + 1}")
        await provider.start_session(test_id)
        await provider.send_message(test_id, "hello")
        await provider.cleanup(test_id)
    except Exception as error:  # the runner records a failed test and goes on
        return TestResult(test_id, False, f"{type(error).__name__}: {error}")
    return TestResult(test_id, True)


def shared_provider(server_config: dict[str, Any]) -> ProviderFor:
    """The bug: SINGLE provider created for ALL parallel tests."""
    provider = create_provider_from_config(server_config)
    return lambda test_id: provider


def provider_per_test(server_config: dict[str, Any]) -> ProviderFor:
    """The fix: every test gets its own provider, hence its own sessions."""
    return lambda test_id: create_provider_from_config(server_config)


@sh.scenario(variants={"buggy": shared_provider, "fixed": provider_per_test},
             expect={"buggy": "fail", "fixed": "pass"},
             bug={"kind": "assertion", "message": "tests interfered through a shared provider"})
async def shared_provider_isolation(providers: Callable[[dict[str, Any]], ProviderFor]) -> None:
    """Two tests run in parallel against one server; each must keep its own session."""
    provider_for = providers({"name": "mcp-server"})
    # test_b has more setup: in the default order (the stock run) test_a is done with the
    # server before test_b opens its session; they overlap when test_a's calls are slow.
    tests = {"test_a": 0, "test_b": FIXTURES_B}
    results = await asyncio.gather(*(run_single_test(t, provider_for(t), n) for t, n in tests.items()))
    failures = [f"{r.test_id}: {r.error}" for r in results if not r.success]
    assert not failures, "tests interfered through a shared provider: " + "; ".join(failures)
