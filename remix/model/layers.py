"""The base's building blocks, each registered under the name the spec uses.

Ingredients register their own alternatives (rmsnorm, rope, relu2, soft-caps) in their modules.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from remix.components import ACTIVATIONS, LOGITS, NORMS, POSITIONS


# --- norms: build(cfg, dim, bias) -> nn.Module ----------------------------------------------------

@dataclass(frozen=True)
class LayerNormConfig:
    eps: "float" = 1e-5


@NORMS.register("layernorm", config=LayerNormConfig)
def layernorm(cfg: LayerNormConfig, dim: int, bias: bool) -> nn.Module:
    return nn.LayerNorm(dim, eps=cfg.eps, bias=bias)


# --- activations: build(cfg) -> callable ----------------------------------------------------------

@ACTIVATIONS.register("gelu_tanh")
def gelu_tanh(cfg) -> nn.Module:
    return nn.GELU(approximate="tanh")


# --- logit transforms: build(cfg, model_spec) -> callable on fp32 logits --------------------------

@LOGITS.register("plain")
def plain_logits(cfg, model) -> nn.Module:
    return nn.Identity()


# --- positions: a module with embed(x) (added to the token embedding) and rotate(q, k) -------------

class Positions(nn.Module):
    """Position information: added to the embedding, or applied to q and k in every attention layer."""

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def rotate(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return q, k


class LearnedPositions(Positions):
    """GPT-2's absolute position table, added to the token embedding."""

    def __init__(self, max_len: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(max_len, dim))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight[: x.size(1)]


@POSITIONS.register("learned")
def learned(cfg, model) -> Positions:
    return LearnedPositions(model.max_len, model.d_model)


@POSITIONS.register("none")
def no_positions(cfg, model) -> Positions:
    """Causal attention alone: order is implicit in what each token can see."""
    return Positions()


def rms_norm(x: torch.Tensor) -> torch.Tensor:
    """Parameter-free RMSNorm over the last dim (eps: PyTorch's default for the dtype)."""
    return F.rms_norm(x, (x.size(-1),))
