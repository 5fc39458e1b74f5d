"""Scenario declarations: the `@scenario` decorator and the registry it fills.

A scenario is an async function plus its variants and expectations (see CONTRACT.md).
Declaring one only records it; nothing runs at import time.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from simharness.errors import ScenarioLoadError, TargetError

Expectation = Literal["pass", "fail"]
ScenarioFunction = Callable[..., Coroutine[Any, Any, Any]]

#: Name of the only variant of a scenario declared without `variants`.
DEFAULT_VARIANT = "default"

_NO_ARGUMENT = object()

#: Options `@scenario(...)` accepts, with the largest value each may take.
_INT_OPTIONS = {"max_steps": 100_000_000, "max_faults": 100}
_SECONDS_OPTIONS = {"max_time_s": 10 * 365 * 86_400.0, "settle_timeout_s": 86_400.0,
                    "blocked_loop_s": 86_400.0, "process_settle_s": 3_600.0, "partition_s": 86_400.0,
                    "restart_s": 86_400.0}
_BACKENDS = ("sim", "real")
#: Network faults a scenario may let the explorer inject (`faults=`, see world/faults.py).
FAULTS = ("refused", "reset", "stall", "partition", "crash")
KNOWN_OPTIONS = ("backends", "preemptive", "bug", "deterministic", "faults", "hosts", *_INT_OPTIONS, *_SECONDS_OPTIONS)
_FAILURE_KINDS = ("assertion", "exception", "task-exception", "invariant", "deadlock", "timeout",
                  "blocked-loop", "leak", "crash")


@dataclass(frozen=True)
class BugSignature:
    """What a buggy variant's failure looks like: its kind and a pattern its message matches.

    Declared with `@scenario(bug={"kind": "assertion", "message": "lost update"})` (for
    every variant expected to fail) or `bug={"buggy": {...}, "silent": {...}}` (per
    variant). `stress` counts a buggy variant as caught only by a failure that matches,
    so a crash of the harness or a false alarm never passes for the bug.
    """

    kind: str
    message: str = ""

    def matches(self, kind: str, message: str) -> bool:
        return kind == self.kind and re.search(self.message, message) is not None

    def describe(self) -> str:
        return f"{self.kind} matching /{self.message}/" if self.message else self.kind


def _signature(where: str, value: Any) -> BugSignature:
    if not isinstance(value, Mapping) or set(value) - {"kind", "message"} or "kind" not in value:
        raise ScenarioLoadError(f"{where} must be a mapping with 'kind' and an optional 'message' pattern")
    kind, message = value["kind"], value.get("message", "")
    if kind not in _FAILURE_KINDS:
        raise ScenarioLoadError(f"{where}: kind must be one of {', '.join(_FAILURE_KINDS)}")
    if not isinstance(message, str):
        raise ScenarioLoadError(f"{where}: message must be a regular expression (a string)")
    try:
        re.compile(message)
    except re.error as error:
        raise ScenarioLoadError(f"{where}: message is not a regular expression: {error}") from None
    return BugSignature(kind, message)


def _bug_option(where: str, value: Any) -> dict[str, BugSignature] | BugSignature:
    if isinstance(value, Mapping) and "kind" in value:
        return _signature(where, value)
    if not isinstance(value, Mapping) or not value:
        raise ScenarioLoadError(f"{where} must be {{'kind': ..., 'message': ...}} or a mapping of variants to that")
    return {str(variant): _signature(f"{where}[{variant!r}]", signature) for variant, signature in value.items()}


def check_options(scenario: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options of `@scenario(...)`, validated: `ScenarioLoadError` names the first bad one."""
    checked: dict[str, Any] = {}
    for key, value in options.items():
        where = f"scenario {scenario}: option {key}={value!r}"
        if key in _INT_OPTIONS:
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _INT_OPTIONS[key]:
                raise ScenarioLoadError(f"{where} must be an integer from 1 to {_INT_OPTIONS[key]}")
        elif key in _SECONDS_OPTIONS:
            if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                    or not 0 < value <= _SECONDS_OPTIONS[key]):
                raise ScenarioLoadError(f"{where} must be a positive number of seconds up to "
                                        f"{_SECONDS_OPTIONS[key]:g}")
        elif key == "backends":
            if isinstance(value, str) or not isinstance(value, (tuple, list)) or not value \
                    or any(b not in _BACKENDS for b in value):
                raise ScenarioLoadError(f"{where} must be a non-empty tuple of {', '.join(map(repr, _BACKENDS))}")
            value = tuple(value)
        elif key in ("preemptive", "deterministic"):
            if not isinstance(value, bool):
                raise ScenarioLoadError(f"{where} must be True or False")
        elif key == "bug":
            value = _bug_option(f"scenario {scenario}: option bug", value)
        elif key == "faults":
            value = check_faults(where, value)
        elif key == "hosts":
            value = _hosts_option(where, value)
        else:
            raise ScenarioLoadError(f"scenario {scenario}: unknown option {key!r} "
                                    f"(known: name, variants, expect, {', '.join(KNOWN_OPTIONS)})")
        checked[key] = value
    return checked


