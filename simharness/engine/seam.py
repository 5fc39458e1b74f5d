"""The seam through which the simulated world plugs into the controlled loop.

The engine never imports the world (`simharness.world`): the world registers the
handlers for the loop methods it implements (network, child processes, ...) here when
it is imported, and the loop looks them up by method name when scenario code calls
them. A method with no registered handler is refused as unsupported in simulation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simharness.errors import UnsupportedInSimulation

#: loop method name -> handler(loop, *args, **kwargs); filled by `simharness.world`.
_HANDLERS: dict[str, Callable[..., Any]] = {}


def register(method: str, handler: Callable[..., Any]) -> None:
    """Let `handler(loop, *args, **kwargs)` implement `loop.<method>(...)` in simulation."""
    _HANDLERS[method] = handler


def handler(method: str) -> Callable[..., Any]:
    """The registered handler of `method`, or an `UnsupportedInSimulation` error."""
    found = _HANDLERS.get(method)
    if found is None:
        raise UnsupportedInSimulation(f"loop.{method}()", "no simulated world is installed for it "
                                      "(import simharness.world)")
    return found
