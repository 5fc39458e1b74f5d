"""Schedules: the recorded decisions of one run, as data and as a short string.

A schedule is the list of real decisions a run made (only steps with two or more
options are decisions). Each decision keeps the chosen index (0 = the default,
native asyncio order), how many options there were, and a one-byte fingerprint of
who those options were, so a replay notices when it no longer follows the run it
came from.

Text form, version 1: ``s1`` + mode (``f`` faithful, ``p`` preemptive) + the minor
version of the Python it was recorded on (``11`` for 3.11; absent in schedules from
before it was recorded) + ``-`` + a six-character scope naming the scenario and variant
+ (when there are decisions) ``-`` + the decisions in lowercase base32, ending with two
bytes of the run's trace hash. It only uses ``[a-z0-9-]``, so it can be pasted into a
shell without quoting.

The Python version and the trace digest let a replay say *where* it stopped following
the recording ("recorded on 3.11, replaying on 3.12: asyncio differs here") instead of
silently producing another trace.

Decisions up to the last one that left the default order are kept in full; the
default decisions after it are kept as a count and a two-byte digest of who their
options were (the *tail*), checked when a replay ends. So a schedule is as long as
its departures from native order, and shrinking toward fewer, earlier departures
also shortens its text.
"""

from __future__ import annotations

import base64
import hashlib
import sys
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from simharness.errors import ScheduleDecodeError

VERSION_PREFIX = "s1"
_RAW, _DEFLATED = 0, 1


@dataclass(frozen=True, slots=True)
class Decision:
    """One recorded choice: `index` among `options` candidates whose identity hashes to `fingerprint`."""

    index: int
    options: int
    fingerprint: int


def fingerprint(keys: Iterable[str]) -> int:
    """One byte identifying a set of candidates by their keys (order matters)."""
    return zlib.crc32("\x1f".join(keys).encode()) & 0xFF


def scope_of(scenario: str, variant: str) -> str:
    """Six base32 characters naming a scenario and variant inside a schedule."""
    digest = hashlib.blake2b(f"{scenario}\x00{variant}".encode(), digest_size=5).digest()
    return base64.b32encode(digest).decode().lower()[:6]


def _varint(value: int, out: bytearray) -> None:
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(data):
            raise ScheduleDecodeError("schedule is truncated")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ScheduleDecodeError("schedule holds a number that is too large")


def tail_crc(decisions: Iterable[Decision], start: int = 0) -> int:
    """CRC-32 of default decisions' options and fingerprints; chainable through `start`."""
    raw = bytearray()
    for decision in decisions:
        _varint(decision.options, raw)
        raw.append(decision.fingerprint)
    return zlib.crc32(bytes(raw), start)


def tail_digest(decisions: Iterable[Decision]) -> int:
    """Two bytes identifying a run of default decisions (what a schedule's text keeps)."""
    return tail_crc(decisions) & 0xFFFF