def check_faults(where: str, value: Any) -> tuple[str, ...]:
    """`value` as a tuple of fault specs, or `ScenarioLoadError` saying what is wrong.

    A spec is a fault name, alone (every connection) or aimed at the connections to one
    server address: "reset@127.0.0.1:6379", "reset@[::1]:6379", "reset@6379" (any host).
    """
    if isinstance(value, str) or not isinstance(value, (tuple, list)) or not value:
        raise ScenarioLoadError(f"{where} must be a non-empty tuple of fault names ({', '.join(FAULTS)})")
    return tuple(dict.fromkeys(_fault_spec(where, item) for item in value))


def _hosts_option(where: str, value: Any) -> dict[str, tuple[str, ...]]:
    """`hosts=`: names the simulated network resolves, each to loopback addresses, in order."""
    if not isinstance(value, Mapping) or not value:
        raise ScenarioLoadError(f"{where} must map host names to tuples of loopback addresses")
    table: dict[str, tuple[str, ...]] = {}
    for name, addresses in value.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", name):
            raise ScenarioLoadError(f"{where}: {name!r} is not a host name")
        if isinstance(addresses, str):
            addresses = (addresses,)
        if not isinstance(addresses, (tuple, list)) or not addresses or not all(
                isinstance(a, str) and (re.fullmatch(r"127(\.\d{1,3}){3}", a) or a == "::1") for a in addresses):
            raise ScenarioLoadError(f"{where}: {name} must resolve to loopback addresses (127.x.x.x or ::1), "
                                    f"the only hosts of the simulated network")
        table[name.lower()] = tuple(dict.fromkeys(addresses))
    return table


def fault_target(spec: str) -> tuple[str, str | None, int | None]:
    """(name, host or None, port or None) of a checked fault spec."""
    name, _, address = spec.partition("@")
    if not address:
        return name, None, None
    host, _, port = address.rpartition(":")
    return name, host.strip("[]") or None, int(port)


def _fault_spec(where: str, item: Any) -> str:
    if not isinstance(item, str):
        raise ScenarioLoadError(f"{where}: a fault is a name like 'reset' or 'reset@127.0.0.1:6379', not {item!r}")
    name, _, address = item.partition("@")
    if name not in FAULTS:
        raise ScenarioLoadError(f"{where}: unknown fault {name!r} (known: {', '.join(FAULTS)})")
    if not address:
        return name
    host, _, port = address.rpartition(":")
    if not port.isdigit() or not 1 <= int(port) <= 65535 or (host and not re.fullmatch(
            r"localhost|\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]", host)):
        raise ScenarioLoadError(f"{where}: fault {item!r}: the address must be HOST:PORT, [IPv6]:PORT or PORT")
    return f"{name}@{host}:{int(port)}" if host else f"{name}@{int(port)}"


