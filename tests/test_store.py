"""The failure store: remembered failures replayed first, bad entries dropped, never a crash."""

from __future__ import annotations

import multiprocessing
import sys
import warnings
from pathlib import Path

import pytest

from simharness.engine.execution import Execution, RunEnvironment, RunSettings
from simharness.explore.runner import ExploreOptions, explore, explore_variant
from simharness.scenario import scenario_of
from simharness.engine.schedule import Schedule, schedule_from
from simharness.explore.store import STORE_ENV, FailureStore, StoredFailure, StoreWarning, resolve_path
from simharness.engine.strategies import DFSStrategy

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "shrink"))
import token_race  # noqa: E402

RACE = scenario_of(token_race.token_race_3)
OPTIONS = ExploreOptions(strategy="pct", runs=500, seed=0)


def _entry(schedule: str, scenario: str = RACE.name, variant: str = "default") -> StoredFailure:
    return StoredFailure(scenario=scenario, variant=variant, schedule=schedule, kind="assertion")


def test_location_comes_from_argument_env_or_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(STORE_ENV, raising=False)
    assert resolve_path() == Path(".simharness/failures.db")
    monkeypatch.setenv(STORE_ENV, str(tmp_path / "x.db"))
    assert resolve_path() == tmp_path / "x.db"
    assert resolve_path(tmp_path / "y.db") == tmp_path / "y.db"
    monkeypatch.setenv(STORE_ENV, "off")
    assert resolve_path() is None and FailureStore.default() is None


def test_a_found_failure_is_remembered_and_replayed_first(tmp_path: Path) -> None:
    store = FailureStore(tmp_path / "failures.db")
    first = explore(RACE, options=OPTIONS, store=store)[0]
    assert first.failure is not None and first.failure.run_index >= 1 and first.stored_replays == 0
    [entry] = store.entries(RACE.name, "default")
    assert entry.schedule == first.failure.schedule and entry.kind == "assertion"
    assert (entry.strategy, entry.seed, entry.runs) == ("pct", 0, 500)
    # Another seed would find it later (or not at all): the store makes it run 0.
    again = explore(RACE, options=ExploreOptions(strategy="random", runs=1, seed=7), store=store)[0]
    assert again.stored_replays == 1 and again.runs == 0
    assert again.failure is not None and again.failure.run_index == 0
    assert again.failure.schedule == first.failure.schedule
    assert len(store.entries()) == 1


def test_explore_uses_the_store_named_by_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(STORE_ENV, str(tmp_path / "env.db"))
    explore(RACE, options=OPTIONS)
    assert len(FailureStore(tmp_path / "env.db").entries()) == 1
    monkeypatch.setenv(STORE_ENV, "off")
    monkeypatch.chdir(tmp_path)
    explore(RACE, options=OPTIONS)
    assert not (tmp_path / ".simharness").exists()


def test_bad_entries_are_dropped_with_a_note_and_never_crash(tmp_path: Path) -> None:
    store = FailureStore(tmp_path / "failures.db")
    other_scope = schedule_from("some-other-scenario", "default", False, ()).encode()
    passing = _passing_schedule()
    for text in ("s9x-garbage", "s1f-abcdef-!!!!", other_scope, passing):
        store.record(_entry(text))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = explore_variant(RACE, "default", OPTIONS, store=store)
    assert result.failure is not None and result.failure.run_index >= 1
    assert len(result.notes) == 4
    assert sum("no longer decodes" in n for n in result.notes) == 3
    assert any("passes now" in n for n in result.notes)
    assert sum(issubclass(w.category, StoreWarning) for w in caught) == 3  # "passes now" is no warning
    assert [e.schedule for e in store.entries()] == [result.failure.schedule]


def test_a_diverging_entry_is_replayed_leniently_and_dropped_when_it_passes(tmp_path: Path) -> None:
    store = FailureStore(tmp_path / "failures.db")
    # Right scope and mode, but no decisions: the run offers one at once and diverges, as
    # after an edit of the code; followed where it applies (nowhere), the run passes.
    stale = schedule_from(RACE.name, "default", False, ()).encode()
    store.record(_entry(stale))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a store never fails a run, even with -W error
        result = explore_variant(RACE, "default", OPTIONS, store=store)
    assert any("passes now under the stored schedule (followed 0 of 0 decisions)" in n for n in result.notes)
    assert stale not in {e.schedule for e in store.entries()}
    assert result.failure is not None  # exploration goes on and finds the race


def test_entries_of_the_other_mode_are_kept_but_not_replayed(tmp_path: Path) -> None:
    store = FailureStore(tmp_path / "failures.db")
    preemptive = schedule_from(RACE.name, "default", True, ()).encode()
    store.record(_entry(preemptive))
    result = explore_variant(RACE, "default", OPTIONS, store=store)
    assert not result.notes and result.failure is not None and result.failure.run_index >= 1
    assert preemptive in {e.schedule for e in store.entries()}


def test_an_unusable_store_file_is_skipped_with_a_note(tmp_path: Path) -> None:
    broken = tmp_path / "failures.db"
    broken.write_bytes(b"this is not a database" * 100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = explore_variant(RACE, "default", OPTIONS, store=broken)
    assert result.failure is not None
    assert result.notes and "not used" in result.notes[0]


def _write_many(path: str, worker: int) -> None:
    store = FailureStore(path)
    for index in range(20):
        store.record(_entry(f"s1f-aaaaaa-w{worker}x{index}"))
        store.entries(RACE.name)


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "failures.db")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(path, n)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    assert len(FailureStore(path).entries()) == 80


def _passing_schedule() -> str:
    with RunEnvironment(RunSettings()) as environment:
        execution = Execution(RACE, "default", environment)
        strategy = DFSStrategy()
        index = 1
        while strategy.begin_run(index):
            result = execution.run(strategy)
            strategy.end_run()
            if not result.failed and result.schedule.deviations:
                return result.schedule.encode()
            index += 1
    raise AssertionError("no passing schedule with a deviation")


def test_schedule_type_roundtrip_is_what_the_store_keeps() -> None:
    text = _passing_schedule()
    assert Schedule.decode(text).encode() == text
