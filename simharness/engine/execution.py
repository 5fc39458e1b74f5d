"""One run: a scenario variant executed once on a fresh controlled loop.

`RunEnvironment` holds what a series of runs shares (the virtual wall clock and the
blocked-loop watchdog, both too costly to set up per schedule); `Execution` runs one
schedule in it and classifies the outcome into exactly one failure kind.
"""

from __future__ import annotations


import contextlib
import gc
import threading
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from simharness.engine.access_tracing import recording
from simharness.engine.accesses import AccessRecorder
from simharness.engine.loop import ControlledLoop, RunAborted
from simharness.engine.clock import VirtualWallClock
from simharness.errors import ConfigError, ScheduleDivergence, UnsupportedInSimulation
from simharness.outcome import Failure, Frame, RunResult
from simharness.scenario import FAULTS, Scenario
from simharness.engine.schedule import schedule_from
from simharness.engine.strategies.base import Strategy
from simharness.engine.trace import DetailedTrace, TraceHasher, with_accesses
from simharness.engine.watchdog import LoopInterrupted, Watchdog


@dataclass(frozen=True)
class RunSettings:
    """Budgets and mode of simulated runs (validated on creation)."""

    preemptive: bool = False
    max_steps: int = 200_000
    max_time_s: float = 86_400.0
    settle_timeout_s: float = 30.0
    # Long enough that a slow disk or a loaded machine does not look like a blocked loop;
    # scenarios that test blocking declare a smaller `blocked_loop_s`.
    blocked_loop_s: float = 10.0
    #: The network faults this run may inject, of those the scenario declares (`--faults`);
    #: None: every declared one.
    fault_selection: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ConfigError(f"max steps must be at least 1, got {self.max_steps}")
        unknown = [name for name in self.fault_selection or () if name.partition("@")[0] not in FAULTS]
        if unknown:
            raise ConfigError(f"unknown fault {unknown[0]!r} (known: {', '.join(FAULTS)})")
        for name in ("max_time_s", "settle_timeout_s", "blocked_loop_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name.replace('_', ' ')} must be positive, got {getattr(self, name)}")

    def for_scenario(self, scenario: Scenario) -> RunSettings:
        """These settings with the scenario's own declared budgets applied."""
        if self.fault_selection:
            declared = scenario.options.get("faults", ())
            if not declared:
                raise ConfigError(f"--faults: scenario {scenario.name} declares no faults "
                                  "(declare them with @scenario(faults=(...)))")
            extra = [name for name in self.fault_selection if name not in declared]
            if extra:
                raise ConfigError(f"--faults {extra[0]}: scenario {scenario.name} declares only "
                                  f"{', '.join(declared)}")
        own = {k: v for k, v in scenario.options.items() if k in RunSettings.__dataclass_fields__}
        return RunSettings(**{**self.__dict__, **own}) if own else self


#: Context-manager factories entered around a series of simulated runs, for adapters
#: that patch a library while simulating (the SQLite adapter appends itself on import).
ENVIRONMENT_PATCHES: list[Callable[[], AbstractContextManager[Any]]] = []


class RunEnvironment:
    """Shared by the runs of one exploration: virtual wall clock, watchdog, adapters."""

    def __init__(self, settings: RunSettings) -> None:
        self.settings = settings
        self.clock = VirtualWallClock()
        self.watchdog = Watchdog(settings.blocked_loop_s)
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> RunEnvironment:
        stack = self._stack.__enter__()
        # Objects alive before the exploration go to gc's permanent generation: full
        # collections triggered by the runs' garbage then never scan the user's heap,
        # so exploration speed does not depend on how big the process already is.
        gc.freeze()
        stack.callback(gc.unfreeze)
        stack.enter_context(self.clock)
        stack.enter_context(self.watchdog)
        for patch in ENVIRONMENT_PATCHES:
            stack.enter_context(patch())
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.__exit__(None, None, None)


