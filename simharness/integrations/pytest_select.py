"""Which tests the pytest plugin explores, and why it leaves the others alone.

Explored: an `async def` test marked `@pytest.mark.simharness`, or any asyncio test
under `--sim`, whose loop is function-scoped (pytest-asyncio's default) and whose
async fixtures run on that same loop. Left alone, each with its reason counted in
the summary: tests on a module/class/package/session-scoped loop or with async
fixtures on one (their loop outlives a schedule, so a schedule could not start
afresh), anyio tests on another backend than asyncio or with async fixtures wider than
the function (anyio's runner then outlives a schedule), and tests opted out with
`@pytest.mark.simharness(skip=True)`. Hypothesis `@given` async tests run on the
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


def plan(item: pytest.Item, all_async: bool, wanted: dict[str, Any]) -> tuple[str, str]:
    """(EXPLORE or ALONE or "", reason) for `item`."""
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
        for name, definition in sorted(fixtures.items()):
            if definition.scope != "function":
                return ALONE, f"anyio async fixture of {definition.scope} scope (its runner outlives one schedule)"
        return EXPLORE, ""  # anyio's plugin runs it, on the loop pytest_anyio gives its runner
    if managed_by_pytest_asyncio(item):
        scope = str(getattr(item, "_loop_scope", "function"))
        if scope != "function":
            return ALONE, f"loop_scope={scope} (the loop outlives one schedule)"
        for name, definition in sorted(fixtures.items()):
            fixture_scope = _fixture_loop_scope(item.config, definition)
            if fixture_scope != "function":
                return ALONE, f"async fixture on a {fixture_scope}-scoped loop (the loop outlives one schedule)"
        return EXPLORE, ""
    if fixtures:
        return ALONE, "async fixtures that no asyncio plugin runs"
    if inspect.isasyncgenfunction(test_function(item)):
        return "", ""
    return EXPLORE, ""
