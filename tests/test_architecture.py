"""The layers of `simharness/` import one way only (docs/architecture.md).

Every `import` of every module is read (also those inside functions) and checked
against the rank of its layer (imports under `if TYPE_CHECKING:` never run and are
left out): a module may import its own layer and layers of a
lower rank, never a higher one, and never a sibling layer of the same rank.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "simharness"

# layer -> rank; a module's layer is its first path part under simharness/ (a
# top-level module is its own layer).
RANKS: dict[str, float] = {
    "errors": 0, "scenario": 0.25, "outcome": 0.25, "discovery": 0.5,
    "engine": 1, "api": 1.5,
    "world": 2,
    "explore": 3,
    "integrations": 4, "real": 4,
    "stress": 5, "report": 5,
    "cli": 6,
    "__init__": 7, "__main__": 7,
}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
        if len(parts) == 1:
            return "simharness.__init__"
    return ".".join(parts)


def imports_of(path: Path, module: str) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    # Imports under `if TYPE_CHECKING:` are annotations only: they never run.
    typing_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING"
                   for inner in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            found.extend((node.lineno, f"{name}.{alias.name}") for alias in node.names
                         if (PACKAGE.parent / f"{name}.{alias.name}".replace(".", "/")).with_suffix(".py").exists())
    return [(line, name) for line, name in found if name == "simharness" or name.startswith("simharness.")]


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_layer_has_a_rank() -> None:
    layers = {layer_of(module_name(path)) for path in MODULES}
    assert layers <= set(RANKS), f"layers without a rank: {sorted(layers - set(RANKS))}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_one_way(path: Path) -> None:
    module = module_name(path)
    own = layer_of(module)
    wrong = []
    for line, name in imports_of(path, module):
        if name == "simharness":
            target = "__init__"
        else:
            target = layer_of(name)
        if target == own:
            continue
        if RANKS[target] >= RANKS[own]:
            wrong.append(f"line {line}: {own} (rank {RANKS[own]}) imports {name} ({target}, rank {RANKS[target]})")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_a_wrong_import(tmp_path: Path) -> None:
    # The check itself must be able to fail: a loop module importing the world.
    fake = PACKAGE / "engine" / "loop.py"
    wrong = imports_of(fake, "simharness.engine.loop")
    assert all(layer_of(name) in ("engine", "errors", "outcome", "scenario") for _, name in wrong)
    source = tmp_path / "bad.py"
    source.write_text("def f():\n    from simharness.world import network\n")
    assert (2, "simharness.world") in imports_of(source, "simharness.engine.bad")
