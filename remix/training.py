"""One run in this process: data checked, trainer built, progress shown, the record kept up to date."""

from __future__ import annotations

import functools
import os
import signal

from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from remix.data import DataError, load_tokens, open_dataset
from remix.distributed import setup
from remix.results import ResultStore, RunResult, now
from remix.runner import RunPlan, new_result
from remix.trainer import Diverged, Trainer
from remix.validate import load_components


def check_data(plan: RunPlan):
    spec, world = plan.spec, plan.hardware["device_count"]
    e, t = spec.eval, spec.train
    dataset = open_dataset(spec.data.source)
    dataset.check(val_tokens_needed=e.tokens, train_tokens_needed=t.steps * t.tokens_per_step,
                  allow_epochs=spec.data.allow_epochs, batch_tokens=t.tokens_per_step,
                  val_batch_tokens=world * (e.device_batch or t.device_batch) * (e.seq_len or t.seq_len))
    if dataset.vocab_size > spec.model.vocab_size:
        raise DataError(f"{dataset.name}: token ids go up to {dataset.vocab_size - 1}, but model.vocab_size is "
                        f"{spec.model.vocab_size} (--set model.vocab_size={dataset.vocab_size})")
    check_token_ids(shards_read(dataset, t.steps * t.tokens_per_step, spec.data.allow_epochs),
                    spec.model.vocab_size)
    return dataset


def shards_read(dataset, train_tokens: int, allow_epochs: bool) -> list:
    """The val shards and the train shards a run of `train_tokens` reaches."""
    train, total = [], 0
    for path, n in zip(dataset.train_files, dataset.train_counts):
        train.append(path)
        total += n
        if total > train_tokens and not allow_epochs:
            break
    return [*dataset.val_files, *train]


def check_token_ids(paths, vocab_size: int) -> None:
    """Every token id the run reads is below the vocabulary (an id past it would crash the embedding on
    the device, far from its cause). One vectorised pass per shard, before any device time is spent."""
    for path in paths:
        stat = os.stat(path)
        top = _largest_id(os.fspath(path), stat.st_size, stat.st_mtime_ns)
        if top >= vocab_size:
            at = int((load_tokens(path) >= vocab_size).argmax())
            raise DataError(f"{path}: token {top} at position {at} is outside the vocabulary "
                            f"(model.vocab_size = {vocab_size})")


@functools.cache
def _largest_id(path: str, size: int, mtime_ns: int) -> int:
    """The largest token id in a shard, read once per process (the runs of a sweep share the shards)."""
    tokens = load_tokens(path)
    return int(tokens.max()) if len(tokens) else 0


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
                   TimeRemainingColumn(), disable=not (progress and main), refresh_per_second=2)
    previous = _sigterm_as_interrupt()
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
        result.status, result.message = "interrupted", "stopped by the user (Ctrl-C or SIGTERM)"
    except Exception as e:   # the record says the run failed, and why; the error still reaches the caller
        result.status, result.message = "failed", f"{type(e).__name__}: {e}"
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        _finish(result, plan)
        if main:
            store.save(result)
    if result.status == "interrupted":
        raise KeyboardInterrupt
    return result


def _sigterm_as_interrupt():
    """A scheduler's SIGTERM (timeout, Slurm pre-emption) leaves an `interrupted` record, like Ctrl-C."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:   # not the main thread: leave signals alone
        return signal.getsignal(signal.SIGTERM)


def _finish(result: RunResult, plan: RunPlan) -> None:
    result.finished_at = now()
    if result.steps_done and result.train_time_ms:
        result.ms_per_step = result.train_time_ms / result.steps_done
        result.tokens_per_s = result.steps_done * plan.spec.train.tokens_per_step / (result.train_time_ms / 1000)
    if result.final_val_loss is not None:
        result.reached_target = result.final_val_loss <= plan.recipe.target
