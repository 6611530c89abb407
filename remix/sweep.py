"""Sweeps: a list of planned runs kept in the results store, resumable, apart from how they execute.

    plan_sweep(recipe, kind="prefixes", seeds=3, options=RunOptions(scale="tiny"))  -> Sweep
    run_sweep(sweep, store, executor="auto")                                          -> [RunResult]

A sweep is a recipe's variants (the recipe alone; every prefix of its order; the recipe minus each
ingredient) × seeds × step counts. Its id is a hash of its runs' identities, so the same command plans
the same sweep again. Resuming is nothing more than running it again: a finished identity is skipped,
and a record left `running` (killed) or `interrupted` is trained again from the start; records are
written atomically, so kill -9 at any moment loses at most the run in progress.

Time-to-target needs final losses at more than one step count (see remix.ttt). Without explicit
`step_counts`, a sweep of several variants also trains the full recipe at SLOPE_FACTOR × its steps: the
measured local slope the cheap mode converts loss gaps with. `search_sweep` is the exact mode: rounds of
runs at the step counts `ttt.next_steps` asks for, until each variant's crossing is bracketed within a
tolerance. A manifest (`<results>/sweeps/*.sweep`, JSON) lists a sweep's runs so that `remix status`
can say what is done, running and left; it is not named *.json so record scans never mistake it.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from remix.executors import DEFAULT_EXECUTE, Events, Executor, Task, make_executor
from remix.results import ResultStore, RunResult, write_atomic, now
from remix.spec import stable_hash

SWEEP_SCHEMA = "remix.sweep/1"
KINDS = ("single", "prefixes", "each")
SLOPE_FACTOR = 1.25          # the slope run's step count relative to the recipe's: near enough to be local


class SweepError(ValueError):
    pass


class SweepFailed(RuntimeError):
    """Some runs failed without a record, or were being trained by another process; every other run of
    the sweep still ran and was kept."""
    def __init__(self, failures: list[str], results: list[RunResult], held: list[str] | None = None):
        held = held or []
        parts = ([f"{len(failures)} run(s) failed:"] + failures if failures else []) + \
            ([f"{len(held)} run(s) left to another process that is training them (run the command again "
              f"when it is done):"] + held if held else [])
        super().__init__("\n".join(parts))
        self.failures, self.results, self.held = failures, results, held


@dataclass(frozen=True)
class SweepRun:
    plan: Any                  # a remix.runner.RunPlan
    index: int                 # position in the sweep
    role: str                  # variant | slope | search
    label: str                 # base, +rope, -rope, the recipe's name
    steps: int

    @property
    def identity(self) -> str:
        return self.plan.identity

    @property
    def seed(self) -> int:
        return self.plan.seed


@dataclass(frozen=True)
class Sweep:
    id: str
    kind: str
    recipe: str
    runs: tuple[SweepRun, ...]
    # Variants that train what an earlier run trains (an ingredient that changes nothing at this scale, such
    # as bf16_params where tiny computes in fp32): listed in the manifest so the report still places them
    # (effect 0), never trained twice.
    aliases: tuple[SweepRun, ...] = ()

    @property
    def plans(self) -> list[Any]:
        return [r.plan for r in self.runs]

    def tasks(self, watch: Any = None) -> list[Task]:
        n = len(self.runs)
        return [Task(r.plan, {"id": self.id, "kind": self.kind, "index": r.index, "size": n,
                              "role": r.role, "label": r.label}, watch) for r in self.runs]


# --- planning ------------------------------------------------------------------------------------

def variant_label(variant: dict[str, Any], recipe_name: str, ingredients: Sequence[str] = ()) -> str:
    """A short human name for a variant: base, +rope (a prefix's newest ingredient), -rope, the recipe."""
    kind = variant.get("kind", "full")
    if kind == "prefix":
        last = variant.get("last") or (ingredients[-1] if ingredients else None)
        return f"+{last}" if variant.get("index", len(ingredients)) and last else "base"
    if kind == "drop":
        return "-" + ",-".join(variant.get("dropped", [])) + "".join(f" +{a}" for a in variant.get("added", []))
    if kind == "add":
        return "+" + ",+".join(variant.get("added", []))
    return recipe_name


def _variants(recipe: Any, kind: str) -> list[Any]:
    if kind == "single":
        return [recipe]
    if kind == "prefixes":
        return list(recipe.prefixes())
    if kind == "each":
        return [recipe] + [_leave_out(recipe, name) for name, _ in recipe.ingredients]
    raise SweepError(f"unknown sweep kind {kind!r}; expected one of {', '.join(KINDS)}")


def _leave_out(recipe: Any, name: str) -> Any:
    """The recipe without `name`; where later ingredients require it, without them too (a leave-one-out
    of Muon must also leave out Muon's momentum warm-up), and the variant says so."""
    try:
        return recipe.drop(name)
    except Exception as e:   # the recipe's own message says which ingredient requires it
        deps = _dependents(recipe, name)
        if not deps:
            raise SweepError(f"cannot leave {name!r} out of {recipe.name}: {e}") from None
        return recipe.drop(name, *deps)


def _dependents(recipe: Any, name: str) -> list[str]:
    """Ingredients of the recipe that require `name`, directly or through another."""
    from remix.ingredient import get
    names = [n for n, _ in recipe.ingredients]
    out = {name}
    grew = True
    while grew:
        grew = False
        for n in names:
            if n not in out and set(get(n).requires) & out:
                out.add(n)
                grew = True
    return [n for n in names if n in out and n != name]


def _steps_of(plan: Any) -> int:
    spec = plan.spec
    return int(spec["train"]["steps"] if isinstance(spec, dict) else spec.train.steps)


def _default_planner() -> Callable[[Any, Any], Any]:
    from remix.runner import plan_run   # the engine; imported late so planning can be tested without it
    return plan_run


def _sweep_id(kind: str, identities: Sequence[str], extra: Any = None) -> str:
    return stable_hash({"kind": kind, "identities": list(identities), "extra": extra})


def plan_sweep(recipe: Any, *, kind: str = "single", seeds: int = 1, options: Any = None,
               step_counts: Sequence[int] | None = None, slope: bool | None = None,
               planner: Callable[[Any, Any], Any] | None = None) -> Sweep:
    """Every run of a sweep, in the order an in-process executor trains them: all variants of the
    first seed (and its slope run) before the next seed, so a half-done sweep is already a full pass.

    `step_counts`: train each variant at each of these (an exact-mode grid); None: at the options'
    (or the recipe's) step count, plus the slope run when `slope` (default: for several variants).
    """
    if kind not in KINDS:
        raise SweepError(f"unknown sweep kind {kind!r}; expected one of {', '.join(KINDS)}")
    if seeds < 1:
        raise SweepError(f"--seeds must be at least 1, got {seeds}")
    if step_counts is not None and (not step_counts or any(int(s) < 1 for s in step_counts)):
        raise SweepError(f"step counts must be positive integers, got {list(step_counts)}")
    if options is None:
        from remix.runner import RunOptions
        options = RunOptions()
    planner = planner or _default_planner()
    variants = _variants(recipe, kind)
    slope = (len(variants) > 1) if slope is None else slope
    first = options.seed if options.seed is not None else getattr(recipe, "seed", 0)
    runs: list[SweepRun] = []
    aliases: list[SweepRun] = []
    seen: set[str] = set()

    def add(variant: Any, plan: Any, role: str) -> None:
        names = [n for n, _ in variant.ingredients]
        run = SweepRun(plan, len(runs), role, variant_label(variant.variant, variant.name, names), _steps_of(plan))
        if plan.identity in seen:   # e.g. dropping the only ingredient gives the base again
            if role == "variant":
                aliases.append(replace(run, index=-1))
            return
        seen.add(plan.identity)
        runs.append(run)

    ref = variants[-1] if kind == "prefixes" else variants[0]   # the full recipe
    for seed in range(first, first + seeds):
        ref_steps = None
        for variant in variants:
            for steps in (step_counts or [options.steps]):
                plan = planner(variant, replace(options, seed=seed, steps=None if steps is None else int(steps)))
                ref_steps = _steps_of(plan) if variant is ref else ref_steps
                add(variant, plan, "variant")
        if slope and step_counts is None:
            steps = max(ref_steps + 1, round(ref_steps * SLOPE_FACTOR))
            add(ref, planner(ref, replace(options, seed=seed, steps=steps)), "slope")
    ids = [r.identity for r in runs]
    return Sweep(_sweep_id(kind, ids), kind, recipe.name, tuple(runs), tuple(aliases))


# --- the manifest --------------------------------------------------------------------------------


def manifest_path(store: ResultStore, sweep: Sweep) -> Path:
    return store.root / "sweeps" / f"{sweep.recipe}-{sweep.kind}-{sweep.id}.sweep"


def write_manifest(store: ResultStore, sweep: Sweep, runner: dict[str, Any] | None = None,
                   created_at: str | None = None) -> Path:
    path = manifest_path(store, sweep)
    if created_at is None:
        old = read_manifest(path)
        created_at = old.get("created_at") if isinstance(old, dict) else None
    write_atomic(path, {
        "schema": SWEEP_SCHEMA, "id": sweep.id, "kind": sweep.kind, "recipe": sweep.recipe,
        "created_at": created_at or now(), "updated_at": now(), "runner": runner,
        "runs": [_entry(r) for r in sweep.runs], "aliases": [_entry(r) for r in sweep.aliases]})
    return path


def _entry(r: SweepRun) -> dict[str, Any]:
    return {"identity": r.identity, "index": r.index, "role": r.role, "label": r.label, "seed": r.seed,
            "steps": r.steps, "variant": dict(getattr(r.plan, "variant", None) or {})}


def read_manifest(path: Path) -> dict[str, Any] | Exception:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError, UnicodeDecodeError) as e:
        return e
    if not isinstance(data, dict) or data.get("schema") != SWEEP_SCHEMA or not isinstance(data.get("runs"), list):
        return ValueError(f"not a remix sweep manifest (expected schema {SWEEP_SCHEMA!r})")
    return data


