"""Adam and AdamW from torch (fused on CUDA), registered for optimizer groups."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from remix.slots import OPTIMIZERS


@dataclass(frozen=True)
class AdamConfig:
    betas: "tuple[float, float]" = (0.9, 0.999)
    eps: "float" = 1e-8
    weight_decay: "float" = 0.0

    def __post_init__(self):
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if self.eps <= 0 or self.weight_decay < 0:
            raise ValueError(f"expected eps > 0 and weight_decay ≥ 0, got {self.eps} and {self.weight_decay}")


def _fused(groups: list[dict]) -> bool:
    return all(p.is_cuda for g in groups for p in g["params"])


@OPTIMIZERS.register("adamw", config=AdamConfig)
def adamw(groups: list[dict], *, world: int, rank: int) -> torch.optim.Optimizer:
    """Decoupled weight decay (lr · wd per step), as torch.optim.AdamW."""
    return torch.optim.AdamW(groups, fused=_fused(groups))


@OPTIMIZERS.register("adam", config=AdamConfig)
def adam(groups: list[dict], *, world: int, rank: int) -> torch.optim.Optimizer:
    """L2-coupled weight decay, as torch.optim.Adam (the baselines use it with weight_decay 0)."""
    return torch.optim.Adam(groups, fused=_fused(groups))
