"""HTML building blocks of the report: escaping, small elements, the page skeleton.

Every piece of text that came from a result document (scenario names, task names,
messages, labels, file names) goes through `esc` or `attr` before it reaches the
page: a scenario may be named `<script>alert(1)</script>` and must render as text.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from simharness.report.assets import CSS, SCRIPT

# No network at view time, enforced by the browser as well as by construction:
# nothing may be fetched, only the inline style and script run.
_CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
        "img-src data:; base-uri 'none'; form-action 'none'")


def esc(text: object) -> str:
    """`text` as HTML/SVG character data (quotes escaped too, so it is safe in attributes)."""
    return html.escape("" if text is None else str(text), quote=True)


def attr(name: str, value: object) -> str:
    """One attribute, ` name="value"`, with the value escaped."""
    return f' {name}="{esc(value)}"'


def tag(name: str, body: str = "", *, cls: str | None = None, **attrs: object) -> str:
    """An element around already-built `body` (escape text before passing it)."""
    parts = attr("class", cls) if cls else ""
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        parts += attr(key.rstrip("_").replace("_", "-"), "" if value is True else value)
    return f"<{name}{parts}>{body}</{name}>"


def table(headers: Iterable[str], rows: Iterable[Iterable[str]], *, cls: str = "grid", **attrs: object) -> str:
    """A table; `headers` are plain text, each row's cells are built HTML."""
    head = "".join(tag("th", esc(h)) for h in headers)
    body = "".join(tag("tr", "".join(tag("td", cell) for cell in row)) for row in rows)
    return tag("table", tag("thead", tag("tr", head)) + tag("tbody", body), cls=cls, **attrs)


def copyable(label: str, text: str, ident: str) -> str:
    """Text shown plainly in a box, with a button that copies it (see the script)."""
    return tag("div", tag("span", esc(label), cls="copy-label")
               + tag("code", esc(text), id=ident, cls="copy-text")
               + tag("button", "Copy", type="button", cls="copy-button", data_copy=ident),
               cls="copyable")


def page(title: str, body: str, *, kind: str) -> str:
    """The whole self-contained document: inline style and script, strict CSP."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n"
            f"<body data-report-kind=\"{esc(kind)}\">\n{body}\n"
            f"<script>{SCRIPT}</script>\n</body>\n</html>\n")
