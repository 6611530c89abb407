"""Norms: build(cfg, dim, bias) -> nn.Module. The base's LayerNorm; ingredients register others."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from remix.model.roles import declare
from remix.slots import NORMS


@dataclass(frozen=True)
class LayerNormConfig:
    eps: "float" = 1e-5


@NORMS.register("layernorm", config=LayerNormConfig)
def layernorm(cfg: LayerNormConfig, dim: int, bias: bool) -> nn.Module:
    return declare(nn.LayerNorm(dim, eps=cfg.eps, bias=bias), weight="vector.norm", bias="vector.norm")


def rms_norm(x: torch.Tensor) -> torch.Tensor:
    """Parameter-free RMSNorm over the last dim (eps: PyTorch's default for the dtype)."""
    return F.rms_norm(x, (x.size(-1),))