@dataclass(frozen=True)
class Scenario:
    """One declared scenario: its function, its variants and what each should do."""

    name: str
    function: ScenarioFunction
    variants: Mapping[str, Any]
    expect: Mapping[str, Expectation]
    source_file: str
    source_line: int
    doc: str = ""
    # Extra per-scenario settings (budgets, schedule-space hints) a scenario may declare.
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def variant_names(self) -> tuple[str, ...]:
        return tuple(self.variants)

    def check_variant(self, variant: str) -> str:
        """Return `variant` if this scenario has it, else raise `TargetError` listing them."""
        if variant not in self.variants:
            valid = ", ".join(self.variants)
            raise TargetError(
                f"scenario {self.name!r} has no variant {variant!r} (valid: {valid})"
            )
        return variant

    def coroutine(self, variant: str) -> Coroutine[Any, Any, Any]:
        """Create the coroutine that runs `variant` of this scenario once."""
        argument = self.variants[self.check_variant(variant)]
        if argument is _NO_ARGUMENT:
            return self.function()
        return self.function(argument)

    def expectation(self, variant: str) -> Expectation:
        return self.expect.get(variant, "pass")

    @property
    def deterministic(self) -> bool:
        """Declared `deterministic=True`: its bug fails every run by construction (a logic error
        one run shows), not only under some timing; the catalogue lists such bugs apart."""
        return bool(self.options.get("deterministic", False))

    def bug_signature(self, variant: str) -> BugSignature | None:
        """The declared look of `variant`'s bug (None: not declared)."""
        declared = self.options.get("bug")
        if isinstance(declared, BugSignature):
            return declared if self.expectation(variant) == "fail" else None
        if isinstance(declared, Mapping):
            return declared.get(variant)
        return None


def _check_signature(fn: ScenarioFunction, *, takes_argument: bool) -> None:
    """A scenario with variants is called with the variant's value: a function that takes
    no argument is a usage error, never a failure found (the rest is checked at the call,
    `Execution.run`)."""
    if not takes_argument:
        return  # extra required parameters may be filled by the caller (Hypothesis's run_with)
    try:
        signature = inspect.signature(fn)
        signature.bind_partial(None)
    except TypeError:
        raise ScenarioLoadError(
            f"scenario {fn.__name__}{signature}: it is called with one argument (the variant's "
            "value), since it declares variants") from None
    except ValueError:
        return  # no signature to check (a builtin or C function): the call will tell


#: Scenarios in declaration order, filled by the decorator while a file imports.
_declared: list[Scenario] = []


def scenario(
    function: ScenarioFunction | None = None,
    *,
    name: str | None = None,
    variants: Mapping[str, Any] | None = None,
    expect: Mapping[str, Expectation] | None = None,
    **options: Any,
) -> Any:
    """Declare an async function as a scenario (usable bare or with arguments).

    `variants` maps a variant name to the single argument the function receives;
    `expect` maps a variant to "pass" or "fail" (default "pass"); `name` overrides
    the default name (the function name with `_` turned into `-`). Other keyword
    arguments become `Scenario.options` (for example `max_steps=...`).
    """

    def declare(fn: ScenarioFunction) -> ScenarioFunction:
        if not inspect.iscoroutinefunction(fn):
            raise ScenarioLoadError(f"@scenario needs an async def function, got {fn!r}")
        chosen: Mapping[str, Any] = (
            dict(variants) if variants else {DEFAULT_VARIANT: _NO_ARGUMENT}
        )
        expectations = dict(expect or {})
        for variant, verdict in expectations.items():
            if variant not in chosen:
                raise ScenarioLoadError(
                    f"scenario {fn.__name__}: expect names unknown variant {variant!r}"
                )
            if verdict not in ("pass", "fail"):
                raise ScenarioLoadError(
                    f"scenario {fn.__name__}: expect[{variant!r}] must be 'pass' or 'fail'"
                )
        _check_signature(fn, takes_argument=bool(variants))
        code = fn.__code__
        checked = check_options(name or fn.__name__.replace("_", "-"), options)
        bug = checked.get("bug")
        if isinstance(bug, dict):
            unknown = sorted(set(bug) - set(chosen))
            if unknown:
                raise ScenarioLoadError(f"scenario {fn.__name__}: bug names unknown variant(s) {', '.join(unknown)}")
        declared = Scenario(
            name=name or fn.__name__.replace("_", "-"),
            function=fn,
            variants=chosen,
            expect=expectations,
            source_file=code.co_filename,
            source_line=code.co_firstlineno,
            doc=inspect.cleandoc(fn.__doc__ or ""),
            options=checked,
        )
        _declared.append(declared)
        fn.__simharness_scenario__ = declared  # type: ignore[attr-defined]
        return fn

    if function is not None:
        return declare(function)
    return declare


def scenario_of(function: Any) -> Scenario:
    """The `Scenario` a decorated function declared."""
    try:
        return function.__simharness_scenario__  # type: ignore[no-any-return]
    except AttributeError:
        raise TargetError(f"{function!r} is not declared with @simharness.scenario") from None


def collect_declared() -> list[Scenario]:
    """Take (and forget) every scenario declared since the last call."""
    taken = list(_declared)
    _declared.clear()
    return taken
