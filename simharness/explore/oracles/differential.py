"""Differential oracle: a parallel run must give the same results as the sequential one.

Use it on your own code when "parallelism N" and "parallelism 1" are supposed to mean
the same thing but take different code paths (seed 000, sections 2 and 4):

    await assert_same_as_sequential(lambda p: run_suite(tests, parallelism=p), parallelism=4)

It runs the sequential baseline first, then the parallel run, projects both through
`key`, and raises `DivergenceError` (an AssertionError, so simharness classifies it as
kind `assertion`) whose message lists every differing path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

#: How many differences a message lists before it says "and N more".
MAX_LISTED = 12


class DivergenceError(AssertionError):
    """The parallel run's results differ from the sequential baseline's."""

    def __init__(self, parallelism: int, baseline: int, differences: list[str]) -> None:
        self.parallelism = parallelism
        self.baseline = baseline
        self.differences = differences
        listed = differences[:MAX_LISTED]
        more = f"; and {len(differences) - MAX_LISTED} more" if len(differences) > MAX_LISTED else ""
        super().__init__(f"parallelism {parallelism} diverges from parallelism {baseline} in "
                         f"{len(differences)} place(s): " + "; ".join(listed) + more)


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray))


def differences(expected: Any, actual: Any, path: str = "result",
                labels: tuple[str, str] = ("sequential", "parallel")) -> list[str]:
    """Every place where `actual` differs from `expected`, one readable line each.

    Mappings are compared key by key (a missing key is reported as such), sequences
    element by element plus their lengths, anything else with `==`.
    """
    left, right = labels
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        found: list[str] = []
        for name in list(expected) + [k for k in actual if k not in expected]:
            where = f"{path}[{name!r}]"
            if name not in actual:
                found.append(f"{where}: missing with {right} ({left} gives {expected[name]!r})")
            elif name not in expected:
                found.append(f"{where}: missing with {left} ({right} gives {actual[name]!r})")
            else:
                found.extend(differences(expected[name], actual[name], where, labels))
        return found
    if _is_sequence(expected) and _is_sequence(actual):
        found = []
        if len(expected) != len(actual):
            found.append(f"len({path}): {left} gives {len(expected)}, {right} gives {len(actual)}")
        for index, (a, b) in enumerate(zip(expected, actual)):
            found.extend(differences(a, b, f"{path}[{index}]", labels))
        return found
    if expected != actual:
        return [f"{path}: {left} gives {expected!r}, {right} gives {actual!r}"]
    return []


def _identity(value: Any) -> Any:
    return value


async def assert_same_as_sequential(run: Callable[[int], Awaitable[T]], parallelism: int, *,
                                    key: Callable[[T], Any] = _identity, baseline: int = 1) -> T:
    """Run `run(baseline)` then `run(parallelism)`; raise `DivergenceError` if `key` differs.

    `key` projects a run's result onto what must agree (per-test outcomes and counts,
    say, but not timings). Returns the parallel run's result.
    """
    if parallelism < 1 or baseline < 1:
        raise ValueError(f"parallelism and baseline must be >= 1, got {parallelism} and {baseline}")
    if parallelism == baseline:
        raise ValueError("parallelism equals the baseline: nothing to compare")
    expected = key(await run(baseline))
    result = await run(parallelism)
    found = differences(expected, key(result), labels=(f"parallelism {baseline}", f"parallelism {parallelism}"))
    if found:
        raise DivergenceError(parallelism, baseline, found)
    return result
