"""Carrying out `remix run` and `remix ablate`: plan, check, train one run or a sweep, say what happened.

The console names every run as it starts (`run 7/24 · +qk_norm · seed 0 · 30 steps`), prints its result
line when it ends, and says when a finished record was reused instead. Everything that can be wrong
with the input (recipe, flags, data, the output folder) is found before anything trains or any record
or manifest is written.

Exit status: 0 when every run finished; 1 when a run diverged, was unstable, failed, or was left to
another process that holds its lock; 2 for bad input; 130 when interrupted.
"""

from __future__ import annotations

import os
from typing import Any

from rich.markup import escape

from remix.options import RunOptions
from remix.recipe import Recipe, RecipeError

STATUS_COLOUR = {"finished": "green", "unstable": "red", "diverged": "red", "failed": "red",
                 "interrupted": "yellow", "running": "cyan"}


def execute(recipe: Recipe, options: RunOptions, *, kind: str, seeds: int, force: bool, ttt: str, tol: float,
            executor: str, watch: Any, out: Any, fail: Any) -> None:
    """`out`: the rich console; `fail(message, code)`: prints the error and exits."""
    from remix.capability import CapabilityError
    from remix.data import DataError
    from remix.distributed import DistributedError
    from remix.executors import ExecutorError
    from remix.lock import RunLocked
    from remix.outdir import OutputError, writable_dir
    from remix.preflight import check_data, check_plans
    from remix.results import ResultStore
    from remix.runner import OutOfMemory, plan_run
    from remix.sweep import SweepError, SweepFailed
    store = ResultStore(options.results)
    console = RunConsole(out, store)
    if not isinstance(executor, str):   # a remix.slurm.SlurmConfig: --executor slurm
        from remix.slurm import Slurm
        if ttt == "exact" and not executor.wait:
            fail("--ttt exact with --executor slurm searches step counts from finished runs: add --slurm wait=true", 2)
        executor = Slurm(executor)

    def preflight(plans: list) -> None:
        check_plans(plans)                   # the data, once for every distinct need of the sweep
        writable_dir(store.root, "--out")    # after the data: a bad recipe or dataset leaves no folder
    try:
        if kind == "single" and seeds == 1 and ttt == "cheap" and executor in ("auto", "inprocess"):
            plan = plan_run(recipe, options)
            console.fitted(plan)
            done = None if force else store.finished(plan.identity)
            if done is not None:
                console.line(console.single_head(plan), "reused", done)
            else:
                check_data(plan)
                writable_dir(store.root, "--out")
                from remix.execute import execute_plan   # torch: imported only to train
                console.single_start(plan)
                done = execute_plan(plan, store, force=force, watch=watch)
                console.line(console.single_head(plan), "done", done)
            results = [done]
        elif ttt == "exact":
            from remix.sweep import search_sweep
            out.print(f"exact time-to-target: searching step counts ({kind}, {seeds} seed(s), tol {tol})")
            sweep = search_sweep(recipe, kind=kind, seeds=seeds, options=options, store=store, executor=executor,
                                 tol=tol, force=force, watch=watch, on_event=console, preflight=preflight)
            results = [r for r in (store.find(run.identity) for run in sweep.runs) if r is not None]
        else:
            from remix.sweep import plan_sweep, run_sweep
            sweep = plan_sweep(recipe, kind=kind, seeds=seeds, options=options)
            if sweep.plans:
                console.fitted(sweep.plans[0])
            out.print(f"sweep {sweep.id}: {len(sweep.plans)} runs ({kind}, {seeds} seed(s))", highlight=False)
            results = run_sweep(sweep, store, executor=executor, force=force, watch=watch, on_event=console,
                                preflight=preflight)
    except (RecipeError, DataError, SweepError, ExecutorError, OutputError, CapabilityError, DistributedError) as e:
        fail(str(e), 2)
    except (RunLocked, OutOfMemory) as e:
        fail(str(e), 1)
    except SweepFailed as e:
        fail(str(e), 1)
    except KeyboardInterrupt:
        fail("interrupted: the run's record is kept, with status interrupted; the same command trains it again", 130)
    if getattr(executor, "name", None) == "slurm" and not executor.waits:
        out.print(f"jobs submitted; their records land in {store.root}: `remix status --results {store.root}` "
                  "shows them", highlight=False)
        return
    bad = [r for r in results if r.status != "finished"]
    if bad:
        counts = ", ".join(f"{sum(r.status == s for r in bad)} {s}" for s in sorted({r.status for r in bad}))
        fail(f"{counts} of {len(results)} run(s); their records say why (message) and the report lists them", 1)


