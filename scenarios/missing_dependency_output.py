"""missing-dependency-output: a step that reads another step's output runs in the same batch.

Seed: 002_c8f9ea50bfbd3a4d.txt, "Agents Failing" cause 1 ("Missing dependency output":
Layer 0 holds both "Generate User model" and "Write User model tests"; fix: move the
dependent operation to a later layer) and the error message "File not found: X".

Oracle: every consumer step finds the file its producer writes. Steps work on real files
in a fresh temporary directory; each agent's work (the slow part) is modelled with
`sh.checkpoint()`, so which step finishes first is what the explorer varies.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import simharness as sh


class StepFailed(Exception):
    """An agent step failed; the message is what the agent reported."""


@dataclass
class Step:
    """One agent operation: files it reads, the file it writes, and what it puts there."""

    name: str
    writes: str
    reads: tuple[str, ...] = ()
    content: str = ""
    depends_on: tuple[str, ...] = field(default=())


async def run_step(step: Step, workdir: Path) -> str:
    """Run one agent: think (slow), read its inputs, write its output."""
    await sh.checkpoint(f"agent {step.name} works")
    inputs = []
    for name in step.reads:
        path = workdir / name
        if not path.exists():
            raise StepFailed(f"{step.name}: File not found: {name}")
        inputs.append(path.read_text())
    out = workdir / step.writes
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(step.content + "".join(f"\n# uses {len(text)} bytes of input" for text in inputs))
    return step.writes


def one_batch(steps: list[Step]) -> list[list[Step]]:
    """The bug: every step in layer 0, regardless of what it reads."""
    return [list(steps)]


def dependency_layers(steps: list[Step]) -> list[list[Step]]:
    """The fix: a step goes in the layer after the last producer of its inputs."""
    producer = {s.writes: s.name for s in steps}
    layer_of: dict[str, int] = {}
    pending = list(steps)
    while pending:
        progressed = False
        for step in list(pending):
            needs = [producer[r] for r in step.reads if r in producer]
            if all(n in layer_of for n in needs):
                layer_of[step.name] = 1 + max((layer_of[n] for n in needs), default=-1)
                pending.remove(step)
                progressed = True
        if not progressed:
            raise ValueError(f"dependency cycle among {[s.name for s in pending]}")
    layers: list[list[Step]] = [[] for _ in range(max(layer_of.values()) + 1)]
    for step in steps:
        layers[layer_of[step.name]].append(step)
    return layers


Planner = Callable[[list[Step]], list[list[Step]]]


async def execute_plan(steps: list[Step], plan: Planner, workdir: Path) -> list[str]:
    """Run each layer's steps in parallel, layers one after another."""
    outputs: list[str] = []
    for layer in plan(steps):
        batch: list[Awaitable[str]] = [run_step(step, workdir) for step in layer]
        outputs.extend(await asyncio.gather(*batch))
    return outputs


STEPS = [
    Step("Generate User model", writes="models/user.py", content="class User: ..."),
    Step("Write User model tests", writes="tests/test_user.py", reads=("models/user.py",),
         content="def test_user(): ..."),
    Step("Generate API routes", writes="api/routes.py", content="ROUTES = []"),
]


@sh.scenario(variants={"buggy": one_batch, "fixed": dependency_layers},
             expect={"buggy": "fail", "fixed": "pass"},
             bug={"kind": "assertion", "message": "agent failed: .*File not found"})
async def missing_dependency_output(plan: Planner) -> None:
    """Three agents, one of which reads another's output; every step must succeed."""
    workdir = Path(tempfile.mkdtemp(prefix="simharness-layers-"))
    try:
        try:
            outputs = await execute_plan(STEPS, plan, workdir)
        except StepFailed as error:
            raise AssertionError(f"agent failed: {error}") from None
        assert sorted(outputs) == sorted(s.writes for s in STEPS)
        assert "uses" in (workdir / "tests/test_user.py").read_text()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
