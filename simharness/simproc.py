"""Placeholder until the deterministic simproc adapter lands: every entry point says so."""

from __future__ import annotations

from typing import Any

from .errors import UnsupportedInSimulation


def _missing(name: str) -> Any:
    async def entry(*args: Any, **kwargs: Any) -> Any:
        raise UnsupportedInSimulation(f"loop.{name}()", "not implemented in simulation yet")
    return entry


create_server = _missing("create_server")
create_connection = _missing("create_connection")
getaddrinfo = _missing("getaddrinfo")
subprocess_exec = _missing("subprocess_exec")
subprocess_shell = _missing("subprocess_shell")
