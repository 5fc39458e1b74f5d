"""Install the bench's pinned releases: one venv per (package, version), from PyPI.

    python benchmarks/bugbench/install.py [NAME ...]

Each venv lives in `benchmarks/bugbench/.venvs/<package>-<version>/` (git-ignored), is
created from the interpreter running this script with `--system-site-packages` (so it
sees simharness and its dependencies installed there) and gets the pinned release with
pip, which shadows any other version of that package. An entry whose release cannot
be installed is reported on one line and the rest go on; the exit code is then 2.
Not part of the default test run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bugs import BUGS, Bug  # noqa: E402

VENVS = HERE / ".venvs"

#: Wall-clock cap of one pip install (a stuck index must not hang the bench).
INSTALL_TIMEOUT_S = 600


def venv_dir(package: str, version: str) -> Path:
    """Where the venv of one pinned release lives."""
    return VENVS / f"{package}-{version}"


def python_of(package: str, version: str) -> Path:
    return venv_dir(package, version) / "bin" / "python"


def installed(package: str, version: str) -> bool:
    """True when the venv exists and imports the pinned version of the package."""
    python = python_of(package, version)
    if not python.exists():
        return False
    probe = subprocess.run([str(python), "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
                           capture_output=True, text=True, timeout=60)
    return probe.returncode == 0 and probe.stdout.strip() == version


def install(package: str, version: str) -> str | None:
    """Make the venv of `package==version`; None on success, else a one-line reason."""
    if installed(package, version):
        return None
    target = venv_dir(package, version)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(target)],
                       check=True, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        done = subprocess.run([str(python_of(package, version)), "-m", "pip", "install", "-q",
                               "--disable-pip-version-check", f"{package}=={version}"],
                              capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"pip did not finish within {INSTALL_TIMEOUT_S} s"
    except subprocess.CalledProcessError as error:
        return f"venv creation failed: {(error.stderr or '').strip().splitlines()[-1:]}"
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.startswith("ERROR")]
        # pip's "(from versions: ...)" lists every release: the requirement is enough.
        return (lines or done.stderr.strip().splitlines()[-1:] or ["pip failed"])[0].split(" (from versions:")[0]
    if not installed(package, version):
        return f"installed, but the venv does not import {package} {version}"
    return None


def selected(names: list[str]) -> list[Bug]:
    known = {bug.name: bug for bug in BUGS}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"error: unknown bench entries: {', '.join(unknown)} (see bugs.py)")
    return [known[name] for name in names] if names else list(BUGS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="entries of bugs.py (default: all)")
    args = parser.parse_args(argv)
    try:
        bugs = selected(args.names)
    except SystemExit as error:
        print(error, file=sys.stderr)
        return 2
    failed = 0
    for bug in bugs:
        for version in (bug.buggy, bug.fixed):
            reason = install(bug.package, version)
            if reason is None:
                print(f"ok      {bug.name}: {bug.package}=={version}")
            else:
                failed += 1
                print(f"FAILED  {bug.name}: {bug.package}=={version}: {reason}")
    return 2 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