@dataclass(frozen=True)
class Schedule:
    """The decisions of one run of one scenario variant, in order.

    `decisions` are kept in full; `tail` more decisions followed them, all taking the
    default option, identified together by `tail_digest`.
    """

    scope: str
    preemptive: bool
    decisions: tuple[Decision, ...] = ()
    tail: int = 0
    tail_digest: int = 0
    #: Minor version of the Python 3 the run was recorded on (0: not recorded).
    python: int = sys.version_info[1]
    #: The first two bytes of the recorded run's trace hash (0: not recorded).
    trace_digest: int = 0

    @property
    def indices(self) -> tuple[int, ...]:
        return tuple(d.index for d in self.decisions) + (0,) * self.tail

    @property
    def length(self) -> int:
        """How many decisions the run made."""
        return len(self.decisions) + self.tail

    @property
    def deviations(self) -> int:
        """How many decisions departed from the default order (non-zero indices)."""
        return sum(1 for d in self.decisions if d.index)

    def compact(self) -> Schedule:
        """The same schedule with its trailing default decisions folded into the tail."""
        end = len(self.decisions)
        while end and self.decisions[end - 1].index == 0:
            end -= 1
        if end == len(self.decisions):
            return self
        folded = self.decisions[end:]
        if self.tail:  # a tail after unfolded defaults: digest continues from them
            raise ValueError("cannot fold decisions in front of an existing tail")
        return Schedule(self.scope, self.preemptive, self.decisions[:end], len(folded), tail_digest(folded),
                        self.python, self.trace_digest)

    def encode(self) -> str:
        compact = self.compact() if not self.tail else self
        version = str(self.python) if self.python else ""
        head = f"{VERSION_PREFIX}{'p' if self.preemptive else 'f'}{version}-{self.scope}"
        if not compact.length and not self.trace_digest:
            return head
        raw = bytearray()
        _varint(len(compact.decisions), raw)
        for decision in compact.decisions:
            _varint(decision.index, raw)
            _varint(decision.options - 2, raw)
            raw.append(decision.fingerprint)
        _varint(compact.tail, raw)
        if compact.tail:
            raw += compact.tail_digest.to_bytes(2, "big")
        if self.trace_digest:
            raw += self.trace_digest.to_bytes(2, "big")
        packed = zlib.compress(bytes(raw), 9)
        body = bytes([_DEFLATED]) + packed if len(packed) < len(raw) else bytes([_RAW]) + raw
        return f"{head}-{base64.b32encode(body).decode().rstrip('=').lower()}"

    @classmethod
    def decode(cls, text: str) -> Schedule:
        text = text.strip()
        parts = text.split("-")
        if (len(parts) not in (2, 3) or len(parts[0]) not in (3, 4, 5) or not parts[0].startswith(VERSION_PREFIX)
                or not parts[0][3:].isdigit() and parts[0][3:]):
            raise ScheduleDecodeError(f"not a simharness schedule: {text!r}")
        mode = parts[0][2]
        python = int(parts[0][3:] or 0)
        if mode not in "fp":
            raise ScheduleDecodeError(f"unknown schedule mode {mode!r} in {text!r}")
        scope = parts[1]
        if len(scope) != 6:
            raise ScheduleDecodeError(f"malformed schedule scope in {text!r}")
        decisions: list[Decision] = []
        tail = digest = trace = 0
        if len(parts) == 3:
            body = parts[2].upper()
            try:
                data = base64.b32decode(body + "=" * (-len(body) % 8))
            except ValueError:
                raise ScheduleDecodeError(f"schedule body does not decode: {text!r}") from None
            if not data:
                raise ScheduleDecodeError(f"empty schedule body in {text!r}")
            if data[0] == _DEFLATED:
                try:
                    data = zlib.decompress(data[1:])
                except zlib.error:
                    raise ScheduleDecodeError(f"schedule body is corrupt: {text!r}") from None
            elif data[0] == _RAW:
                data = data[1:]
            else:
                raise ScheduleDecodeError(f"unknown schedule encoding in {text!r}")
            count, pos = _read_varint(data, 0)
            for _ in range(count):
                index, pos = _read_varint(data, pos)
                extra, pos = _read_varint(data, pos)
                if pos >= len(data):
                    raise ScheduleDecodeError("schedule is truncated")
                options = extra + 2
                if index >= options:
                    raise ScheduleDecodeError(f"schedule decision {len(decisions) + 1} is out of range")
                decisions.append(Decision(index, options, data[pos]))
                pos += 1
            tail, pos = _read_varint(data, pos)
            if tail:
                if pos + 2 > len(data):
                    raise ScheduleDecodeError("schedule is truncated")
                digest, pos = int.from_bytes(data[pos:pos + 2], "big"), pos + 2
            if python and pos + 2 == len(data):
                trace, pos = int.from_bytes(data[pos:pos + 2], "big"), pos + 2
            if pos != len(data):
                raise ScheduleDecodeError(f"schedule has trailing data: {text!r}")
        return cls(scope=scope, preemptive=mode == "p", decisions=tuple(decisions), tail=tail,
                   tail_digest=digest, python=python, trace_digest=trace)

    def check_scope(self, scenario: str, variant: str) -> None:
        """Raise `ScheduleDecodeError` unless this schedule was made for scenario/variant."""
        if self.scope != scope_of(scenario, variant):
            raise ScheduleDecodeError(
                f"schedule was recorded for another scenario or variant, not {scenario} --variant {variant}"
            )


def schedule_from(scenario: str, variant: str, preemptive: bool, decisions: Sequence[Decision],
                  trace_hash: str = "") -> Schedule:
    """The compact schedule of a run that made `decisions` (and left trace `trace_hash`)."""
    trace = int(trace_hash[:4], 16) if trace_hash else 0
    return Schedule(scope_of(scenario, variant), preemptive, tuple(decisions), trace_digest=trace).compact()


def recorded_on(schedule: Schedule) -> str:
    """"recorded on 3.11, replaying on 3.12: " when the versions differ, else ""."""
    here = sys.version_info[1]
    if schedule.python and schedule.python != here:
        return f"recorded on 3.{schedule.python}, replaying on 3.{here}: asyncio differs here: "
    return ""
