"""Positions: a module with embed(x) (added to the token embedding) and rotate(q, k) (applied in
every attention layer). The base's learned table, and none; ingredients register others (RoPE)."""

from __future__ import annotations

import torch
from torch import nn

from remix.model.roles import declare
from remix.slots import POSITIONS


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
        declare(self, weight="embed.position")

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight[: x.size(1)]


@POSITIONS.register("learned")
def learned(cfg, model) -> Positions:
    return LearnedPositions(model.max_len, model.d_model)


@POSITIONS.register("none")
def no_positions(cfg, model) -> Positions:
    """Causal attention alone: order is implicit in what each token can see."""
    return Positions()
