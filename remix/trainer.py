"""The training loop, top to bottom: build, warm up untimed, train on the clock, evaluate off it.

Timing follows the speedrun: an untimed warm-up (compilation happens there) after which model and
optimizer state are restored; the clock runs over training steps, data loading included, and is
stopped (after a device synchronise) for every validation pass.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from typing import Callable, Iterator

import torch
import torch.distributed as torch_dist

from remix.slots import GRAD_SYNC, LOADERS, build
from remix.data import Dataset, loaders  # noqa: F401  (loaders register themselves)
from remix import grad_sync  # noqa: F401  (registers the gradient synchronisations)
from remix.distributed import Dist
from remix.model import build_model
from remix.optim import Optimizers, build_optimizers
from remix.results import CurvePoint, RunResult
from remix.spec import Spec
from remix.stages import DeviceState, StepPlan

LOG_EVERY = 25   # default steps between train-loss reports (--log-every); reading one never syncs
FP32_MATMUL = "high"   # TF32 for any fp32 matmul, as llm.c and the speedrun's scripts


class Diverged(RuntimeError):
    pass


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def make_loader(spec: Spec, dataset: Dataset, dist: Dist, *, split: str, plan: StepPlan | None = None) -> Iterator:
    c = spec.data.loader
    cfg = LOADERS.config(c.name, c.args)
    if split == "train":
        t = spec.train
        stages = _loader_stages(plan, dist.world) if plan is not None and len(plan.stages) > 1 else None
        return LOADERS.get(c.name)(cfg, dataset.train_files, seq_len=t.seq_len, device_batch=t.device_batch,
                                   accum=accumulation(spec, dist.world), rank=dist.rank, world=dist.world,
                                   bos_id=dataset.bos_id, device=dist.device, cycle=spec.data.allow_epochs,
                                   stages=stages)
    e = spec.eval
    # Validation always reads the val shards in order, sliced by rank, whatever the training loader.
    return LOADERS.get("rank_slice")(LOADERS.config("rank_slice", {}), dataset.val_files,
                                     seq_len=e.seq_len or spec.train.seq_len,
                                     device_batch=e.device_batch or spec.train.device_batch, accum=1,
                                     rank=dist.rank, world=dist.world, bos_id=dataset.bos_id, device=dist.device,
                                     cycle=False)


def _loader_stages(plan: StepPlan, world: int):
    def geometry(step: int) -> dict:
        st = plan.stage(step)
        changes = {"seq_len": st.seq_len, "device_batch": st.device_batch, "accum": st.accumulation(world)}
        if st.max_doc_len is not None:
            changes["max_doc_len"] = st.max_doc_len
        return changes
    return geometry


def accumulation(spec: Spec, world: int) -> int:
    t = spec.train
    return t.tokens_per_step // (world * t.device_batch * t.seq_len)


COMPILE_BACKEND = "inductor"   # tests trace with "eager" (dynamo's graphs, no code generation)


def compile_model(model: torch.nn.Module):
    """The model as one compiled graph, guarded: a graph break is an error (fullgraph), and so is hitting the
    recompile limit, which would otherwise fall back to eager with only a warning."""
    # Runs of a sweep share this process: start each from an empty compile cache, so no run hits the
    # recompile limit because of the models that came before it.
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    torch._dynamo.config.fail_on_recompile_limit_hit = True
    return torch.compile(model, dynamic=False, fullgraph=True, backend=COMPILE_BACKEND)


def compilations() -> int:
    """Graphs dynamo has compiled since the last reset (one per stage and static state, train and eval)."""
    return int(torch._dynamo.utils.counters["stats"]["unique_graphs"])


class Trainer:
    def __init__(self, spec: Spec, dataset: Dataset, dist: Dist, seed: int):
        self.spec, self.dataset, self.dist = spec, dataset, dist
        torch.set_float32_matmul_precision(FP32_MATMUL)
        torch.manual_seed(seed)
        self.model = build_model(spec.model, bos_id=dataset.bos_id, device=dist.device)
        if dist.world > 1:   # every rank starts from rank 0's weights
            for p in self.model.parameters():
                torch_dist.broadcast(p.detach(), 0)
        self.optim: Optimizers = build_optimizers(self.model, spec, world=dist.world, rank=dist.rank)
        self.plan = StepPlan(spec)
        self.plan.add_module_values(self.model)
        self.state = DeviceState(self.plan, dist.device)
        self.current: dict = {}          # the step state the next forward sees
        compile_ = spec.train.compile if spec.train.compile is not None else dist.device.startswith("cuda")
        self.forward = compile_model(self.model) if compile_ else self.model
        device_type = dist.device.split(":")[0]
        self.autocast = (lambda: torch.autocast(device_type, dtype=torch.bfloat16)) \
            if spec.train.autocast == "bfloat16" else contextlib.nullcontext
        self.accum = accumulation(spec, dist.world)
        self.params = list(self.model.parameters())
        # one process: nothing to synchronise; built once (its buffers and hooks), after the optimizers
        self.grad_sync = build(GRAD_SYNC, spec.train.grad_sync, self.params, dist.world) if dist.world > 1 else None
        self.step_fn = self._make_step()

    def begin_step(self, step: int) -> None:
        """What step `step` (and a validation at it) needs: its events happen, its state is set."""
        for event in self.plan.events_at(step):
            event.apply(step, self.model, self.optim)
        self.current = self.state.at(step)

    def _make_step(self) -> Callable[[int, list], torch.Tensor]:
        """The per-step function, with every choice already made."""
        forward, optim, autocast, params = self.forward, self.optim, self.autocast, self.params
        sync = self.grad_sync
        clip = self.spec.train.grad_clip
        # a summed training loss (ce_sum) is reported per token, like every other run's
        summed = self.spec.model.loss.args.get("reduction", "mean") == "sum"

        def step(i: int, batches: list) -> torch.Tensor:
            state, scale, last = self.current, 1.0 / len(batches), len(batches) - 1
            total = None
            for k, (inputs, targets) in enumerate(batches):
                with autocast():
                    loss = forward(inputs, targets, state)
                if sync is not None and k == last:
                    sync.arm()   # this backward's gradients are the step's final ones
                (loss * scale if scale != 1.0 else loss).backward()
                total = loss.detach() if total is None else total + loss.detach()
            if sync is not None:
                sync.finish()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(params, clip)
            optim.set_step(i)
            optim.step(i)
            per = scale / batches[0][1].numel() if summed else scale   # one multiply reports the mean
            return total if per == 1.0 else total * per

        return step

    def warm_up(self) -> None:
        """Untimed steps on random tokens that compile every graph the run will need — the first steps, and
        the steps around each stage boundary, static-value change and event — then the initial state
        (weights, optimizer state, events' effects) is put back."""
        n = self.spec.train.untimed_steps
        if n == 0:
            return
        model_state = copy.deepcopy(self.model.state_dict())
        optim_state = copy.deepcopy(self.optim.state_dicts())
        visits = list(range(n))
        for b in self.plan.boundaries():
            visits += [s for s in (b - 1, b, b + 1) if 0 <= s < self.plan.horizon.total and s not in visits]
        for i in sorted(visits):
            self.begin_step(i)
            stage = self.plan.stage(i)
            tokens = torch.randint(0, self.spec.model.vocab_size, (stage.device_batch, stage.seq_len),
                                   device=self.dist.device)
            self.step_fn(i, [(tokens.to(torch.int32), tokens.to(torch.int64))] * stage.accumulation(self.dist.world))
        self.begin_step(0)
        self.evaluate(max_batches=1)
        for event in reversed(self.plan.events):
            event.reset(self.model, self.optim)
        self.model.load_state_dict(model_state)
        self.optim.load_state_dicts(optim_state)
        self.optim.zero_grad()
        self.current = self.state.at(0)
        synchronize(self.dist.device)

    @torch.no_grad()
    def evaluate(self, max_batches: int | None = None) -> float:
        """Mean val loss over eval.tokens, with the current step's state (its windows, its events)."""
        spec, dist = self.spec, self.dist
        e = spec.eval
        per_batch = dist.world * (e.device_batch or spec.train.device_batch) * (e.seq_len or spec.train.seq_len)
        n = e.tokens // per_batch if max_batches is None else max_batches
        self.model.eval()
        total = torch.zeros((), device=dist.device)
        loader = make_loader(spec, self.dataset, dist, split="val")
        for _ in range(n):
            (inputs, targets), = next(loader)
            with self.autocast():
                total += self.forward(inputs, targets, self.current).float()
        self.model.train()
        return dist.all_reduce_avg(total / n).item()

    def run(self, result: RunResult, on_progress: Callable[[dict], None] | None = None,
            log_every: int = LOG_EVERY) -> None:
        """Trains spec.train.steps steps, filling `result` as it goes (so an interruption keeps what was done).

        Progress goes to `on_progress` as dicts: {"step", "train_ms"} every `log_every` steps, with
        "train_loss" or "val_loss" when one is known. Reading the train loss never syncs the device (a sync
        drains the launch queue): at a log step it is copied to pinned host memory without blocking and a
        CUDA event is recorded after the copy; it is reported at a later log point once the event has
        completed, so on a GPU a train loss arrives up to `log_every` steps after its step (it carries its
        own step and clock), on a CPU at once. A NaN train loss raises Diverged when it is read, so up to
        `log_every` steps late. Validation syncs anyway (its time is taken off the clock) and first reports
        every train loss still pending.
        """
        from collections import deque   # here, not at the top: this method is all the logging contract touches
        spec, dev = self.spec, self.dist.device
        steps, every = self.plan.horizon.total, spec.eval.every
        cuda = dev.startswith("cuda")
        self.warm_up()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        loader = make_loader(spec, self.dataset, self.dist, split="train", plan=self.plan)
        train_ms, last_val, last_loss = 0.0, None, None
        pending: deque = deque()   # (step, train_ms, host copy, event) in step order

        def report_losses(wait: bool) -> None:
            nonlocal last_loss
            while pending and (wait or pending[0][3] is None or pending[0][3].query()):
                at, ms, host, _ = pending.popleft()
                last_loss = float(host)
                if not math.isfinite(last_loss):
                    raise Diverged(f"train loss is {last_loss} at step {at}")
                if on_progress:
                    on_progress({"step": at, "train_loss": last_loss, "train_ms": ms})

        # a stage boundary or a window change syncs too (a few per run): the clock is then known per phase
        marks = set(self.plan.clock_marks())
        mark_step, mark_ms = 0, 0.0

        def close_segment(step: int) -> None:
            nonlocal mark_step, mark_ms
            if step > mark_step:   # (the clock read at step 0 belongs to the first segment)
                result.segments.append({"start": mark_step, "end": step,
                                        "ms_per_step": (train_ms - mark_ms) / (step - mark_step)})
                mark_step, mark_ms = step, train_ms

        synchronize(dev)
        t0 = time.perf_counter()
        for step in range(steps + 1):
            last = step == steps
            self.begin_step(step)
            if step in marks and not (last or step % every == 0):
                synchronize(dev)
                train_ms += 1000 * (time.perf_counter() - t0)
                t0 = time.perf_counter()
                close_segment(step)
            if last or step % every == 0:
                synchronize(dev)
                train_ms += 1000 * (time.perf_counter() - t0)
                close_segment(step)
                report_losses(wait=True)   # every copy is complete after the sync
                last_val = self.evaluate()
                result.curve.append(CurvePoint(step, train_ms, last_loss, last_val))
                result.train_time_ms, result.steps_done = train_ms, step
                if on_progress:
                    on_progress({"step": step, "val_loss": last_val, "train_ms": train_ms})
                if not math.isfinite(last_val):
                    raise Diverged(f"val loss is {last_val} at step {step}")
                synchronize(dev)
                t0 = time.perf_counter()
            if last:
                break
            loss = self.step_fn(step, next(loader))
            if (step + 1) % log_every == 0:
                elapsed = train_ms + 1000 * (time.perf_counter() - t0)
                host = torch.empty((), dtype=torch.float32, pin_memory=cuda)
                host.copy_(loss.detach().float(), non_blocking=cuda)
                event = None
                if cuda:
                    event = torch.cuda.Event()
                    event.record()
                pending.append((step + 1, elapsed, host, event))
                report_losses(wait=False)
                if on_progress:
                    on_progress({"step": step + 1, "train_ms": elapsed})
        result.final_val_loss = last_val
        if self.forward is not self.model:
            result.compilations = compilations()
        if cuda:
            result.peak_memory_mib = torch.cuda.max_memory_allocated() / 2**20