def exception_frames(error: BaseException) -> tuple[Frame, ...]:
    """The exception's traceback as `Frame`s, outermost first (what `reproduce` matches)."""
    return tuple(Frame(f.filename, f.lineno or 0, f.name) for f in traceback.extract_tb(error.__traceback__))


def _describe_exception(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    text = str(error)
    return f"{type(error).__name__}: {text}{where}" if text else f"{type(error).__name__}{where}"


class Execution:
    """Runs one variant of one scenario once, under one strategy, in an environment."""

    def __init__(self, scenario: Scenario, variant: str, environment: RunEnvironment) -> None:
        self.scenario = scenario
        self.variant = scenario.check_variant(variant)
        self.environment = environment
        self.settings = environment.settings.for_scenario(scenario)

    def run(self, strategy: Strategy, *, detail: bool = False, accesses: bool = False) -> RunResult:
        """Run once. `detail` keeps every step; `accesses` (which implies it) also records
        which step read or wrote which shared object, at the cost of tracing user code."""
        # Cyclic garbage is collected only where the scenario asks for it (gc.collect()):
        # automatic collection runs at allocation thresholds counted over the whole
        # process, so a task dropped mid-run would be finalized (its `finally` blocks
        # run, "destroyed but pending" reported) at a point that differs from one
        # process to the next. Collecting never is one timing the stock runtime allows.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._run(strategy, detail, AccessRecorder() if accesses else None)
        finally:
            if collecting:
                gc.enable()

    def _run(self, strategy: Strategy, detail: bool, recorder: AccessRecorder | None) -> RunResult:
        settings = self.settings
        observer = DetailedTrace(recorder) if detail or recorder is not None else TraceHasher()
        environment = self.environment
        loop = ControlledLoop(
            choose=strategy.choose, preemptive=settings.preemptive, max_steps=settings.max_steps,
            max_time_ns=round(settings.max_time_s * 1e9), settle_timeout_s=settings.settle_timeout_s,
            observer=observer, watchdog=environment.watchdog, on_clock=environment.clock.set,
        )
        loop.scenario_options = dict(self.scenario.options)
        if settings.fault_selection is not None:  # the run narrows the declared faults
            loop.scenario_options["faults"] = settings.fault_selection
        loop.unretrieved_is_finding = True
        environment.clock.set(0)
        watchdog = environment.watchdog
        # The watchdog is shared by the exploration's runs; the threshold is this run's
        # (the scenario may declare its own blocked_loop_s).
        watchdog.threshold_s = settings.blocked_loop_s

        def stuck(kind: str, detail: str) -> None:
            blocking, _, where = detail.partition("|")
            what = (f"event loop blocked by a {blocking}" if kind == "blocked-loop"
                    else "a step ran without returning to the loop")
            loop.abort = (kind, f"{what} for over {settings.blocked_loop_s:g} s at {where}")

        watchdog.on_stuck = stuck
        ControlledLoop.active = loop
        environment.clock.scenario_thread = threading.get_ident()
        failure: Failure | None = None
        divergence: ScheduleDivergence | None = None
        try:
            try:
                coroutine = self.scenario.coroutine(self.variant)
            except TypeError as error:  # the scenario cannot be called so: the user's setup
                raise ConfigError(f"scenario {self.scenario.name} cannot be called with variant "
                                  f"{self.variant!r}: {error}") from None
            main = loop.create_task(coroutine, name="main")
            if recorder is None:  # exploring: not even an idle context manager around the run
                loop.run_until_complete(main)
            else:
                with recording(recorder):
                    loop.run_until_complete(main)
        except ScheduleDivergence as error:
            divergence = error
        except RunAborted as aborted:
            failure = Failure(aborted.kind, aborted.message)  # type: ignore[arg-type]
        except LoopInterrupted:
            kind, message = loop.abort or ("blocked-loop", "event loop blocked")
            failure = Failure(kind, message)  # type: ignore[arg-type]
        except AssertionError as error:
            failure = Failure("assertion", _describe_exception(error), frames=exception_frames(error))
        except ConfigError:
            self._close(loop)
            raise
        except Exception as error:  # the scenario raised: a finding, not a tool error
            failure = Failure("exception", _describe_exception(error), frames=exception_frames(error))
        except BaseException:
            # Not a finding (Ctrl-C, Hypothesis stopping a test mid-run): still leave no
            # callback, thread or child of this run behind before it propagates.
            self._close(loop)
            raise
        finally:
            watchdog.on_stuck = None
            watchdog.rearm()
            ControlledLoop.active = None
            environment.clock.scenario_thread = None
        if loop.unsupported is not None:
            self._close(loop)
            raise UnsupportedInSimulation(
                loop.unsupported.api,
                f"{loop.unsupported.hint}; this run has no verdict (run {self.scenario.name} "
                "on the real backend: `backends=(\"real\",)` or `simharness stress --backend real`)")
        if failure is None and divergence is None:
            failure = self._after_return(loop)
        if failure is not None and settings.preemptive:
            failure = Failure(failure.kind, failure.message + " [preemptive mode: needs every await to be slow]",
                              preemptive=True, frames=failure.frames)
        self._close(loop)
        if divergence is not None:
            raise divergence
        # Scenario and variant are part of what is hashed: two scenarios (or variants) whose
        # steps happen to look alike must not print the same trace hash.
        trace_hash = observer.digest(f"{failure.kind if failure else 'pass'}|{self.scenario.name}|{self.variant}")
        schedule = schedule_from(self.scenario.name, self.variant, settings.preemptive, loop.decisions,
                                 trace_hash)
        recorded = recorder.accesses() if recorder is not None else None
        steps = tuple(observer.steps) if isinstance(observer, DetailedTrace) else ()
        result = RunResult(
            scenario=self.scenario.name, variant=self.variant, failure=failure, schedule=schedule,
            trace_hash=trace_hash, steps=loop.steps, virtual_time=loop.time(),
            trace=with_accesses(steps, recorded) if recorded else steps,
            decision_log=tuple(observer.decisions) if isinstance(observer, DetailedTrace) else (),
            accesses=recorded,
        )
        if gc.get_count()[0] > 5000:
            gc.collect(0)  # keep young garbage of one run from finalizing inside the next
        return result

    def _close(self, loop: ControlledLoop) -> None:
        """Cancel and drain what the run left, close its sources and the loop."""
        clock = self.environment.clock
        clock.scenario_thread = threading.get_ident()  # clean-up code is scenario code too
        try:
            loop.drain()
        finally:
            clock.scenario_thread = None
            loop.close()

    @staticmethod
    def _after_return(loop: ControlledLoop) -> Failure | None:
        if not loop.callback_errors and any(not t.done() for t in loop.tasks):
            try:
                loop.quiesce()
            except RunAborted as aborted:
                return Failure(aborted.kind, aborted.message)  # type: ignore[arg-type]
        if loop.callback_errors:
            return Failure("exception", loop.callback_errors[0])
        died = loop.unretrieved_exceptions()
        if died:
            task, error = died[0]
            more = f" (and {len(died) - 1} more)" if len(died) > 1 else ""
            return Failure("task-exception", f"task {task.get_name()} died with "
                           f"{_describe_exception(error)} and nobody retrieved it{more}",
                           frames=exception_frames(error))
        pending = [t for t in loop.tasks if not t.done()]
        if pending:
            from simharness.engine.loop import describe_await
            names = "; ".join(f"{t.get_name()} awaiting {describe_await(t)}" for t in pending)
            return Failure("leak", f"{len(pending)} task(s) still pending when the scenario returned: {names}")
        return None


def run_once(scenario: Scenario, variant: str, strategy: Strategy, settings: RunSettings | None = None,
             *, detail: bool = False) -> RunResult:
    """Run one schedule in its own environment (convenience for single runs)."""
    with RunEnvironment(settings or RunSettings()) as environment:
        if not strategy.begin_run(1):
            raise ConfigError("strategy has no schedule to run")
        result = Execution(scenario, variant, environment).run(strategy, detail=detail)
        strategy.end_run()
        return result


