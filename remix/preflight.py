"""Checks made before any device time is spent: the data a plan reads, and the folders results go to.

A sweep checks every distinct data need of its runs once, up front (`check_plans`), so a missing or
short dataset is one error before a manifest or record exists, not the same error once per run. Each
run checks its own data again when it starts (`check_data`): a per-GPU worker or a torchrun rank is a
fresh process, and the token-id scan is cached per shard, so that costs little.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Iterable

from remix.data import DataError, load_tokens, open_dataset


def check_data(plan: Any):
    """The plan's machine and dataset, checked: every component can run here (FP8 needs Hopper), enough
    val and train tokens, ids inside the vocabulary."""
    from remix.validate import check_capabilities
    check_capabilities(plan.spec, plan.hardware["device"])
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


def _need(plan: Any) -> tuple:
    """What check_data looks at: plans that agree on it need one check between them."""
    s, world = plan.spec, plan.hardware["device_count"]
    return (s.data.source, s.data.allow_epochs, s.model.vocab_size, s.train.steps * s.train.tokens_per_step,
            s.train.tokens_per_step, s.eval.tokens,
            world * (s.eval.device_batch or s.train.device_batch) * (s.eval.seq_len or s.train.seq_len))


def check_plans(plans: Iterable[Any]) -> None:
    """Every distinct data need of a sweep's plans, checked once; the first problem is a DataError."""
    seen: set[tuple] = set()
    for plan in plans:
        need = _need(plan)
        if need not in seen:
            seen.add(need)
            check_data(plan)


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
