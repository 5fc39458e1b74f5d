"""shared-file-lost-update: two parallel edits read-modify-write one real package.json.

Seed: ../shared/seeds/002_c8f9ea50bfbd3a4d.txt, "Race Conditions", cause 1 "Shared file
writes" ("Parallel: Update package.json (add lodash), Update package.json (add axios)").

Each edit reads the JSON file, spends an uncontrolled while deciding on the change (the
agent's work, `sh.checkpoint()`), and writes the whole document back. Two such edits in
parallel both read the original file, so the later write drops the earlier dependency.
The fix from the seed: one writer, here an `asyncio.Lock` around each read-modify-write
(the seed's other fix, one operation adding both packages, is the same thing with one
task).

Intermittent, as in the seed ("fail ... when run in parallel, but succeed when run
sequentially", not every time): the second agent starts its edit one step later, so in
the default order (the stock run) the first edit is written before the second reads the
file; the update is lost only when the first agent's edit takes longer than that.

Oracle: after both edits, the file on disk lists both `lodash` and `axios`.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import simharness as sh

#: The two edits of the seed: (package, version).
EDITS: tuple[tuple[str, str], ...] = (("lodash", "^4.17.21"), ("axios", "^1.7.2"))

EditGuard = Callable[[], AbstractAsyncContextManager[None]]


@asynccontextmanager
async def no_guard() -> AsyncIterator[None]:
    """The buggy setup: every edit touches the file whenever it likes."""
    yield


def one_writer() -> EditGuard:
    """The fix: a lock shared by all edits, held across each read-modify-write."""
    lock = asyncio.Lock()

    @asynccontextmanager
    async def guard() -> AsyncIterator[None]:
        async with lock:
            yield

    return guard


def read_package(path: Path) -> dict[str, object]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def write_package(path: Path, document: dict[str, object]) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


async def add_dependency(path: Path, name: str, version: str, guard: EditGuard, groundwork: int) -> None:
    """One agent's edit: its own groundwork, then read package.json, add a dependency, write it back."""
    for step in range(groundwork):  # agents start their edit at different moments
        await sh.checkpoint(f"agent prepares its change (add {name}, step {step + 1})")
    async with guard():
        document = read_package(path)
        # The agent decides how to edit the file: slow, and not under the test's control.
        await sh.checkpoint(f"agent edits package.json (add {name})")
        dependencies = dict(document.get("dependencies", {}))  # type: ignore[call-overload]
        dependencies[name] = version
        document["dependencies"] = dependencies
        write_package(path, document)


@sh.scenario(variants={"buggy": lambda: no_guard, "fixed": one_writer},
             expect={"buggy": "fail", "fixed": "pass"},
             bug={"kind": "assertion", "message": "lost update on package.json"})
async def shared_file_lost_update(make_guard: Callable[[], EditGuard]) -> None:
    """Add lodash and axios to one real package.json in parallel; both must be there."""
    guard = make_guard()
    with tempfile.TemporaryDirectory(prefix="simharness-pkg-") as folder:
        path = Path(folder) / "package.json"
        write_package(path, {"name": "demo-app", "version": "1.0.0", "dependencies": {}})
        # The axios agent has one more step of groundwork: usually the lodash edit is
        # written by the time it reads the file.
        await asyncio.gather(*(add_dependency(path, name, version, guard, groundwork)
                               for groundwork, (name, version) in enumerate(EDITS)))
        present = dict(read_package(path).get("dependencies", {}))  # type: ignore[call-overload]
        lost = [name for name, _ in EDITS if name not in present]
        assert not lost, (f"lost update on package.json: {', '.join(lost)} missing after parallel edits "
                          f"(dependencies on disk: {sorted(present)})")
