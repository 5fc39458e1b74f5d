"""The digest of a run's history: which steps ran, in which order, at which virtual time.

What it is for: dfs's reduction (`strategies/dfs.py`) prunes a decision whose state
it has already explored from. The loop cannot compare states (the Python heap), but
it can compare *histories*: under the determinism every exhaustive strategy already
assumes (the same choices lead to the same run), the state at a decision is a
function of the steps run before it. Two runs that ran the same steps in the same
order at the same virtual times, and are at the same point of the same select, are in
the same state, and every continuation of one is a continuation of the other.

A step is named by what identifies it given the steps before it (non-preemptive mode):

* an outside event or a timer by its key (`conn-2<`, `checkpoint:Task-3`, `timer:7`,
  `thread-1`): the events of one key run in the order they were posted, so "the next
  event of key k" is one event, and a timer key names one timer;
* a plain ready callback (a task resuming, a future's done callback) by nothing: the
  ready queue is FIFO, so the plain callback that runs next is always the oldest one
  not yet run, which the steps before it determine.

In preemptive mode any queued callback may run next, so the second rule fails there;
the loop keeps no digest in that mode (no reduction).

The digest is a polynomial hash over 2^127 - 1 with a base drawn at random per
process: two different histories of at most n steps collide with probability at most
n / 2^127, whatever the scenario (over a million explored states and thousand-step
runs, all pairs together: below 10^-20). Keys enter as exact numbers (`_CODES`), not
hashes. Each element carries a tag in its top bits, so the sequence of elements is
uniquely parseable (a step never reads as a decision's part).
The clock enters the history as an element of its own whenever it moved since the step
before, so a step's time is the last clock element before it (0 at the start).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

MODULUS = (1 << 127) - 1
#: Drawn per process: the bound on collisions holds for any input only with a random base.
BASE = secrets.randbelow(MODULUS - 2) + 2
#: The digest of the empty history (a leading 1: histories of different lengths differ).
EMPTY = 1

_PAYLOAD = 1 << 124
_STEP, _NOW, _CLOCK, _HELD, _RELEASED = (tag << 124 for tag in (1, 2, 3, 4, 5))
#: Every key met in this process, numbered: exact (two keys never share a code), and
#: small (keys name actors and timers of the scenario, not data).
_CODES: dict[str, int] = {}


def _key_code(key: str) -> int:
    code = _CODES.get(key)
    if code is None:
        code = _CODES[key] = len(_CODES) + 1
    return code


def fold_steps(digest: int, items: list[str | int]) -> int:
    """The digest after more steps: `items` holds each step's key ("" for a plain callback),
    preceded by the clock (an int) whenever it moved since the step before."""
    for item in items:
        if isinstance(item, str):
            digest = (digest * BASE + (_STEP | _key_code(item))) % MODULUS
        else:
            digest = (digest * BASE + (_NOW | item)) % MODULUS
    return digest


def decision_state(digest: int, now_ns: int, held_for: int | None, released: Iterable[str]) -> int:
    """The state of a decision: the history, the clock, how long slow events have been held
    back (`None`: not held), and the keys already released, in order, in this select."""
    state = (digest * BASE + (_CLOCK | now_ns)) % MODULUS
    state = (state * BASE + (_HELD | (0 if held_for is None else held_for + 1) % _PAYLOAD)) % MODULUS
    for key in released:
        state = (state * BASE + (_RELEASED | _key_code(key))) % MODULUS
    return state
