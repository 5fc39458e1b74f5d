"""Which task read or wrote which shared object: recorded on a replay, never while exploring.

`AccessRecorder` is switched on by `Execution.run(..., accesses=True)`. For the
length of the run it traces (`access_tracing.recording`) the loop thread's user code (not simharness's, not the
standard library's: asyncio's plumbing says nothing about the race) and notes
every attribute and item access its sites (`access_sites.py`) make, with the step
and actor that made it. On 3.11 the tracer is `sys.settrace` with opcode events;
on 3.12+ it is `sys.monitoring` instruction events, switched on per code object and
left on only at access sites. Either costs far more than a plain run, which is why
only the replays that build an explanation ask for it.

Objects are told apart by identity during the run (each one is kept alive until
the run ends, so an id is never reused) and named by the expression the code used
(`self.metrics.requests_made`, with `self`/`cls` shown as the class name), which is
the same from one run to the next. What is kept at the end are the accesses to
members that two actors touched and at least one wrote: the shared, conflicting ones.
"""

from __future__ import annotations

import importlib.util
import os
import sysconfig
import threading
from types import CodeType, FrameType, GetSetDescriptorType
from typing import Any

from simharness.engine.access_sites import Expr, Site, find_sites
from simharness.outcome import Access

#: Accesses kept per run at most: a runaway loop must not exhaust memory on a replay.
MAX_ACCESSES = 200_000
#: Longest item key shown by value (`['user-1']`); longer ones are shown as written.
KEY_TEXT = 40


def _package_dirs(*names: str) -> tuple[str, ...]:
    """Where these packages live, if installed (found without importing them)."""
    found = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is not None:
            found += [folder + os.sep for folder in spec.submodule_search_locations or ()]
    return tuple(found)


_PATHS = sysconfig.get_paths()
#: Code that is not the user's: simharness, the standard library (asyncio), installed
#: packages (site-packages: a library's own bookkeeping, aiosqlite's connection state,
#: would crowd out the scenario's), and pytest's machinery wherever it is installed.
_OWN = (os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,  # simharness/
        _PATHS["stdlib"] + os.sep, _PATHS["platstdlib"] + os.sep, _PATHS["purelib"] + os.sep,
        _PATHS["platlib"] + os.sep, *_package_dirs("_pytest", "pluggy"))
_MISSING = object()
_PLAIN_KEYS = (str, int, float, bool, bytes, type(None))
#: Methods that build their first argument: what they write is not shared yet.
_BUILDERS = frozenset({"__init__", "__post_init__", "__new__", "__init_subclass__"})
_Location = tuple[int, str]  # (object number, member text)


def is_user_code(code: CodeType) -> bool:
    """Code whose accesses count: the scenario's or test's own, not simharness's, asyncio's or a library's."""
    name = code.co_filename
    return not name.startswith(_OWN) and not name.startswith("<frozen")


def _plain(value: Any) -> Any:
    """`value` unless it is computed on access (a property, a method): then missing."""
    return _MISSING if hasattr(type(value), "__get__") else value


def _lookup(owner: Any, name: str) -> Any:
    """`owner.name` without running user code (no property, no `__getattr__`): else missing."""
    own: Any = {}
    slot = next((k.__dict__["__dict__"] for k in type(owner).__mro__ if "__dict__" in k.__dict__), None)
    if type(slot) is GetSetDescriptorType or isinstance(owner, type):  # the plain instance dict, no property
        try:
            own = object.__getattribute__(owner, "__dict__")
        except (AttributeError, TypeError):
            pass
    if name in own:
        return own[name] if not isinstance(owner, type) else _plain(own[name])
    for klass in (owner.__mro__ if isinstance(owner, type) else type(owner).__mro__):
        if name in klass.__dict__:
            return _plain(klass.__dict__[name])
    return _MISSING


def _evaluate(expr: Expr, frame: FrameType, local: Any) -> Any:
    if expr is None:
        return _MISSING
    kind = expr[0]
    if kind == "fast":
        try:
            return local[expr[1]]
        except KeyError:
            value = frame.f_globals.get(expr[1], _MISSING)
            return value if value is not _MISSING else frame.f_builtins.get(expr[1], _MISSING)
    if kind == "global":
        value = frame.f_globals.get(expr[1], _MISSING)
        return value if value is not _MISSING else frame.f_builtins.get(expr[1], _MISSING)
    if kind == "const":
        return expr[1]
    base = _evaluate(expr[1], frame, local)
    if base is _MISSING:
        return _MISSING
    if kind == "attr":
        return _lookup(base, expr[2])
    key = _evaluate(expr[2], frame, local)
    if isinstance(base, dict) and type(key) in _PLAIN_KEYS:  # hashing another key may run its code
        return dict.get(base, key, _MISSING)
    if isinstance(base, (list, tuple)) and type(key) is int and -len(base) <= key < len(base):
        return base[key]
    return _MISSING


