"""Target resolution: turn `PATH.py`, `PATH.py::NAME` or `NAME` into scenarios.

Scenario files are imported as ordinary modules under a private name derived from
their path, so two files with the same base name never collide, and importing the
same file twice returns the scenarios of the first import.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from simharness.errors import ScenarioLoadError, TargetError
from simharness.scenario import Scenario, collect_declared

_loaded: dict[Path, tuple[Scenario, ...]] = {}


@dataclass(frozen=True)
class Selection:
    """Scenarios a target named, with the text the user typed for it."""

    target: str
    scenarios: tuple[Scenario, ...]
    # Files of the scenarios folder that failed to load while looking a NAME up (the
    # name was found in another file): worth a warning, not a failure.
    broken: tuple[str, ...] = ()


def _module_name(path: Path) -> str:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    return f"_simharness_scenario_{path.stem}_{digest}"


def _import_error_line(path: Path, error: BaseException) -> str:
    """The scenario file's own line for an import failure, as `file:line: Error: msg`."""
    if isinstance(error, SyntaxError) and error.filename:
        return f"{error.filename}:{error.lineno}: SyntaxError: {error.msg}"
    frames = traceback.extract_tb(error.__traceback__)
    own = [f for f in frames if Path(f.filename).resolve() == path] or frames[-1:]
    where = f"{own[-1].filename}:{own[-1].lineno}: " if own else ""
    return f"{where}{type(error).__name__}: {error}"


def load_file(path: str | Path) -> tuple[Scenario, ...]:
    """Import a scenario file and return the scenarios it declares, in order."""
    resolved = Path(path).resolve()
    if resolved in _loaded:
        return _loaded[resolved]
    if not resolved.is_file():
        raise ScenarioLoadError(f"scenario file not found: {path}")
    if resolved.suffix != ".py":
        raise ScenarioLoadError(f"scenario file must be a .py file: {path}")
    name = _module_name(resolved)
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise ScenarioLoadError(f"cannot import scenario file: {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    collect_declared()  # forget declarations made outside any file load
    try:
        spec.loader.exec_module(module)
    except ScenarioLoadError as error:
        sys.modules.pop(name, None)
        collect_declared()
        raise ScenarioLoadError(f"{path}: {error}") from None
    except BaseException as error:  # the user's file: report its own error line
        sys.modules.pop(name, None)
        collect_declared()
        if isinstance(error, KeyboardInterrupt):
            raise
        raise ScenarioLoadError(
            f"scenario file {path} failed to import: {_import_error_line(resolved, error)}"
        ) from error
    found = tuple(collect_declared())
    names = [s.name for s in found]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ScenarioLoadError(f"{path} declares scenario names twice: {', '.join(duplicates)}")
    _loaded[resolved] = found
    return found


def scenario_files(directory: str | Path) -> list[Path]:
    """The scenario files of a folder, sorted by name (files starting with `_` skipped)."""
    folder = Path(directory)
    if not folder.is_dir():
        where = folder.resolve()
        raise ScenarioLoadError(
            f"scenarios folder not found: {where} (a NAME target is looked up in ./{directory}/ of the "
            f"current folder; give PATH.py, PATH.py::NAME or --scenarios-dir DIR)"
            if str(directory) == "scenarios" else f"scenarios folder not found: {where}")
    return sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))


@dataclass(frozen=True)
class FolderScan:
    """Every scenario a folder's files declare, and the error of each file that failed."""

    scenarios: tuple[Scenario, ...]
    errors: tuple[ScenarioLoadError, ...]


def scan_directory(directory: str | Path) -> FolderScan:
    """Load every file of a folder; a file that fails is reported, the others still load."""
    found: list[Scenario] = []
    errors: list[ScenarioLoadError] = []
    for path in scenario_files(directory):
        try:
            found.extend(load_file(path))
        except ScenarioLoadError as error:
            errors.append(error)
    return FolderScan(tuple(found), tuple(errors))


def load_directory(directory: str | Path) -> tuple[Scenario, ...]:
    """Every scenario of every file in a folder, files in name order (the first broken file raises)."""
    scan = scan_directory(directory)
    if scan.errors:
        raise scan.errors[0]
    return scan.scenarios


def _close_names(wanted: str, names: list[str]) -> list[str]:
    import difflib
    spelled = wanted.replace("_", "-").removesuffix(".py").rsplit("/", 1)[-1]
    exact = [n for n in names if n == spelled]
    return exact or difflib.get_close_matches(spelled, names, n=3, cutoff=0.6)


def resolve(target: str, scenarios_dir: str | Path = "scenarios") -> Selection:
    """Resolve one target string (see CONTRACT.md, "Targets")."""
    if not target:
        raise TargetError("empty target")
    path_part, sep, name = target.partition("::")
    if path_part.endswith(".py") or sep:
        scenarios = load_file(path_part)
        if sep:
            chosen = tuple(s for s in scenarios if s.name == name)
            if not chosen:
                known = ", ".join(s.name for s in scenarios) or "none"
                raise TargetError(f"{path_part} has no scenario {name!r} (it has: {known})")
            return Selection(target, chosen)
        if not scenarios:
            raise TargetError(f"{path_part} declares no scenario")
        return Selection(target, scenarios)
    if Path(target).is_dir():
        raise TargetError(f"{target} is a folder: give PATH.py, PATH.py::NAME, or NAME with "
                          f"--scenarios-dir {target}")
    scan = scan_directory(scenarios_dir)
    chosen = tuple(s for s in scan.scenarios if s.name == target)
    if not chosen:
        names = sorted({s.name for s in scan.scenarios})
        close = _close_names(target, names)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        broken = (f"; {len(scan.errors)} file(s) failed to load: {scan.errors[0]}"
                  if scan.errors else "")
        raise TargetError(f"no scenario named {target!r} in {scenarios_dir}/{hint} "
                          f"(valid: {', '.join(names) or 'none'}){broken}")
    return Selection(target, chosen, tuple(str(e) for e in scan.errors))


def resolve_one(target: str, scenarios_dir: str | Path = "scenarios") -> Scenario:
    """Resolve a target that must name exactly one scenario."""
    return only_one(resolve(target, scenarios_dir))


def only_one(selection: Selection) -> Scenario:
    """The one scenario of `selection`; `TargetError` when it holds several."""
    target = selection.target
    if len(selection.scenarios) != 1:
        names = ", ".join(s.name for s in selection.scenarios)
        raise TargetError(f"{target} names {len(selection.scenarios)} scenarios ({names}); name one with PATH.py::NAME")
    return selection.scenarios[0]
