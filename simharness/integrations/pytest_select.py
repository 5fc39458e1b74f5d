"""Which tests the pytest plugin explores, and why it leaves the others alone.

Explored: an `async def` test marked `@pytest.mark.simharness`, or any asyncio test
under `--sim`, whose loop is function-scoped (pytest-asyncio's default) and whose
async fixtures run on that same loop. Run on a controlled loop in the default order,
not explored (`SCOPED`, see `pytest_scopes`): tests on a class/module/package/
session-scoped loop or with async fixtures on one, and anyio tests with async fixtures
wider than the function (anyio's runner then outlives the test): their loop outlives a
schedule, so a schedule could not start afresh. Left alone, each with its reason
counted in the summary: anyio tests on another backend than asyncio, and tests opted
out with `@pytest.mark.simharness(skip=True)`. Hypothesis `@given` async tests run on the
controlled loop in the default order only: Hypothesis draws other examples on each
run, so a schedule of one run would not replay on another.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from simharness.integrations.pytest_anyio import backend_of

EXPLORE = "explore"
ALONE = "left-alone"
SCOPED = "scoped"  # its reason is the widest loop scope: "class", "module", "package" or "session"
#: pytest's scopes, narrowest first (the widest of a test's loops names its SCOPED plan).
SCOPES = ("function", "class", "module", "package", "session")
PLAN_KEY = pytest.StashKey[tuple[str, str]]()


def test_function(item: pytest.Item) -> Any:
    """The test's own function, under pytest-asyncio's and Hypothesis's wrappers."""
    function: Any = getattr(item, "obj", None)
    inner = getattr(getattr(function, "hypothesis", None), "inner_test", None)
    if inner is not None:
        function = inner
    while not inspect.iscoroutinefunction(function) and hasattr(function, "__wrapped__"):
        function = function.__wrapped__
    return function


def is_hypothesis(item: pytest.Item) -> bool:
    return getattr(getattr(item, "obj", None), "is_hypothesis_test", False) is True


def is_anyio(item: pytest.Item) -> bool:
    """Run by anyio's pytest plugin (it adds the `anyio_backend` fixture to its tests)."""
    return "anyio_backend" in getattr(item, "fixturenames", ())


def managed_by_pytest_asyncio(item: pytest.Item) -> bool:
    return any(c.__module__ == "pytest_asyncio.plugin" for c in type(item).__mro__)


def _is_async(function: Any) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)


def _fixture_loop_scope(config: pytest.Config, definition: Any) -> str:
    """The loop an async fixture runs on under pytest-asyncio (its own rule, read the same way)."""
    own = getattr(definition.func, "_loop_scope", None)
    try:
        default = config.getini("asyncio_default_fixture_loop_scope")
    except ValueError:
        default = None
    if default == "fixture-scope":
        default = definition.scope
    return str(own or default or definition.scope)


def async_fixtures(item: pytest.Item) -> dict[str, Any]:
    """The test's async fixtures (name -> the definition pytest uses)."""
    definitions = {name: defs[-1] for name, defs in item._fixtureinfo.name2fixturedefs.items() if defs}
    return {name: d for name, d in definitions.items() if _is_async(d.func)}


def widest(scopes: Any) -> str:
    """The widest of `scopes` (pytest scope names; "function" when empty)."""
    known = [s for s in scopes if s in SCOPES]
    return max(known, key=SCOPES.index, default="function")


def plan(item: pytest.Item, all_async: bool, wanted: dict[str, Any]) -> tuple[str, str]:
    """(EXPLORE, SCOPED, ALONE or "", reason) for `item` (SCOPED's reason: the loop's scope)."""
    if not isinstance(item, pytest.Function):
        return "", ""
    marked = item.get_closest_marker("simharness") is not None
    if not _is_async(test_function(item)):
        return "", ""
    if not (marked or all_async):
        return "", ""
    if wanted.get("skip"):
        return ALONE, "opted out with @pytest.mark.simharness(skip=True)"
    fixtures = async_fixtures(item)
    if is_anyio(item):
        backend = backend_of(item)
        if backend not in (None, "asyncio"):
            return ALONE, f"anyio test on the {backend} backend (not asyncio)"
        # anyio keeps its runner while a wider async fixture holds it: the runner outlives the test.
        scope = widest(str(definition.scope) for definition in fixtures.values())
        return (SCOPED, scope) if scope != "function" else (EXPLORE, "")
    if managed_by_pytest_asyncio(item):
        loops = [str(getattr(item, "_loop_scope", "function"))]
        loops += [_fixture_loop_scope(item.config, definition) for definition in fixtures.values()]
        scope = widest(loops)
        return (SCOPED, scope) if scope != "function" else (EXPLORE, "")
    if fixtures:
        return ALONE, "async fixtures that no asyncio plugin runs"
    if inspect.isasyncgenfunction(test_function(item)):
        return "", ""
    return EXPLORE, ""