def _text(expr: Expr, frame: FrameType, local: Any) -> str:
    """The expression as people read it; a leading `self` or `cls` becomes the class name."""
    assert expr is not None
    kind = expr[0]
    if kind in ("fast", "global"):
        name = str(expr[1])
        if name in ("self", "cls"):
            value = _evaluate(expr, frame, local)
            if value is not _MISSING:
                return value.__name__ if isinstance(value, type) else type(value).__name__
        return name
    if kind == "const":
        return repr(expr[1])
    base = _text(expr[1], frame, local) if expr[1] is not None else "?"
    return f"{base}.{expr[2]}" if kind == "attr" else f"{base}[{_key_text(expr[2], frame, local)}]"


def _key_text(expr: Expr, frame: FrameType, local: Any) -> str:
    value = _evaluate(expr, frame, local)
    if value is not _MISSING and isinstance(value, (str, int, float, bool, type(None))):
        shown = repr(value)
        if len(shown) <= KEY_TEXT:
            return shown
    return _text(expr, frame, local) if expr is not None else "?"


class AccessRecorder:
    """Records the shared-object accesses of one run (see the module docstring)."""

    def __init__(self) -> None:
        self.step = 0
        self.actor = ""
        self._objects: dict[int, tuple[int, Any]] = {}   # id -> (number, the object, kept alive)
        self._raw: list[tuple[int, str, bool, _Location, str, str, str]] = []
        self._sites: dict[CodeType, dict[int, Site]] = {}
        self._thread = threading.get_ident()
        self.truncated = False  # MAX_ACCESSES reached: later accesses were not kept
        self.missed = 0         # accesses whose lookup failed, left unrecorded

    def at_step(self, step: int, actor: str) -> None:
        """The loop is about to run `step` for `actor`: accesses from now on are theirs."""
        self.step, self.actor = step, actor

    def sites(self, code: CodeType) -> dict[int, Site]:
        """The access sites of `code` by offset (none for code that is not the user's), found once."""
        found = self._sites.get(code)
        if found is None:
            found = self._sites[code] = find_sites(code) if is_user_code(code) else {}
        return found

    def _number(self, value: Any) -> int:
        held = self._objects.get(id(value))
        if held is None:
            held = self._objects[id(value)] = (len(self._objects) + 1, value)
        return held[0]

    def record(self, frame: FrameType, site: Site) -> None:
        """The instruction at `site` is about to run in `frame`: note what it touches."""
        if not self.step or threading.get_ident() != self._thread:
            return
        try:
            self._record(frame, site)
        except Exception:  # an odd object the lookups do not expect: that access goes unrecorded
            # (raising here would raise inside the user's code, or end the tracer)
            self.missed += 1

    def _record(self, frame: FrameType, site: Site) -> None:
        if len(self._raw) >= MAX_ACCESSES:
            self.truncated = True
            return
        code = frame.f_code
        if code.co_name in _BUILDERS and code.co_argcount and site.owner == ("fast", code.co_varnames[0]):
            return  # an object under construction: nobody else can reach it yet
        local = frame.f_locals
        owner = _evaluate(site.owner, frame, local)
        if owner is _MISSING:
            return
        if site.kind == "attr":
            member, how = "." + site.member, ""
        elif site.kind == "whole" or site.key is None:
            if not isinstance(owner, (dict, list, set, bytearray)) and type(owner).__name__ != "deque":
                return  # a method of another type: its own code is traced instead
            member, how = "", f"{site.member}()" if site.member else "in"
        else:
            member, how = f"[{_key_text(site.key, frame, local)}]", ""
        where = f"{os.path.basename(code.co_filename)}:{frame.f_lineno}"
        self._raw.append((self.step, self.actor, site.write, (self._number(owner), member),
                          _text(site.owner, frame, local), where, how))

    def accesses(self) -> tuple[Access, ...]:
        """The accesses to members two actors touched and one of them wrote, in run order."""
        actors: dict[_Location, set[str]] = {}
        written: set[_Location] = set()
        wholes: dict[int, list[int]] = {}
        for n, (_, actor, write, location, *_rest) in enumerate(self._raw):
            actors.setdefault(location, set()).add(actor)
            if write:
                written.add(location)
            if location[1] == "":
                wholes.setdefault(location[0], []).append(n)
        # A whole-container access (`in` with an unknown key, `clear()`) touches every item.
        for (number, member), who in actors.items():
            if member.startswith("["):
                for n in wholes.get(number, ()):
                    who.add(self._raw[n][1])
                    if self._raw[n][2]:
                        written.add((number, member))
        conflicting = {loc for loc, who in actors.items() if len(who) > 1 and loc in written}
        for location in list(conflicting):  # the whole-container accesses of a raced item count too
            conflicting.add((location[0], ""))
        return tuple(Access(step=step, actor=actor, write=write, obj=location[0], owner=owner,
                            member=location[1], where=where, how=how)
                     for step, actor, write, location, owner, where, how in self._raw if location in conflicting)
