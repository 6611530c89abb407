"""Gradient synchronisation (`train.grad_sync`, registry GRAD_SYNC): how the ranks' gradients become their
average before the optimizer steps. Every component is the same math (the mean of the ranks' gradients,
in each parameter's dtype); they differ in how the communication is cut up and when it is launched.

A component is built once per run, `(cfg, params, world) -> GradSync`. Per step the trainer calls
`arm()` before the backward of the step's last micro-batch (a component that launches from gradient
hooks launches only then: earlier micro-batches only accumulate) and `finish()` after it, before
clipping and the optimizer; after `finish()` every gradient is the ranks' mean. A parameter whose
gradient is None on this step (a group the optimizer has cleared and that took no gradient) stays None.

    all_reduce       one asynchronous all-reduce (AVG) per parameter after the backward: remix's base, the
                     llm.c baseline's and the records' up to #21
    bucketed         gradients copied into flat buffers of at most bucket_mb MiB per dtype, one all-reduce
                     per buffer (#22); overlap = true launches each buffer from the backward hooks as soon
                     as its last gradient is accumulated (#23), and waits before the optimizer step
    reduce_scatter   per flat buffer a reduce-scatter (each rank gets the mean of its 1/world slice, #24)
                     then an all-gather of the slices; overlap as above (#44's hooks)

Gradients keep their dtype on the wire (a bf16 table's gradient travels in bf16), as in the records.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist

from remix.slots import GRAD_SYNC


class GradSync:
    def arm(self) -> None:
        """The next backward is the step's last: its gradients are final once accumulated."""

    def finish(self) -> None:
        raise NotImplementedError


class AllReduce(GradSync):
    def __init__(self, params: list[torch.Tensor]):
        self.params = params

    def finish(self) -> None:
        handles = [dist.all_reduce(p.grad, op=dist.ReduceOp.AVG, async_op=True)
                   for p in self.params if p.grad is not None]
        for h in handles:
            h.wait()


@GRAD_SYNC.register("all_reduce")
def all_reduce(cfg, params: list[torch.Tensor], world: int) -> GradSync:
    return AllReduce(params)


@dataclass(frozen=True)
class BucketConfig:
    bucket_mb: "float" = 25.0    # the most MiB of gradients one collective carries (#22: 64, #23: 25)
    overlap: "bool" = False      # launch each bucket from the backward hooks as its gradients are final

    def __post_init__(self):
        if not self.bucket_mb > 0:
            raise ValueError(f"bucket_mb must be > 0, got {self.bucket_mb}")


class _Bucket:
    """Parameters of one dtype whose gradients travel together, through one flat buffer made once."""

    def __init__(self, params: list[torch.Tensor], world: int):
        self.params = params
        numel = sum(p.numel() for p in params)
        padded = -(-numel // world) * world            # a reduce-scatter needs equal slices
        self.flat = torch.zeros(padded, dtype=params[0].dtype, device=params[0].device)
        self.views, at = [], 0
        for p in params:
            self.views.append(self.flat[at:at + p.numel()].view_as(p))
            at += p.numel()
        self.shard = self.flat.new_empty(padded // world)
        self.ready = 0
        self.work: list = []


class Bucketed(GradSync):
    """Flat buffers, filled in backward order (the last layers' gradients are final first)."""

    def __init__(self, cfg: BucketConfig, params: list[torch.Tensor], world: int, scatter: bool):
        self.scatter, self.armed = scatter, False
        self.buckets: list[_Bucket] = []
        limit = cfg.bucket_mb * 2**20
        by_dtype: dict[tuple, list[torch.Tensor]] = {}
        for p in reversed(params):
            by_dtype.setdefault((p.dtype, p.device), []).append(p)
        for group in by_dtype.values():
            current, size = [], 0
            for p in group:
                nbytes = p.numel() * p.element_size()
                if current and size + nbytes > limit:
                    self.buckets.append(_Bucket(current, world))
                    current, size = [], 0
                current.append(p)
                size += nbytes
            if current:
                self.buckets.append(_Bucket(current, world))
        if cfg.overlap:
            for bucket in self.buckets:
                for p in bucket.params:
                    p.register_post_accumulate_grad_hook(self._hook(bucket))

    def _hook(self, bucket: _Bucket):
        def ready(p: torch.Tensor) -> None:
            if not self.armed:
                return   # an earlier micro-batch: its gradient is not final yet
            bucket.ready += 1
            if bucket.ready == len(bucket.params):
                self._launch(bucket)
        return ready

    def arm(self) -> None:
        self.armed = True

    def _launch(self, bucket: _Bucket) -> None:
        grads = [p.grad for p in bucket.params]
        for view, g in zip(bucket.views, grads):
            if g is None:
                view.zero_()   # a rank-wide None (every rank runs the same graph): nothing to add
            else:
                view.copy_(g)
        if self.scatter:
            work = dist.reduce_scatter_tensor(bucket.shard, bucket.flat, op=dist.ReduceOp.AVG, async_op=True)
            bucket.work = [work]
        else:
            bucket.work = [dist.all_reduce(bucket.flat, op=dist.ReduceOp.AVG, async_op=True)]

    def finish(self) -> None:
        # Buckets whose hooks did not all fire (no overlap, or a parameter without a gradient this step) go
        # now, in bucket order: every rank launches the same collectives in the same order.
        for bucket in self.buckets:
            if not bucket.work:
                self._launch(bucket)
        for bucket in self.buckets:
            for work in bucket.work:
                work.wait()
            if self.scatter:   # each rank holds the mean of its slice: gather the whole back
                dist.all_gather_into_tensor(bucket.flat, bucket.shard)
            for p, view in zip(bucket.params, bucket.views):
                if p.grad is not None:
                    p.grad.copy_(view)
            bucket.work, bucket.ready = [], 0
        self.armed = False


@GRAD_SYNC.register("bucketed", config=BucketConfig)
def bucketed(cfg: BucketConfig, params: list[torch.Tensor], world: int) -> GradSync:
    return Bucketed(cfg, params, world, scatter=False)


@GRAD_SYNC.register("reduce_scatter", config=BucketConfig)
def reduce_scatter(cfg: BucketConfig, params: list[torch.Tensor], world: int) -> GradSync:
    return Bucketed(cfg, params, world, scatter=True)
