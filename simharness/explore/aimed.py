"""Aimed faults (`faults=("reset@127.0.0.1:6379",)`) against the addresses a scenario uses.

A fault aimed at an address no connection of the scenario goes to would silently never
happen. Before exploring, each variant runs once in the default order; every address it
tries to connect to ("conn-N connect to HOST:PORT" steps) counts as used. An aimed fault
whose address none of the variants used is a `ConfigError`.
"""

from __future__ import annotations

import re
from dataclasses import replace

from simharness.engine.execution import RunSettings
from simharness.engine.strategies import FifoStrategy
from simharness.errors import ConfigError
from simharness.explore.runner import run_strategy
from simharness.scenario import Scenario, fault_target

_CONNECT = re.compile(r"connect to \[?([0-9a-fA-F.:]+?)\]?:(\d+)$")
_LOOPBACK = ("127.0.0.1", "::1")


def used_addresses(scenario: Scenario, variant: str, settings: RunSettings) -> set[tuple[str, int]]:
    """(host, port) of every connection attempt of the variant's default-order run."""
    run = run_strategy(scenario, variant, FifoStrategy(), replace(settings, preemptive=False), detail=True)
    found = (_CONNECT.search(step.label) for step in run.trace)
    return {(match.group(1), int(match.group(2))) for match in found if match}


def check_aimed_faults(scenario: Scenario, variants: list[str], settings: RunSettings) -> None:
    """Raise `ConfigError` for an aimed fault whose address no variant connects to."""
    specs = settings.fault_selection
    if specs is None:
        specs = tuple(scenario.options.get("faults", ()))
    aimed = [spec for spec in specs if fault_target(spec)[2] is not None]
    if not aimed:
        return
    used: set[tuple[str, int]] = set()
    for variant in variants:
        used |= used_addresses(scenario, variant, settings)
    for spec in aimed:
        _, host, port = fault_target(spec)
        if not any(port == p and (host is None or host == h or (host == "localhost" and h in _LOOPBACK))
                   for h, p in sorted(used)):
            seen = ", ".join(f"{h}:{p}" for h, p in sorted(used)) or "none"
            raise ConfigError(f"fault {spec}: scenario {scenario.name} never connects to that address "
                              f"in its default run (it connects to: {seen})")
