"""Training that changes as it goes: stages, per-step values and events, decided before step 0.

Three kinds of change, each kept where torch.compile can live with it:
  * a stage (schedule.stages) changes shapes: tokens per step, row length, rows per device, the longest
    document. Each stage is compiled once, during the untimed warm-up, and the loader takes the new
    geometry at the boundary without losing its place in the data.
  * step values (schedule.state.<name>) change numbers the model reads every step (an attention window,
    a loss weight). A dynamic value reaches the compiled step as a device tensor, refilled only when it
    changes; a static one (a window a kernel needs as an int) is a Python number, so each distinct value is
    one compiled graph, like a stage.
  * events (schedule.events.<name>) happen once at a step: untie the head, rescale RoPE (YaRN), freeze
    some parameters for a while. They act on the model and the optimizers, outside the compiled graph.

`StepPlan` builds all of it from the spec; the trainer asks it what each step needs.
"""

from __future__ import annotations

import functools

from dataclasses import dataclass, replace
from typing import Any

import torch

from remix.slots import EVENTS, STAGES, STEP_VALUES, build


@dataclass(frozen=True)
class Stage:
    """A stretch of steps with one geometry; `start` is its first step."""
    start: int
    tokens_per_step: int
    seq_len: int
    device_batch: int
    max_doc_len: int | None = None    # the BOS-aligned loader's document cut (None: the loader's own)

    def accumulation(self, world: int) -> int:
        return self.tokens_per_step // (world * self.device_batch * self.seq_len)


@dataclass(frozen=True)
class Horizon:
    """The run's length: `steps` scheduled (what fractions of the run refer to) plus extension steps."""
    steps: int
    extension: int = 0

    @property
    def total(self) -> int:
        return self.steps + self.extension


class StepValues:
    """Numbers the model reads at a step (ctx.state). Subclasses return {key: number or tuple}."""
    static = False   # True: the values enter the graph as Python numbers (one compiled graph per value)

    def __call__(self, step: int) -> dict[str, Any]:
        raise NotImplementedError


class Event:
    """A one-off change. `steps` are the steps before which it happens (the change applies to that step's
    forward, and to a validation at that step)."""
    steps: tuple[int, ...] = ()

    def apply(self, step: int, model, optimizers) -> None:
        raise NotImplementedError

    def reset(self, model, optimizers) -> None:
        """Undo what apply did to things the warm-up's state restore does not cover (buffers, flags)."""


@STAGES.register("single")
def single(cfg, spec, horizon: Horizon) -> list[Stage]:
    """One stage: the train section's geometry for the whole run."""
    t = spec.train
    return [Stage(0, t.tokens_per_step, t.seq_len, t.device_batch)]


class ModuleValues(StepValues):
    """Step values a model module asks for itself (a loss whose weights follow the run: `step_state`)."""

    def __init__(self, module, steps: int):
        self.module, self.steps = module, steps

    def __call__(self, step: int) -> dict[str, Any]:
        return {k: (tuple(float(x) for x in v) if isinstance(v, (list, tuple)) else float(v))
                for k, v in self.module.step_state(step, self.steps).items()}


