"""git-commit-conflict: parallel agents commit to one repository at the same time.

Seed: ../shared/seeds/002_c8f9ea50bfbd3a4d.txt, "Race Conditions", cause 3 "Git
conflicts" ("Parallel: Commit file A, Commit file B. Good: Sequential: Stage file A,
Stage file B, Commit both"), and "Common Error Messages", "Merge conflict in git"
("Multiple operations tried to commit to same branch simultaneously. Solution: Sequence
all git commits").

Three agents each write a file and run real `git add` and `git commit` in one temporary
repository (configuration isolated from the user's: `GIT_CONFIG_GLOBAL`/`SYSTEM` point
at /dev/null, user.name and user.email are set in the repository). In parallel, two
`git` processes that write the index at once fail with "Unable to create
'.git/index.lock': File exists", and an agent's `git commit` can sweep up another
agent's staged file (its own commit then finds "nothing to commit"). The fix sequences
each agent's stage-and-commit behind one lock.

Real backend only (`backends=("real",)`): whether two git processes collide on
`index.lock` is decided by the operating system inside git, not by any event the
controlled loop could order, so a simulated run could not replay it; explore/replay
refuse the scenario instead of reporting a pass they cannot observe.

Oracle: every git command succeeds and every agent's change is in history, in the
agent's own commit.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import simharness as sh

AGENTS = ("a.txt", "b.txt", "c.txt")

Sequencer = Callable[[], AbstractAsyncContextManager[None]]


class GitError(Exception):
    """A git command failed: its exit status and what it printed."""


def git_environment(home: Path) -> dict[str, str]:
    """An environment in which git ignores every configuration outside the repository."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(HOME=str(home), GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_SYSTEM=os.devnull,
               GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    return env


async def git(repo: Path, env: dict[str, str], *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "git", "-C", str(repo), *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await proc.communicate()
    if proc.returncode != 0:
        text = (stderr or stdout).decode(errors="replace").strip().splitlines()
        raise GitError(f"git {args[0]} exited {proc.returncode}: {text[0] if text else ''}")
    return stdout.decode()


def in_parallel() -> Sequencer:
    """The bug: every agent runs its git commands whenever it gets there."""

    @asynccontextmanager
    async def free_for_all() -> AsyncIterator[None]:
        yield

    return free_for_all


def one_at_a_time() -> Sequencer:
    """The fix: stage and commit are sequenced across agents."""
    lock = asyncio.Lock()

    @asynccontextmanager
    async def sequenced() -> AsyncIterator[None]:
        async with lock:
            yield

    return sequenced


async def agent_commits(repo: Path, env: dict[str, str], name: str, sequence: Sequencer) -> None:
    """One agent's work: change a file, then stage and commit it."""
    (repo / name).write_text(f"content written by the agent for {name}\n", encoding="utf-8")
    async with sequence():
        await git(repo, env, "add", name)
        await git(repo, env, "commit", "-q", "-m", f"add {name}")


@sh.scenario(variants={"buggy": in_parallel, "fixed": one_at_a_time},
             expect={"buggy": "fail", "fixed": "pass"}, backends=("real",),
             bug={"kind": "assertion", "message": "parallel git commits conflicted"})
async def git_commit_conflict(make_sequencer: Callable[[], Sequencer]) -> None:
    """Three agents commit in parallel; every change must be in history, in its own commit."""
    sequence = make_sequencer()
    with tempfile.TemporaryDirectory(prefix="simharness-git-") as folder:
        repo, home = Path(folder) / "repo", Path(folder)
        repo.mkdir()
        env = git_environment(home)
        await git(repo, env, "init", "-q")
        await git(repo, env, "config", "user.name", "simharness agent")
        await git(repo, env, "config", "user.email", "agent@simharness.invalid")
        (repo / "README.md").write_text("demo\n", encoding="utf-8")
        await git(repo, env, "add", "README.md")
        await git(repo, env, "commit", "-q", "-m", "initial commit")
        outcomes = await asyncio.gather(*(agent_commits(repo, env, name, sequence) for name in AGENTS),
                                        return_exceptions=True)
        errors = [f"{name}: {error}" for name, error in zip(AGENTS, outcomes) if isinstance(error, BaseException)]
        missing = []
        for name in AGENTS:
            # Subjects of the commits that touched the file, newest first.
            subjects = (await git(repo, env, "log", "--format=%s", "--", name)).splitlines()
            if not subjects:
                missing.append(f"{name} is in no commit")
            elif subjects[-1] != f"add {name}":
                missing.append(f"{name} went into another agent's commit {subjects[-1]!r}")
    problems = errors + missing
    assert not problems, "parallel git commits conflicted: " + "; ".join(problems)
