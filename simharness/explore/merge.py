"""`simharness merge`: shard results (`explore --shard K/N --json`) combined into one result.

The lowest-index rule makes the merge exact: with stop-at-first, every shard ran all
of its indices below its own first failure, so the lowest failing index over all
shards is the one a single run would have stopped at, and every index below it
passed. With `--count-outcomes` every shard ran all of its indices, and the tables add.
Shards of different explorations (scenario, variant, strategy, seed, runs, depth,
mode, scenario file) are refused, and so are missing or repeated shards.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simharness.errors import ConfigError
from simharness.outcome import CampaignInfo, Exploration, FoundFailure, OutcomeRow

#: What must be equal for two shard results to be parts of one exploration.
IDENTITY = ("scenario", "variant", "strategy", "seed")
CAMPAIGN_IDENTITY = ("planned", "depth", "preemptive", "shards", "count_all", "source_sha256")


def read_documents(paths: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    """Each file's explore document (one-line `ConfigError` for anything else)."""
    if not paths:
        raise ConfigError("merge needs at least one shard result (explore --shard K/N --json > FILE)")
    documents = []
    for path in paths:
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"shard result not found: {path}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ConfigError(f"{path} is not a JSON document: {error}") from None
        results = document.get("results") if isinstance(document, dict) else None
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise ConfigError(f"{path} is not the output of simharness explore --json")
        for result in results:
            if not isinstance(result.get("campaign"), dict):
                raise ConfigError(f"{path}: {result.get('scenario')} [{result.get('variant')}] was not explored "
                                  "by run index (strategy portfolio, random or pct), so it cannot be merged")
        documents.append((path, document))
    return documents


def _build(cls: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    try:
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in names})
    except TypeError as error:
        raise ConfigError(f"a shard result is incomplete: {error}") from None


def exploration_from(result: dict[str, Any]) -> Exploration:
    """An `Exploration` back from its JSON form."""
    data = dict(result)
    failure = data.get("failure")
    data["failure"] = _build(FoundFailure, failure) if isinstance(failure, dict) else None
    data["outcomes"] = tuple(_build(OutcomeRow, row) for row in data.get("outcomes") or ())
    data["campaign"] = _build(CampaignInfo, data["campaign"])
    return _build(Exploration, data)  # type: ignore[no-any-return]


def _describe(key: str, values: set[Any]) -> str:
    return f"{key} " + " vs ".join(sorted(str(v)[:16] for v in values))


def _merge_group(parts: list[tuple[str, Exploration]]) -> Exploration:
    first_path, first = parts[0]
    info = first.campaign
    assert info is not None
    for name in IDENTITY + CAMPAIGN_IDENTITY:
        values = {getattr(e, name) if name in IDENTITY else getattr(e.campaign, name) for _, e in parts}
        if len(values) > 1:
            paths = ", ".join(p for p, _ in parts)
            raise ConfigError(f"{paths} are shards of different explorations of {first.scenario} "
                              f"[{first.variant}] ({_describe(name, values)})")
    shards = sorted(e.campaign.shard for _, e in parts if e.campaign)
    if shards != list(range(1, info.shards + 1)):
        repeated = sorted({s for s in shards if shards.count(s) > 1})
        missing = sorted(set(range(1, info.shards + 1)) - set(shards))
        problem = (f"shard {repeated[0]}/{info.shards} given twice" if repeated
                   else f"shard {missing[0]}/{info.shards} is missing")
        raise ConfigError(f"cannot merge {first.scenario} [{first.variant}]: {problem}")
    failures = [e.failure for _, e in parts if e.failure is not None]
    failure = min(failures, key=lambda f: f.run_index) if failures else None
    rows: dict[tuple[str, str, str], OutcomeRow] = {}
    for _, exploration in parts:
        for row in exploration.outcomes:
            key = (row.outcome, row.kind, row.fingerprint)
            have = rows.get(key)
            if have is None:
                rows[key] = row
            else:
                best = row if row.first_run < have.first_run else have
                rows[key] = dataclasses.replace(best, count=have.count + row.count)
    runs = sum(e.runs for _, e in parts)
    if failure is not None and not info.count_all:
        # Stop at first: exactly the runs 1..f count, f the lowest failing index.
        cut = failure.run_index
        kept = []
        for row in rows.values():
            if row.outcome == "pass" and row.first_run < cut:
                kept.append(dataclasses.replace(row, count=cut - 1))
            elif row.first_run == cut:
                kept.append(dataclasses.replace(row, count=1))
        rows = {(r.outcome, r.kind, r.fingerprint): r for r in kept}
        runs = cut
    return dataclasses.replace(
        first, runs=runs, failed=failure is not None, failure=failure,
        elapsed_s=max(e.elapsed_s for _, e in parts), outcomes=tuple(sorted(rows.values(), key=lambda r: r.first_run)),
        campaign=dataclasses.replace(info, shard=1, shards=1), interrupted=any(e.interrupted for _, e in parts),
        notes=tuple(dict.fromkeys(n for _, e in parts for n in e.notes)),
    )


def merge_documents(documents: Sequence[tuple[str, dict[str, Any]]]) -> tuple[str, list[Exploration], dict[str, str]]:
    """(target, merged explorations in first-seen order, replay line per failing schedule)."""
    groups: dict[tuple[str, str], list[tuple[str, Exploration]]] = {}
    replays: dict[str, str] = {}
    for path, document in documents:
        for result in document["results"]:
            exploration = exploration_from(result)
            groups.setdefault((exploration.scenario, exploration.variant), []).append((path, exploration))
            failure = result.get("failure")
            if isinstance(failure, dict) and isinstance(failure.get("replay"), str):
                replays[str(failure.get("schedule"))] = failure["replay"]
    target = str(documents[0][1].get("target", ""))
    return target, [_merge_group(parts) for parts in groups.values()], replays
