"""The parts of a failure message that differ between two runs of the same bug, and their masking."""

from __future__ import annotations

import re

_VOLATILE = (
    (re.compile(r"<[^<>]*? at 0x[0-9a-fA-F]+>"), "<object>"),
    (re.compile(r"0x[0-9a-fA-F]+"), "0x?"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"(?:/tmp|/var/folders|/private/var|[A-Za-z]:\\[^\s'\"]*\\Temp)[/\\][^\s'\":,)]*"), "<tmp>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{12,}\b"), "<hex>"),
    (re.compile(r"\d+(?:\.\d+)?"), "#"),
)


def normalise(message: str) -> str:
    """The first line of a message with its volatile parts masked: object reprs, hex, UUIDs, temp paths, numbers."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    for pattern, replacement in _VOLATILE:
        first = pattern.sub(replacement, first)
    return " ".join(first.split())
