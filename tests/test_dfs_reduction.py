"""dfs's reduction (issue 19 item 3): it prunes only states already explored from.

Reduced and unreduced dfs must find the same set of distinct outcomes (each fixture
scenario's failure message is its final state), the reduced one in fewer schedules;
"exhausted" is claimed only for a fully covered (reduced) space; bad input exits 2.
"""

from __future__ import annotations

from pathlib import Path

import simharness as sh
from simharness import ExploreOptions, explore_variant
from simharness.discovery import resolve_one
from simharness.engine.execution import RunSettings
from simharness.engine.history import EMPTY, decision_state, fold_steps
from simharness.engine.strategies import DFSStrategy, Option
from simharness.outcome import Exploration

from cli_helpers import ROOT, run_cli

SMALL = {s.name: s for s in sh.load_file(Path(__file__).parent / "fixtures" / "dfs" / "small.py")}


def _both(scenario: sh.Scenario, variant: str = "default", bound: int | None = None,
          settings: RunSettings | None = None) -> tuple[Exploration, Exploration]:
    """Unreduced and reduced dfs over every schedule, counting outcomes (never stopping early)."""
    found = []
    for reduction in (False, True):
        options = ExploreOptions(strategy="dfs", runs=100_000, bound=bound, reduction=reduction,
                                 count_outcomes=True, shrink=False)
        found.append(explore_variant(scenario, variant, options, settings, store=None))
    return found[0], found[1]


def _outcomes(exploration: Exploration) -> set[str]:
    return {f"{row.kind}: {row.first_message}" for row in exploration.outcomes}


def test_same_final_states_on_a_checkpoint_scenario() -> None:
    plain, reduced = _both(SMALL["appends-three-tasks"])
    assert plain.exhausted and reduced.exhausted and reduced.reduced and not plain.reduced
    assert _outcomes(reduced) == _outcomes(plain)
    assert len(_outcomes(plain)) == 12  # every order of a0 < a1, b0, c0
    assert reduced.runs < plain.runs


def test_same_final_states_on_a_simulated_network_scenario() -> None:
    plain, reduced = _both(SMALL["two-clients-one-server"])
    assert plain.exhausted and reduced.exhausted
    assert _outcomes(reduced) == _outcomes(plain)
    assert len(_outcomes(plain)) == 2  # the server saw x first, or y first
    assert reduced.runs < plain.runs


def test_same_outcomes_on_catalogue_races() -> None:
    # A buggy variant, so failures and passes are both among the outcomes.
    plain, reduced = _both(resolve_one("clear-all-toctou", ROOT / "scenarios"), "buggy")
    assert plain.exhausted and reduced.exhausted
    assert _outcomes(reduced) == _outcomes(plain) and len(_outcomes(plain)) > 1
    assert reduced.runs < plain.runs


def test_reduction_exhausts_a_catalogue_network_scenario_within_a_bound() -> None:
    # token-overwrite runs on the simulated network (two HTTP servers, five connections).
    # Its unbounded space is not exhausted with or without reduction (docs/dfs.md).
    plain, reduced = _both(resolve_one("token-overwrite", ROOT / "scenarios"), "fixed", bound=2)
    assert reduced.exhausted and reduced.reduced and reduced.failure is None
    assert _outcomes(reduced) == _outcomes(plain)
    assert reduced.runs < plain.runs


def test_preemptive_mode_is_not_reduced() -> None:
    # There a ready callback is not identified by its position: the loop gives no state.
    _, reduced = _both(SMALL["appends-three-tasks"], settings=RunSettings(preemptive=True), bound=1)
    assert reduced.exhausted and not reduced.reduced


def test_a_capped_exploration_never_claims_exhaustion() -> None:
    capped = explore_variant(SMALL["appends-three-tasks"], "default",
                             ExploreOptions(strategy="dfs", runs=5, count_outcomes=True), store=None)
    assert capped.runs == 5 and not capped.exhausted


def test_history_digest_tells_orders_and_positions_apart() -> None:
    a_then_b = fold_steps(EMPTY, ["conn-1<", "conn-2<"])
    b_then_a = fold_steps(EMPTY, ["conn-2<", "conn-1<"])
    assert a_then_b != b_then_a
    assert fold_steps(fold_steps(EMPTY, ["conn-1<"]), ["conn-2<"]) == a_then_b  # folding in parts
    assert fold_steps(EMPTY, [5, ""]) != fold_steps(EMPTY, [6, ""])  # the clock is part of it
    assert fold_steps(EMPTY, ["", 5, ""]) != fold_steps(EMPTY, [5, "", ""])  # and when it moved
    assert decision_state(a_then_b, 0, None, []) != decision_state(a_then_b, 0, None, ["conn-3>"])
    assert decision_state(a_then_b, 0, None, []) != decision_state(a_then_b, 0, 0, [])


def test_dfs_prunes_a_state_met_again_and_only_then() -> None:
    # A model run: two binary decisions whose orders (0, 1) and (1, 0) reach one state.
    def run(strategy: DFSStrategy) -> tuple[int, int]:
        options = [Option("x", "io", "x"), Option("y", "io", "y")]
        strategy.observe_state(1)
        first = strategy.choose(options)
        strategy.observe_state(10 + first)
        second = strategy.choose(options)
        strategy.observe_state(100 + first + second)  # (0, 1) and (1, 0) meet here
        strategy.choose(options)
        return first, second

    def leaves(reduction: bool) -> tuple[int, DFSStrategy]:
        strategy = DFSStrategy(reduction=reduction)
        index = 1
        while strategy.begin_run(index):
            run(strategy)
            strategy.end_run()
            index += 1
        return index - 1, strategy

    plain_runs, plain = leaves(False)
    reduced_runs, reduced = leaves(True)
    assert plain.exhausted and reduced.exhausted
    assert plain_runs == 8 and reduced_runs == 7 and reduced.pruned == 1


def test_cli_prints_reduced_exhaustion() -> None:
    fixture = str(Path(__file__).parent / "fixtures" / "engine" / "detection.py")
    reduced = run_cli("explore", f"{fixture}::semaphore-workers", "--strategy", "dfs", "--runs", "5000")
    plain = run_cli("explore", f"{fixture}::semaphore-workers", "--strategy", "dfs", "--runs", "5000",
                    "--no-reduction")
    assert reduced.code == 0 and plain.code == 0, reduced.err + plain.err
    assert "exhausted: all " in reduced.out and " schedules (reduced) (dfs" in reduced.out
    assert "exhausted: all " in plain.out and "(reduced)" not in plain.out


def test_bad_input_is_one_line_and_exit_2() -> None:
    fixture = str(Path(__file__).parent / "fixtures" / "engine" / "detection.py")
    for args, message in (
        (("--strategy", "pct", "--no-reduction"), "--no-reduction only applies to --strategy dfs"),
        (("--strategy", "dfs", "--bound", "-1"), "--bound must be >= 0"),
        (("--strategy", "dfz",), "unknown strategy 'dfz'"),
    ):
        done = run_cli("explore", f"{fixture}::semaphore-workers", *args)
        assert done.code == 2, (args, done.out, done.err)
        assert done.err.strip().count("\n") == 0 and message in done.err, (args, done.err)