class RunConsole:
    """One line per run as it starts and ends (rank 0 only under torchrun); also the sweep's on_event."""

    def __init__(self, out: Any, store: Any):
        self.out, self.store = out, store
        self.quiet = os.environ.get("RANK", "0") != "0"

    def __call__(self, kind: str, task: Any, detail: Any) -> None:
        head = self.sweep_head(task)
        if kind == "start":
            self.print(f"{head}: training" + (f" on {escape(str(detail))}" if detail else ""))
        elif kind in ("done", "reused"):
            self.line(head, kind, detail)
        elif kind == "failed":
            self.print(f"{head}: [red]failed[/red]: {escape(str(detail).splitlines()[0])}")
        elif kind == "held":
            self.print(f"{head}: [yellow]not trained here[/yellow]: {escape(str(detail))}")
        elif kind == "submitted":
            self.print(f"{head}: submitted as {escape(str(detail))}")
        elif kind == "queued":
            self.print(f"{head}: [cyan]{escape(str(detail))}[/cyan]")

    @staticmethod
    def sweep_head(task: Any) -> str:
        s, plan = task.sweep or {}, task.plan
        role = s.get("role", "variant")
        return escape(f"run {s.get('index', 0) + 1}/{s.get('size', 1)} · {s.get('label', plan.recipe.name)} · "
                      f"seed {plan.seed} · {_steps(plan)} steps" + ("" if role == "variant" else f" ({role} run)"))

    @staticmethod
    def single_head(plan: Any) -> str:
        return escape(f"{plan.recipe.name} · {_label(plan.variant, plan.recipe.name)} · seed {plan.seed} · "
                      f"{_steps(plan)} steps")

    def fitted(self, plan: Any) -> None:
        """Says when the device batch was lowered to split the step over the devices (remix.batch)."""
        for path, note in plan.fitted.items():
            self.print(f"[yellow]{escape(path)}[/yellow] {escape(note)}")

    def single_start(self, plan: Any) -> None:
        self.print(f"{self.single_head(plan)}: training")

    def line(self, head: str, kind: str, result: Any) -> None:
        if result is None:
            self.print(f"{head}: no record was written")
            return
        colour = STATUS_COLOUR.get(result.status, "white")
        text = f"[{colour}]{result.status}[/{colour}]"
        if result.final_val_loss is not None:
            hit = "reached" if result.reached_target else "missed"
            text += f", val {result.final_val_loss:.4f} (target {result.target:g}: {hit})"
        if result.ms_per_step:
            text += f", {result.ms_per_step:.1f} ms/step"
        if result.status != "finished" and result.message:
            text += f" — {escape(result.message)}"
        reused = "reused, not trained: " if kind == "reused" else ""
        again = " (--force trains it again)" if kind == "reused" else ""
        self.print(f"{head}: {reused}{text} -> {escape(str(self.store.path_for(result)))}{again}")

    def print(self, text: str) -> None:
        if not self.quiet:
            self.out.print(text, highlight=False, soft_wrap=True)


def _steps(plan: Any) -> int:
    spec = plan.spec
    return int(spec["train"]["steps"] if isinstance(spec, dict) else spec.train.steps)


def _label(variant: dict, name: str) -> str:
    from remix.sweep import variant_label
    label = variant_label(variant, name)
    return "full recipe" if label == name else label