class StepPlan:
    def add_module_values(self, model) -> None:
        """Adds the values of every model module that has `step_state(step, total_steps)`."""
        for module in model.modules():
            if callable(getattr(module, "step_state", None)):
                self.values.append(ModuleValues(module, self.horizon.steps))
        self.__dict__.pop("_changes", None)   # computed from the values: again, with these

    def __init__(self, spec):
        t = spec.train
        self.horizon = Horizon(t.steps, t.extension_steps)
        s = spec.schedule
        self.stages = sorted(build(STAGES, s.stages, spec, self.horizon), key=lambda st: st.start)
        if not self.stages or self.stages[0].start != 0:
            raise ValueError("schedule.stages: the first stage must start at step 0")
        self.values = [build(STEP_VALUES, c, spec, self.horizon) for c in s.state.values()]
        self.events = [build(EVENTS, c, spec, self.horizon) for c in s.events.values()]

    def stage(self, step: int) -> Stage:
        current = self.stages[0]
        for st in self.stages:
            if st.start <= step:
                current = st
        return current

    def state_values(self, step: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """(dynamic, static) values at `step`."""
        dynamic, static = {}, {}
        for v in self.values:
            (static if v.static else dynamic).update(v(step))
        return dynamic, static

    def events_at(self, step: int) -> list[Event]:
        return [e for e in self.events if step in e.steps]

    @functools.cached_property
    def _changes(self) -> tuple[list[int], list[int]]:
        """(steps where the static values change, steps where the dynamic ones do), in one pass."""
        static_at, dynamic_at = [], []
        previous = None
        for step in range(self.horizon.total + 1):
            values = self.state_values(step)
            if previous is not None and values[0] != previous[0]:
                dynamic_at.append(step)
            if previous is None or values[1] != previous[1]:
                static_at.append(step)
            previous = values
        return static_at, dynamic_at

    def boundaries(self) -> list[int]:
        """Steps where a stage starts, a static value changes or an event happens: each needs its graph
        compiled (and its event rehearsed) in the warm-up."""
        steps = {st.start for st in self.stages} | set(self._changes[0])
        for e in self.events:
            steps.update(e.steps)
        return sorted(s for s in steps if s < self.horizon.total)

    def clock_marks(self, most: int = 64) -> list[int]:
        """Where the trainer reads its clock besides validations (a sync each): the boundaries, and the steps
        where a dynamic value (a window) changes, unless it changes too often to be a phase of the run."""
        changes = [s for s in self._changes[1] if s < self.horizon.total]
        return sorted(set(self.boundaries()) | (set(changes) if len(changes) <= most else set()))

    def tokens(self) -> list[dict]:
        """Tokens trained per stage (what a record keeps)."""
        out = []
        for i, st in enumerate(self.stages):
            end = self.stages[i + 1].start if i + 1 < len(self.stages) else self.horizon.total
            if end > st.start:
                out.append({"start": st.start, "steps": end - st.start, "tokens_per_step": st.tokens_per_step,
                            "seq_len": st.seq_len, "tokens": (end - st.start) * st.tokens_per_step})
        return out


class DeviceState:
    """The dynamic values as device tensors, refilled in place when a value changes (no recompile, no sync)."""

    def __init__(self, plan: StepPlan, device):
        self.plan, self.device = plan, device
        self.tensors: dict[str, torch.Tensor] = {}
        self.current: dict[str, Any] = {}
        self.static: dict[str, Any] = {}

    def at(self, step: int) -> dict[str, Any]:
        dynamic, static = self.plan.state_values(step)
        for key, value in dynamic.items():
            if key not in self.tensors:
                dtype = torch.int32 if _is_int(value) else torch.float32
                self.tensors[key] = torch.tensor(value, dtype=dtype, device=self.device)
            elif self.current.get(key) != value:
                self._refill(self.tensors[key], value)
            self.current[key] = value
        self.static = static
        return {**self.tensors, **static}

    @staticmethod
    def _refill(t: torch.Tensor, value) -> None:
        """In stream order and without a host sync: a scalar by a fill kernel, a vector from pinned memory."""
        if t.ndim == 0:
            t.fill_(value)
            return
        host = torch.tensor(value, dtype=t.dtype)
        t.copy_(host.pin_memory() if t.is_cuda else host, non_blocking=True)


def _is_int(value) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_is_int(v) for v in value)
    return isinstance(value, int) and not isinstance(value, bool)


def scaled(stage: Stage, **changes) -> Stage:
    return replace(stage, **changes)


def stage_starts(fractions, steps: int, rule: str) -> list[int]:
    """First steps of stages 1, 2, … from the fractions of the scheduled steps where they begin.
    'index': stage k holds the steps with ⌊k_stages·s/N⌋ = k, i.e. it starts at ⌈f·N⌉ (records #29–#64);
    'round': it starts at round(f·N) (the TrainingStage lists of #65 on)."""
    import math
    if rule == "index":
        return [math.ceil(f * steps - 1e-9) for f in fractions]
    if rule == "round":
        return [round(f * steps) for f in fractions]
    raise ValueError(f"unknown boundary rule {rule!r}: index or round")


@dataclass(frozen=True)
class StagedConfig:
    """Stages that begin at fractions of the scheduled steps; the last runs through the extension steps.
    Per stage, relative to the train section: the batch (tokens per step) and the row length, and the
    BOS-aligned loader's document cut (0: the loader's own). An empty tuple leaves that quantity alone."""
    starts: "tuple[float, ...]" = (1 / 3, 2 / 3)
    boundary: "str" = "index"
    batch: "tuple[float, ...]" = ()
    rows: "tuple[float, ...]" = ()
    max_doc_len: "tuple[int, ...]" = ()

    def __post_init__(self):
        n = len(self.starts) + 1
        for name in ("batch", "rows", "max_doc_len"):
            value = getattr(self, name)
            if value and len(value) != n:
                raise ValueError(f"{name} needs one value per stage ({n}), got {len(value)}")
        if self.boundary not in ("index", "round"):
            raise ValueError(f"boundary must be index or round, got {self.boundary!r}")


@STAGES.register("staged", config=StagedConfig)
def staged(cfg: StagedConfig, spec, horizon: Horizon) -> list[Stage]:
    t = spec.train
    starts = [0, *stage_starts(cfg.starts, horizon.steps, cfg.boundary)]
    stages = []
    for k, start in enumerate(starts):
        seq = max(1, round(t.seq_len * cfg.rows[k])) if cfg.rows else t.seq_len
        rows_per_step = t.tokens_per_step * (cfg.batch[k] if cfg.batch else 1) / seq
        rows = max(t.device_batch, round(rows_per_step / t.device_batch) * t.device_batch)
        doc = cfg.max_doc_len[k] if cfg.max_doc_len and cfg.max_doc_len[k] else None
        stages.append(Stage(start, rows * seq, seq, t.device_batch, doc))
    return stages
