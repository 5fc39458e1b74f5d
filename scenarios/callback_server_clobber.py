"""callback-server-clobber: the active OAuth callback server kept in an instance attribute.

Seed: ../shared/seeds/000_62378e3dea7156f6.txt, section 5 ("OAuth Callback Server Race
Conditions", client_manager.py:240-309, :749, :402, :785-787).

Each parallel flow starts its own `CallbackServer` (a real HTTP server, 127.0.0.1,
ephemeral port) and stores it in `self._active_callback_server` of the one shared
`MCPClientManager`; `_handle_oauth_callback()` and the cleanup read the attribute back,
so a flow that started later overwrites it. The authorization server redirects each
flow's browser to the flow's own callback URL. The three documented outcomes:

* 5.1 the flow waits on the wrong server and its own callback is never awaited:
  `OAuth callback timeout`;
* 5.2 the flow wakes up with another flow's authorization code and the token exchange
  fails with `invalid_grant`;
* 5.3 a flow's cleanup stops another flow's callback server: that flow's callback is
  refused (`connection refused`) and the first flow's own server is never stopped.

Intermittent, as in the seed (section 5: parallel flows "timeout, receive wrong codes",
"3/5 tests pass one run, 5/5 pass another"): the second flow reaches its OAuth
connection 50 ms after the first, whose exchange usually completes within that, so the
default order (the stock run) passes; the flows collide when the first test's setup
is slow enough for them to overlap (a window as wide as a loopback HTTP exchange).

The failure message starts with the outcome that happened first (`5.1`, `5.2` or `5.3`)
and lists the others. The fix passes the callback server to the flow that started it.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import simharness as sh

if str(Path(__file__).parent) not in sys.path:
    sys.path.append(str(Path(__file__).parent))  # for the shared `_http` helper beside this file

from _http import HttpServer, Request, Response, get, json_response, post_form, redirect  # noqa: E402

FLOWS = ("flow-1", "flow-2")
#: The seed's wait is 120 s. On virtual time the value costs nothing; on the real
#: runtime every 5.1 outcome costs the full wait, so it is kept short there too.
CALLBACK_TIMEOUT_S = 5.0


#: When each parallel test reaches its OAuth connection: the second usually finds the
#: first one's flow complete (the default order, and the stock run, pass); the flows
#: overlap when the first test's setup takes about as long as the gap. (A checkpoint
#: inside the OAuth exchange would model a slow user, but one slower than the callback
#: timeout fails the fixed flow too, as it would for real.)
FLOW_START_S = {"flow-1": 0.0, "flow-2": 0.05}

#: The flow the current task works for (for symptom messages only, not for the logic).
current_flow: contextvars.ContextVar[str] = contextvars.ContextVar("current_flow", default="?")


class OAuthError(Exception):
    """An OAuth error answered by the authorization server (`invalid_grant`)."""


@dataclass
class Symptoms:
    """What went wrong in one run, in the order it happened (virtual or real time)."""

    seen: list[tuple[str, str]] = field(default_factory=list)  # (section, description)

    def add(self, section: str, text: str) -> None:
        self.seen.append((section, text))


class CallbackServer:
    """Receives the authorization server's redirect (`/callback?code=...`) for a flow."""

    def __init__(self, owner: str, symptoms: Symptoms) -> None:
        self.owner = owner
        self.symptoms = symptoms
        self.auth_code: str | None = None
        self.callback_event = asyncio.Event()
        self.http = HttpServer({"/callback": self._callback}, name=f"callback-{owner}")
        self.stopped_by: str | None = None

    @property
    def redirect_uri(self) -> str:
        return f"{self.http.url}/callback"

    async def start(self) -> None:
        await self.http.start()

    def stop(self, by: str) -> None:
        self.stopped_by = by
        if by != self.owner and self.http.serving:
            self.symptoms.add("5.3", f"{by}'s cleanup stopped {self.owner}'s callback server")
        self.http.close()

    async def _callback(self, req: Request) -> Response:
        self.auth_code = req.query["code"]
        self.callback_event.set()
        return Response(200, b"Authorization complete. You may close this window.")

    async def wait_for_callback(self, timeout: float) -> str:
        """The next authorization code this server receives (each code is taken once)."""
        try:
            async with asyncio.timeout(timeout):
                while self.auth_code is None:
                    self.callback_event.clear()
                    await self.callback_event.wait()
        except TimeoutError:
            waiter = current_flow.get()
            if waiter != self.owner:
                why = (f"it waited on {self.owner}'s callback server; its own code went to a server "
                       f"nobody waited on")
            elif self.stopped_by not in (None, self.owner):
                why = f"its own server was stopped by {self.stopped_by}'s cleanup before its code arrived"
            else:
                why = "its code never arrived"
            self.symptoms.add("5.1", f"{waiter}: RuntimeError: OAuth callback timeout ({why})")
            raise TimeoutError("OAuth callback timeout") from None
        code, self.auth_code = self.auth_code, None
        return code


