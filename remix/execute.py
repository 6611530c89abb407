"""One plan, trained in this process, its record kept up to date from start to end.

    execute_plan(plan, store)  -> RunResult   (a finished identity in the store is returned, not retrained)

This is what every executor calls for a run (in this process, in a per-GPU worker, under torchrun). It
takes the run's lock (remix.lock: no two processes train one identity), checks the data before any
device time, writes a `running` record, trains (progress through remix.watch), and writes the outcome:
finished; unstable (it trained to the end but finished above the val loss it started from); diverged
(a NaN/inf loss); interrupted (Ctrl-C, SIGTERM); failed (an exception, which still reaches the caller).
"""

from __future__ import annotations

import math
import os
import signal

import torch

from remix.capability import kernels
from remix.distributed import setup
from remix.lock import run_lock
from remix.preflight import check_data
from remix.results import ResultStore, RunResult, now
from remix.runner import OutOfMemory, RunPlan, new_result
from remix.trainer import Diverged, Trainer
from remix.validate import load_components
from remix.watch import Monitor, Watch


def execute_plan(plan: RunPlan, store: ResultStore, *, force: bool = False, sweep: dict | None = None,
                 watch: Watch | None = None) -> RunResult:
    """Trains the plan in this process and writes its record; a finished identity is not trained again.
    Raises remix.lock.RunLocked when another process is training the same identity."""
    done = store.finished(plan.identity)
    if done is not None and not force:
        return done
    if os.environ.get("RANK", "0") != "0":   # torchrun: rank 0 holds the lock for all ranks
        return train_plan(plan, store, sweep=sweep, watch=watch)
    with run_lock(store.root, plan.identity):
        done = store.finished(plan.identity)   # another process may have finished it while we waited to ask
        if done is not None and not force:
            return done
        return train_plan(plan, store, sweep=sweep, watch=watch)


def _out_of_memory(e: Exception, plan: RunPlan) -> OutOfMemory | None:
    text = str(e)
    if not (isinstance(e, torch.OutOfMemoryError) or "can't allocate memory" in text or "out of memory" in text):
        return None
    tr = plan.spec.train
    return OutOfMemory(
        f"{plan.recipe.name}: out of memory on {plan.hardware['device']} ({text.splitlines()[0][:200]}). "
        f"A step holds {tr.device_batch} row(s) of {tr.seq_len:,} tokens: shrink train.seq_len or "
        f"train.device_batch with --set, or try --scale tiny on a CPU")


def label_of(plan: RunPlan, sweep: dict | None) -> str:
    """What the console and the trackers call the run: its variant in the sweep, or the recipe."""
    return str((sweep or {}).get("label") or plan.recipe.name)


def train_plan(plan: RunPlan, store: ResultStore, *, sweep: dict | None = None,
               watch: Watch | None = None) -> RunResult:
    watch = watch or Watch()
    load_components()   # a fresh worker process (torchrun, Slurm, one per GPU) starts with empty registries
    dataset = check_data(plan)   # machine and data, before any device time is spent
    dist = setup(plan.hardware["device"])
    result = new_result(plan, sweep)
    result.data = dataset.identity()
    main = dist.is_main
    if main:
        store.save(result)
    previous = _sigterm_as_interrupt()
    monitor = Monitor(watch, plan, label_of(plan, sweep), main=main)
    requeued: SystemExit | None = None
    try:   # from the model's build on: a signal while it builds (a scheduler's) still leaves its record
        trainer = Trainer(plan.spec, dataset, dist, plan.seed)
        result.param_count = sum(p.numel() for p in trainer.model.parameters())
        result.kernels = kernels(trainer.model, trainer.optim.optimizers)   # a kernel, or its fallback
        with monitor:
            trainer.run(result, monitor.on_progress, log_every=watch.log_every)
        result.status = "finished"
        _check_stable(result)
    except Diverged as e:
        result.status, result.message = "diverged", str(e)
    except KeyboardInterrupt:
        result.status, result.message = "interrupted", "stopped by the user (Ctrl-C or SIGTERM)"
    except SystemExit as e:   # submitit exits from its pre-emption/timeout signal handler once it has requeued
        result.status, result.message = "interrupted", "pre-empted or timed out by the scheduler; its job is requeued"
        requeued = e
    except Exception as e:   # the record says the run failed, and why; the error still reaches the caller
        result.status, result.message = "failed", f"{type(e).__name__}: {e}"
        oom = _out_of_memory(e, plan)
        if oom is not None:
            result.message = str(oom)
            raise oom from e
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        _finish(result, plan)
        if main:
            store.save(result)
            monitor.finish(result)
    if requeued is not None:
        raise requeued   # the exit status tells submitit's local controller to start the job again
    if result.status == "interrupted":
        raise KeyboardInterrupt
    return result


def _check_stable(result: RunResult) -> None:
    """A run that ends above the val loss it started from learned nothing that counts (an lr that blew the
    weights up without a NaN): it is `unstable`, so the report never reads its loss as an effect."""
    first = next((p.val_loss for p in result.curve if p.val_loss is not None), None)
    final = result.final_val_loss
    if first is not None and final is not None and math.isfinite(first) and final > first:
        result.status = "unstable"
        result.message = (f"ends worse than it began: val loss {final:.4f} at step {result.steps_done}, "
                          f"{first:.4f} at step 0")


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
        result.reached_target = result.final_val_loss <= plan.recipe.target and result.status == "finished"

