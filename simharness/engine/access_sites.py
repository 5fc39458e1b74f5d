"""Where a code object reads or writes shared state: its access sites, found in its bytecode.

An access site is an instruction that reads or writes an attribute or an item
(`STORE_ATTR`, `STORE_SUBSCR`, `DELETE_*`, `LOAD_ATTR`, `BINARY_SUBSCR`, `in`), or
that loads a method of a builtin container which mutates it (`d.clear()`,
`items.append(x)`). A tracer only sees the instruction about to run, not the value
stack, so each site also names the expressions that pushed its operands
(`self.metrics`, `key`), found by running a symbolic copy of the value stack over
the code. Those expressions are re-evaluated in the frame when the site runs.

The symbolic stack errs on the side of "unknown": an instruction not modelled here
turns every entry into unknown, and a site whose owner is unknown is not recorded.
So an access may be missed (`x.n += await f()`: the await's loop loses the owner),
but never attributed to the wrong object.
"""

from __future__ import annotations

import dis
import sys
from dataclasses import dataclass
from types import CodeType
from typing import Union

#: A symbolic operand: ("fast", name), ("global", name), ("const", value),
#: ("attr", base, name) or ("item", base, key). None: unknown.
Expr = Union[tuple, None]  # type: ignore[type-arg]

#: Methods of builtin containers that change them, and ones that read them whole.
MUTATORS = frozenset({"append", "extend", "insert", "pop", "popitem", "remove", "clear", "update",
                      "setdefault", "add", "discard", "difference_update", "intersection_update",
                      "symmetric_difference_update", "sort", "reverse", "appendleft", "extendleft",
                      "popleft", "rotate"})
READERS = frozenset({"get", "keys", "values", "items", "copy", "count", "index", "__contains__"})

_LOADS_NAME = frozenset({"LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_AND_CLEAR", "LOAD_DEREF",
                         "LOAD_CLASSDEREF", "LOAD_CLOSURE"})
_POPS_ONE = frozenset({"POP_TOP", "STORE_FAST", "STORE_NAME", "STORE_GLOBAL", "STORE_DEREF",
                       "POP_JUMP_IF_FALSE", "POP_JUMP_IF_TRUE", "POP_JUMP_IF_NONE", "POP_JUMP_IF_NOT_NONE",
                       "POP_JUMP_FORWARD_IF_FALSE", "POP_JUMP_FORWARD_IF_TRUE", "POP_JUMP_BACKWARD_IF_FALSE",
                       "POP_JUMP_BACKWARD_IF_TRUE", "POP_JUMP_FORWARD_IF_NONE", "POP_JUMP_FORWARD_IF_NOT_NONE",
                       "POP_JUMP_BACKWARD_IF_NONE", "POP_JUMP_BACKWARD_IF_NOT_NONE"})
_ONE_FOR_ONE = frozenset({"UNARY_NEGATIVE", "UNARY_NOT", "UNARY_INVERT", "UNARY_POSITIVE", "TO_BOOL",
                          "GET_ITER", "GET_LEN_UNUSED", "FORMAT_SIMPLE", "CONVERT_VALUE"})
_TWO_FOR_ONE = frozenset({"BINARY_OP", "COMPARE_OP", "IS_OP"})
_NO_EFFECT = frozenset({"NOP", "RESUME", "CACHE", "EXTENDED_ARG", "KW_NAMES", "NOT_TAKEN"})
_NO_FALL_THROUGH = frozenset({"RETURN_VALUE", "RETURN_CONST", "RAISE_VARARGS", "RERAISE", "JUMP_FORWARD",
                              "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT", "JUMP", "JUMP_NO_INTERRUPT"})
_JUMPS_AS_IS = frozenset({"JUMP_FORWARD", "JUMP_BACKWARD", "JUMP", "NOP"})


@dataclass(frozen=True)
class Site:
    """One access site: what the instruction does to which operand expressions."""

    write: bool
    kind: str          # "attr", "item" or "whole" (the container as a whole: `in`, a method)
    owner: Expr        # the object accessed (never None: such sites are not kept)
    member: str = ""   # the attribute name ("attr") or the method name ("whole", "" for `in`)
    key: Expr = None   # the item's key ("item"; None: unknown key, taken as the whole container)


class _Stack:
    """A symbolic value stack, relative to its top: popping past the bottom gives unknown."""

    def __init__(self, items: list[Expr] | None = None) -> None:
        self.items: list[Expr] = list(items or ())

    def pop(self) -> Expr:
        return self.items.pop() if self.items else None

    def peek(self, n: int) -> Expr:
        return self.items[-n] if len(self.items) >= n else None

    def push(self, *values: Expr) -> None:
        self.items.extend(values)

    def forget(self, net: int) -> None:
        """An instruction not modelled: every entry becomes unknown, depth moves by `net`."""
        depth = max(0, len(self.items) + net)
        self.items = [None] * depth


def _merge(one: list[Expr], other: list[Expr]) -> list[Expr]:
    if len(one) != len(other):
        return []
    return [a if a == b else None for a, b in zip(one, other)]


def _net(instr: dis.Instruction) -> int:
    try:
        if instr.opcode >= dis.HAVE_ARGUMENT:
            return dis.stack_effect(instr.opcode, instr.arg or 0, jump=False)
        return dis.stack_effect(instr.opcode, jump=False)
    except ValueError:
        return 0


def _popped(op: str, arg: int) -> int:
    """How many entries a call, a build or a format takes off the stack."""
    if op == "PRECALL":  # 3.11: the arguments; its CALL then takes the callable and self/NULL
        return arg
    if op == "CALL":
        return 2 if sys.version_info < (3, 12) else arg + 2
    if op == "CALL_KW":
        return arg + 3
    if op == "BUILD_MAP":
        return 2 * arg
    if op == "FORMAT_VALUE":
        return 2 if arg & 0x04 else 1
    return arg


