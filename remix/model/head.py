"""The model's end: the LM head (model.head), the logit transform (model.logits), the loss (model.loss).

The loss receives the final hidden state, the head and the transform rather than logits, so a fused
kernel can compute head, soft-cap and cross-entropy in one pass; the base computes them one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from remix.model.roles import declare
from remix.slots import HEADS, LOGITS, LOSSES


def padded_vocab(model) -> int:
    m = model.vocab_multiple
    return (model.vocab_size + m - 1) // m * m


class LinearHead(nn.Module):
    """hidden (…, d) -> logits (…, padded vocab); with tied embeddings the table is the weight."""

    def __init__(self, model, embed: nn.Embedding):
        super().__init__()
        if model.tie_embeddings:
            self.weight = embed.weight   # owned (and given its role) by the embedding
        else:
            self.weight = nn.Parameter(torch.empty(padded_vocab(model), model.d_model))
            declare(self, weight="head")
        self.tied = model.tie_embeddings

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight.type_as(x))

    def init_weights(self, init) -> None:
        if not self.tied:
            init(self.weight, "head")


@HEADS.register("linear")
def linear_head(cfg, model, embed) -> nn.Module:
    return LinearHead(model, embed)


@LOGITS.register("plain")
def plain_logits(cfg, model) -> nn.Module:
    return nn.Identity()


@dataclass(frozen=True)
class CrossEntropyConfig:
    reduction: "str" = "mean"          # how training reduces over tokens: mean | sum (evaluation: mean)

    def __post_init__(self):
        if self.reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be mean or sum, got {self.reduction!r}")


class CrossEntropy(nn.Module):
    def __init__(self, cfg: CrossEntropyConfig):
        super().__init__()
        self.reduction = cfg.reduction

    def forward(self, x, head, transform, targets, ctx) -> torch.Tensor:
        logits = transform(head(x).float())
        reduction = self.reduction if self.training else "mean"
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1,
                               reduction=reduction)


@LOSSES.register("cross_entropy", config=CrossEntropyConfig)
def cross_entropy(cfg: CrossEntropyConfig, model) -> nn.Module:
    return CrossEntropy(cfg)