def manifests(root: Path | str) -> list[tuple[Path, dict[str, Any] | Exception]]:
    folder = Path(root) / "sweeps"
    return [(p, read_manifest(p)) for p in sorted(folder.glob("*.sweep"))] if folder.is_dir() else []


# --- running -------------------------------------------------------------------------------------

def _runner_info(executor: Executor) -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "started_at": now(), "executor": executor.name,
            "parallel": len(getattr(executor, "devices", [None]))}


def run_sweep(sweep: Sweep, store: ResultStore, *, executor: str | Executor = "auto", force: bool = False,
              execute: Callable[..., Any] | str = DEFAULT_EXECUTE, watch: Any = None,
              on_event: Events | None = None,
              preflight: Callable[[list[Any]], None] | None = None) -> list[RunResult]:
    """Trains what is left of the sweep and returns every run's record, in sweep order.

    Finished (or diverged, or unstable) identities are reused unless `force` (on_event "reused");
    anything else is trained from the start. `preflight(plans)` checks what is left before the manifest
    is written (the data, once for the whole sweep). Raises SweepFailed (after every other run went
    through) when runs failed without a record or were being trained by another process.
    """
    ex = make_executor(executor, execute) if isinstance(executor, str) else executor
    todo = []
    for task in sweep.tasks(watch):
        done = None if force else store.finished(task.identity)
        if done is None:
            todo.append(task)
        elif on_event is not None:
            on_event("reused", task, done)
    if preflight is not None and todo:
        preflight([t.plan for t in todo])
    write_manifest(store, sweep, runner=_runner_info(ex))
    try:
        outcome = ex.run(todo, store, force=force, on_event=on_event) if todo else None
    finally:
        write_manifest(store, sweep, runner=None)
    results = [r for r in (store.find(run.identity) for run in sweep.runs) if r is not None]
    if outcome is not None and (outcome.failures or outcome.held):
        raise SweepFailed(outcome.failures, results, outcome.held)
    return results