class AuthorizationServer:
    """Issues codes bound to a client and redirect URI; exchanges them for tokens."""

    def __init__(self) -> None:
        self.codes: dict[str, tuple[str, str]] = {}  # code -> (client_id, redirect_uri)
        self._serial = itertools.count(1)
        self.http = HttpServer({"/authorize": self.authorize, "/token": self.token,
                                "/register": self.register}, name="authorization-server")

    async def register(self, req: Request) -> Response:
        return json_response(200, {"client_id": req.form()["client_name"]})

    async def authorize(self, req: Request) -> Response:
        client_id, redirect_uri = req.query["client_id"], req.query["redirect_uri"]
        code = f"code-{client_id}-{next(self._serial)}"
        self.codes[code] = (client_id, redirect_uri)
        return redirect(f"{redirect_uri}?{urlencode({'code': code, 'state': req.query['state']})}")

    async def token(self, req: Request) -> Response:
        form = req.form()
        if self.codes.pop(form["code"], None) != (form["client_id"], form["redirect_uri"]):
            return json_response(400, {"error": "invalid_grant",
                                       "error_description": f"code {form['code']} was not issued to "
                                                            f"{form['client_id']}"})
        return json_response(200, {"access_token": f"tok-{form['client_id']}", "token_type": "Bearer"})


class Browser:
    """The user agent: opens the authorization URL and follows the redirect."""

    def __init__(self, symptoms: Symptoms) -> None:
        self.symptoms = symptoms
        self.visits: list[asyncio.Task[None]] = []

    def open(self, flow: str, url: str, servers: dict[str, CallbackServer]) -> None:
        self.visits.append(asyncio.create_task(self._visit(flow, url, servers)))

    async def _visit(self, flow: str, url: str, servers: dict[str, CallbackServer]) -> None:
        answer = await get(url)
        try:
            await get(answer.headers["location"])
        except ConnectionRefusedError:
            stopper = servers[flow].stopped_by
            self.symptoms.add("5.3", f"{flow}'s callback was refused (connection refused): its server "
                                     f"was stopped by {stopper}'s cleanup")


class MCPClientManager:
    """One manager shared by all parallel flows (the seed's client_manager.py)."""

    def __init__(self, auth_url: str, browser: Browser, symptoms: Symptoms) -> None:
        self.auth_url = auth_url
        self.browser = browser
        self.symptoms = symptoms
        self.started: dict[str, CallbackServer] = {}  # bookkeeping for the oracle only

    async def _register(self, flow: str) -> str:
        answer = await post_form(f"{self.auth_url}/register", {"client_name": flow})
        return str(answer.json()["client_id"])

    async def _exchange(self, client_id: str, code: str, redirect_uri: str) -> str:
        answer = await post_form(f"{self.auth_url}/token", {
            "grant_type": "authorization_code", "code": code, "client_id": client_id,
            "redirect_uri": redirect_uri})
        if answer.status != 200:
            error = OAuthError(f"OAuth authorization error: {answer.json()['error']}")
            self.symptoms.add("5.2", f"{current_flow.get()}: {error} (it received another flow's "
                                     f"authorization code: {code})")
            raise error
        return str(answer.json()["access_token"])

    def _authorize_url(self, client_id: str, redirect_uri: str) -> str:
        query = urlencode({"client_id": client_id, "redirect_uri": redirect_uri, "state": client_id,
                           "response_type": "code"})
        return f"{self.auth_url}/authorize?{query}"

    # ----- buggy: the seed's code ------------------------------------------------------
    async def _handle_oauth_callback(self) -> str:
        callback_server = self._active_callback_server  # <- Read instance attribute
        return await callback_server.wait_for_callback(CALLBACK_TIMEOUT_S)

    async def connect_shared_attribute(self, flow: str) -> str:
        """`_get_connection_context()` as in the seed: the server lives in `self`."""
        callback_server = CallbackServer(flow, self.symptoms)
        await callback_server.start()
        self.started[flow] = callback_server
        self._active_callback_server = callback_server  # <- Instance attribute
        try:
            client_id = await self._register(flow)
            self.browser.open(flow, self._authorize_url(client_id, callback_server.redirect_uri), self.started)
            code = await self._handle_oauth_callback()
            return await self._exchange(client_id, code, callback_server.redirect_uri)
        finally:
            self._active_callback_server.stop(by=flow)  # Stops whatever server is stored
            delattr(self, "_active_callback_server")

    # ----- fixed: the server belongs to the flow ----------------------------------------
    async def connect_per_flow(self, flow: str) -> str:
        """The fix: the flow keeps its own callback server and passes it explicitly."""
        callback_server = CallbackServer(flow, self.symptoms)
        await callback_server.start()
        self.started[flow] = callback_server
        try:
            client_id = await self._register(flow)
            self.browser.open(flow, self._authorize_url(client_id, callback_server.redirect_uri), self.started)
            code = await callback_server.wait_for_callback(CALLBACK_TIMEOUT_S)
            return await self._exchange(client_id, code, callback_server.redirect_uri)
        finally:
            callback_server.stop(by=flow)