def _load_attr(instr: dis.Instruction, stack: _Stack, sites: dict[int, Site]) -> None:
    owner = stack.pop()
    name = str(instr.argval)
    method = instr.opname == "LOAD_METHOD" or (instr.opname == "LOAD_ATTR" and "NULL|self" in instr.argrepr)
    if owner is not None:
        if not method:
            sites[instr.offset] = Site(False, "attr", owner, name)
        elif name in MUTATORS or name in READERS:
            sites[instr.offset] = Site(name in MUTATORS, "whole", owner, name)
    if method:
        stack.push(None, None)
    else:
        stack.push(("attr", owner, name) if owner is not None else None)


def _load_global(instr: dis.Instruction, stack: _Stack) -> None:
    value = ("global", str(instr.argval))
    if instr.argrepr.startswith("NULL + "):
        stack.push(None, value)
    elif instr.argrepr.endswith(" + NULL"):
        stack.push(value, None)
    else:
        stack.push(value)


def _step(instr: dis.Instruction, stack: _Stack, sites: dict[int, Site]) -> None:
    """Apply one instruction to the symbolic stack, noting it if it is an access site."""
    op = instr.opname
    if op in _LOADS_NAME or op == "LOAD_NAME":
        stack.push(("fast", str(instr.argval)))
    elif op == "LOAD_FAST_LOAD_FAST":
        stack.push(*(("fast", str(name)) for name in instr.argval))
    elif op == "LOAD_GLOBAL":
        _load_global(instr, stack)
    elif op == "LOAD_CONST":
        stack.push(("const", instr.argval))
    elif op in ("LOAD_ATTR", "LOAD_METHOD"):
        _load_attr(instr, stack, sites)
    elif op in ("STORE_ATTR", "DELETE_ATTR"):
        owner = stack.pop()
        if op == "STORE_ATTR":
            stack.pop()
        if owner is not None:
            sites[instr.offset] = Site(True, "attr", owner, str(instr.argval))
    elif op in ("STORE_SUBSCR", "DELETE_SUBSCR", "BINARY_SUBSCR"):
        key, container = stack.pop(), stack.pop()
        if op == "STORE_SUBSCR":
            stack.pop()
        if container is not None:
            sites[instr.offset] = Site(op != "BINARY_SUBSCR", "item", container, key=key)
        if op == "BINARY_SUBSCR":
            stack.push(("item", container, key) if container is not None and key is not None else None)
    elif op == "CONTAINS_OP":
        container, key = stack.pop(), stack.pop()
        if container is not None:
            sites[instr.offset] = Site(False, "item", container, key=key)
        stack.push(None)
    elif op == "COPY":
        stack.push(stack.peek(int(instr.arg or 1)))
    elif op == "SWAP":
        n = int(instr.arg or 2)
        while len(stack.items) < n:
            stack.items.insert(0, None)
        stack.items[-1], stack.items[-n] = stack.items[-n], stack.items[-1]
    elif op == "PUSH_NULL":
        stack.push(None)
    elif op in ("PRECALL", "CALL", "CALL_KW", "BUILD_TUPLE", "BUILD_LIST", "BUILD_SET", "BUILD_STRING",
                "BUILD_MAP", "FORMAT_VALUE"):
        for _ in range(_popped(op, int(instr.arg or 0))):
            stack.pop()
        if op != "PRECALL":
            stack.push(None)
    elif op in _POPS_ONE:
        stack.pop()
    elif op in _ONE_FOR_ONE:
        stack.pop()
        stack.push(None)
    elif op in _TWO_FOR_ONE:
        stack.pop()
        stack.pop()
        stack.push(None)
    elif op not in _NO_EFFECT and op not in _JUMPS_AS_IS:
        stack.forget(_net(instr))


def _jump_target(instr: dis.Instruction) -> int | None:
    if instr.opcode in dis.hasjrel or instr.opcode in dis.hasjabs:
        return instr.argval if isinstance(instr.argval, int) else None
    return None


def find_sites(code: CodeType) -> dict[int, Site]:
    """The access sites of one code object (not of the code objects nested in it), by offset."""
    instructions = list(dis.get_instructions(code))
    # A target reached by a backward jump or by a jump whose effect is not modelled
    # starts from an unknown stack; one reached only by modelled forward jumps (and
    # by falling through) starts from what those paths agree on.
    modelled: dict[int, bool] = {}
    for instr in instructions:
        target = _jump_target(instr)
        if target is not None:
            simple = target > instr.offset and (instr.opname in _JUMPS_AS_IS or instr.opname in _POPS_ONE)
            modelled[target] = modelled.get(target, True) and simple
    sites: dict[int, Site] = {}
    stack = _Stack()
    at_target: dict[int, list[Expr]] = {}
    falls_through = True
    for instr in instructions:
        if instr.is_jump_target or instr.offset in modelled:
            recorded = at_target.pop(instr.offset, None)
            if not modelled.get(instr.offset, False):
                stack = _Stack()
            elif not falls_through:
                stack = _Stack(recorded or [])
            elif recorded is not None:
                stack = _Stack(_merge(stack.items, recorded))
        elif not falls_through:
            stack = _Stack()
        _step(instr, stack, sites)
        target = _jump_target(instr)
        if target is not None and modelled.get(target, False):
            earlier = at_target.get(target)
            at_target[target] = stack.items[:] if earlier is None else _merge(earlier, stack.items)
        falls_through = instr.opname not in _NO_FALL_THROUGH
    return sites
