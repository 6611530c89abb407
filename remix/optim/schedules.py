"""Schedules: build(cfg, total_steps) -> (step -> multiplier or value), evaluated on the host each step."""

from __future__ import annotations

import math
from dataclasses import dataclass

from remix.registry import steps
from remix.slots import LR_SCHEDULES, MOMENTUM_SCHEDULES


@dataclass(frozen=True)
class CosineConfig:
    warmup: "int" = steps(700)
    final: "float" = 0.0          # the multiplier reached at the last step

    def __post_init__(self):
        if self.warmup < 0 or not 0 <= self.final <= 1:
            raise ValueError(f"expected warmup ≥ 0 and 0 ≤ final ≤ 1, got {self.warmup} and {self.final}")


@LR_SCHEDULES.register("cosine", config=CosineConfig)
def cosine(cfg: CosineConfig, total_steps: int):
    """llm.c: linear warm-up to the peak, then a cosine to `final` × peak."""
    def multiplier(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        progress = (step - cfg.warmup) / max(1, total_steps - cfg.warmup)
        return cfg.final + (1 - cfg.final) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return multiplier


@LR_SCHEDULES.register("constant")
def constant_lr(cfg, total_steps: int):
    return lambda step: 1.0


@MOMENTUM_SCHEDULES.register("constant")
def constant_momentum(cfg, total_steps: int):
    """Leaves each group's momentum at the value its optimizer group sets."""
    return None