def search_sweep(recipe: Any, *, kind: str = "single", seeds: int = 1, options: Any = None,
                 store: ResultStore, executor: str | Executor = "auto", tol: float = 0.02, max_rounds: int = 8,
                 planner: Callable[[Any, Any], Any] | None = None,
                 execute: Callable[..., Any] | str = DEFAULT_EXECUTE, force: bool = False, watch: Any = None,
                 on_event: Events | None = None,
                 preflight: Callable[[list[Any]], None] | None = None) -> Sweep:
    """Exact mode: per variant and seed, rounds of runs at the step counts the target search asks for
    (bracket the crossing, then interpolate) until each bracket is within `tol` or `max_rounds` pass.

    The first round's runs (the recipe's step count) have the role "variant", later rounds "search".
    The search is a function of the records, so an interrupted search replays its finished rounds from
    the store (no training) and carries on where it stopped. Returns the sweep of every run it made.
    """
    from remix import ttt   # scipy: only the search needs it, not every per-GPU worker that imports sweeps
    first = plan_sweep(recipe, kind=kind, seeds=seeds, options=options, slope=False, planner=planner)
    planner = planner or _default_planner()
    options = options if options is not None else _default_options()
    sweep_id = _sweep_id(kind + "-search", [r.identity for r in first.runs], {"tol": tol})
    groups = {(r.label, r.seed): (r.plan.recipe, r.seed, r.steps) for r in first.runs}
    runs: list[SweepRun] = []
    tried: dict[tuple[str, int], dict[int, RunResult | None]] = {k: {} for k in groups}
    failures: list[str] = []
    held: list[str] = []
    for round_ in range(max_rounds):
        new: list[SweepRun] = []
        for key, (variant, seed, start) in groups.items():
            points = [ttt.Point(s, r.final_val_loss, r.ms_per_step) for s, r in tried[key].items()
                      if r is not None and r.status == "finished" and r.final_val_loss is not None]
            for steps in ttt.next_steps(points, variant.target, start, tol):
                if steps in tried[key]:
                    continue   # already run (it diverged or failed): asking again would learn nothing
                plan = planner(variant, replace(options, seed=seed, steps=steps))
                new.append(SweepRun(plan, len(runs) + len(new), "variant" if round_ == 0 else "search",
                                    key[0], steps))
        if not new:
            break
        runs += new
        try:
            run_sweep(Sweep(sweep_id, kind + "-search", recipe.name, tuple(runs)), store, executor=executor,
                      execute=execute, force=force, watch=watch, on_event=_only(new, on_event),
                      preflight=preflight)
        except SweepFailed as e:
            failures += e.failures   # failed step counts are remembered below and not asked for again
            held += e.held
        force = False   # --force retrains what existed before the search, not the search's own rounds
        for run in new:
            tried[(run.label, run.seed)][run.steps] = store.find(run.identity)
    sweep = Sweep(sweep_id, kind + "-search", recipe.name, tuple(runs))
    if failures or held:
        raise SweepFailed(failures, [r for r in (store.find(x.identity) for x in runs) if r is not None], held)
    return sweep


