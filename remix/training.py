"""One run in this process: data checked, trainer built, progress shown, the record kept up to date."""

from __future__ import annotations

import datetime as _dt

from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from remix.data import DataError, open_dataset
from remix.distributed import setup
from remix.results import ResultStore, RunResult
from remix.runner import RunPlan, new_result
from remix.trainer import Diverged, Trainer
from remix.validate import load_components


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def check_data(plan: RunPlan):
    spec, world = plan.spec, plan.hardware["device_count"]
    e, t = spec.eval, spec.train
    dataset = open_dataset(spec.data.source)
    dataset.check(val_tokens_needed=e.tokens, train_tokens_needed=t.steps * t.tokens_per_step,
                  allow_epochs=spec.data.allow_epochs, batch_tokens=t.tokens_per_step,
                  val_batch_tokens=world * (e.device_batch or t.device_batch) * (e.seq_len or t.seq_len))
    if dataset.vocab_size > spec.model.vocab_size:
        raise DataError(f"{dataset.name}: token ids go up to {dataset.vocab_size - 1}, but model.vocab_size is "
                        f"{spec.model.vocab_size}")
    return dataset


def train_plan(plan: RunPlan, store: ResultStore, *, progress: bool = True, sweep: dict | None = None) -> RunResult:
    load_components()   # a fresh worker process (torchrun, Slurm, one per GPU) starts with empty registries
    dataset = check_data(plan)   # before any device time is spent
    dist = setup(plan.hardware["device"])
    result = new_result(plan, sweep)
    result.data = dataset.identity()
    main = dist.is_main
    if main:
        store.save(result)
    trainer = Trainer(plan.spec, dataset, dist, plan.seed)
    result.param_count = sum(p.numel() for p in trainer.model.parameters())
    steps = plan.spec.train.steps
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TextColumn("loss {task.fields[loss]}  val {task.fields[val]}  {task.fields[tps]} tok/s"),
                   TimeRemainingColumn(), disable=not (progress and main))
    try:
        with bar:
            task = bar.add_task(plan.recipe.name, total=steps, loss="-", val="-", tps="-")

            def on_progress(p: dict) -> None:
                fields = {}
                if "train_loss" in p:
                    fields["loss"] = f"{p['train_loss']:.3f}"
                if "val_loss" in p:
                    fields["val"] = f"{p['val_loss']:.4f}"
                if p["train_ms"] > 0 and p["step"] > 0:
                    fields["tps"] = f"{p['step'] * plan.spec.train.tokens_per_step / p['train_ms'] * 1000:,.0f}"
                bar.update(task, completed=p["step"], **fields)

            trainer.run(result, on_progress)
        result.status = "finished"
    except Diverged as e:
        result.status, result.message = "diverged", str(e)
    except KeyboardInterrupt:
        result.status, result.message = "interrupted", "stopped by the user (Ctrl-C)"
    finally:
        _finish(result, plan)
        if main:
            store.save(result)
    if result.status == "interrupted":
        raise KeyboardInterrupt
    return result


def _finish(result: RunResult, plan: RunPlan) -> None:
    result.finished_at = _now()
    if result.steps_done and result.train_time_ms:
        result.ms_per_step = result.train_time_ms / result.steps_done
        result.tokens_per_s = result.steps_done * plan.spec.train.tokens_per_step / (result.train_time_ms / 1000)
    if result.final_val_loss is not None:
        result.reached_target = result.final_val_loss <= plan.recipe.target