async def _run_flow(manager: MCPClientManager, variant: str, flow: str) -> None:
    connect = manager.connect_shared_attribute if variant == "shared-attribute" else manager.connect_per_flow
    current_flow.set(flow)  # gather runs each flow in its own task and context
    try:
        # The test's own steps before it connects take however long they take: parallel
        # flows reach the OAuth connection at different times (the second one later).
        await asyncio.sleep(FLOW_START_S[flow])
        await sh.checkpoint(f"{flow} test setup")
        await connect(flow)
    except (TimeoutError, OAuthError):
        pass  # recorded where it happened, before the cleanup ran
    except AttributeError as error:
        manager.symptoms.add("attr", f"{flow}: AttributeError: {error}")


TITLES = {"5.1": "callback timeout on the wrong server", "5.2": "wrong authorization code (invalid_grant)",
          "5.3": "cleanup stopped another flow's server",
          "attr": "AttributeError: another flow's cleanup deleted _active_callback_server",
          "leak": "a callback server was never stopped"}


def describe(symptoms: Symptoms, manager: MCPClientManager) -> str | None:
    """The failure message: the first documented outcome (5.1-5.3), then the rest in order."""
    seen = list(symptoms.seen)
    seen.extend(("leak", f"{flow}'s callback server was never stopped") for flow, server
                in manager.started.items() if server.stopped_by is None)
    if not seen:
        return None
    # Headline: the earliest of the seed's three outcomes; the AttributeError and the
    # leak are consequences (they follow one of them, or stand alone without one).
    headline = next((entry for entry in seen if entry[0] in ("5.1", "5.2", "5.3")),
                    next((entry for entry in seen if entry[0] == "attr"), seen[0]))
    rest = "; ".join(f"[{section}] {text}" for section, text in seen if (section, text) != headline)
    message = f"{headline[0]} {TITLES[headline[0]]}: {headline[1]}"
    return f"{message}; also: {rest}" if rest else message


@sh.scenario(variants={"buggy": "shared-attribute", "fixed": "per-flow"},
             expect={"buggy": "fail", "fixed": "pass"},
             bug={"kind": "assertion", "message": r"^AssertionError: 5\.[123] "})
async def callback_server_clobber(variant: str) -> None:
    """Each flow receives exactly its own authorization code in time, and every callback
    server is stopped by the flow that started it (so no callback is refused)."""
    symptoms = Symptoms()
    auth = AuthorizationServer()
    await auth.http.start()
    browser = Browser(symptoms)
    manager = MCPClientManager(auth.http.url, browser, symptoms)
    try:
        await asyncio.gather(*(_run_flow(manager, variant, flow) for flow in FLOWS))
        await asyncio.gather(*browser.visits)
    finally:
        for server in manager.started.values():
            await server.http.stop()  # the harness's own cleanup: no listener outlives a run
        await auth.http.stop()
    problem = describe(symptoms, manager)
    assert problem is None, problem