def _only(runs: Sequence[SweepRun], on_event: Events | None) -> Events | None:
    """Events of this round's runs only: a round replays the earlier rounds' runs, which were told already."""
    if on_event is None:
        return None
    ids = {r.identity for r in runs}
    return lambda kind, task, detail: on_event(kind, task, detail) if task.identity in ids else None


def _default_options() -> Any:
    from remix.runner import RunOptions
    return RunOptions()


# --- status --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunState:
    entry: dict[str, Any]          # the manifest's line for the run
    state: str                     # done | diverged | running | interrupted | failed | pending
    record: RunResult | None
    wall_s: float | None           # started → finished (or → now while running)


@dataclass(frozen=True)
class SweepProgress:
    path: Path
    manifest: dict[str, Any]
    runs: list[RunState]
    runner_alive: bool | None      # None: the runner is on another host (cannot tell)

    def count(self, *states: str) -> int:
        return sum(1 for r in self.runs if r.state in states)

    @property
    def eta_s(self) -> float | None:
        """Time left, from the mean wall time of the runs done here, spread over the runner's devices."""
        done = [r.wall_s for r in self.runs if r.state in ("done", "unstable", "diverged") and r.wall_s]
        if not done:
            return None
        mean = sum(done) / len(done)
        left = self.count("pending", "interrupted", "failed") * mean
        left += sum(max(mean - (r.wall_s or 0), 0) for r in self.runs if r.state == "running")
        parallel = ((self.manifest.get("runner") or {}).get("parallel") or 1)
        return left / max(parallel, 1)


def _parse_time(text: str) -> _dt.datetime | None:
    try:
        return _dt.datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _alive(runner: dict[str, Any] | None) -> bool | None:
    if not runner:
        return False
    if runner.get("host") != socket.gethostname():
        return None
    try:
        os.kill(int(runner["pid"]), 0)
        return True
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, ValueError, TypeError):
        return None


def sweep_progress(path: Path, manifest: dict[str, Any], store: ResultStore,
                   now: _dt.datetime | None = None) -> SweepProgress:
    now = now or _dt.datetime.now(_dt.timezone.utc)
    alive = _alive(manifest.get("runner"))
    runner_start = _parse_time(str((manifest.get("runner") or {}).get("started_at", "")))
    states = []
    from remix.slurm import JobBook, job_running
    jobs = JobBook(store.root).read()   # runs handed to Slurm are alive while their job is
    for entry in manifest["runs"]:
        rec = store.find(str(entry.get("identity", "")))
        wall = None
        if rec is None:
            state = "pending"
        else:
            start, end = _parse_time(rec.started_at), _parse_time(rec.finished_at)
            if rec.status == "finished":
                state = "done"
            elif rec.status == "running":
                # a record says running until its process writes the end; a dead runner means it never
                # will, and one started before the live runner was left by an earlier, killed one
                stale = alive is False or (start is not None and runner_start is not None and start < runner_start)
                if rec.identity in jobs:
                    stale = not job_running(jobs[rec.identity])
                state = "interrupted" if stale else "running"
            else:
                state = rec.status
            if start is not None:
                wall = ((end if (end and state != "running") else now) - start).total_seconds()
        states.append(RunState(entry, state, rec, wall))
    return SweepProgress(path, manifest, states, alive)
