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
        return F.linear(x, self.weight.to(x.dtype))

    def init_weights(self, init) -> None:
        if not self.tied:
            init(self.weight, "head")


@HEADS.register("linear")
def linear_head(cfg, model, embed) -> nn.Module:
    return LinearHead(model, embed)


@LOGITS.register("plain")
def plain_logits(cfg, model) -> nn.Module:
    return nn.Identity()


LOSS_PRECISIONS = ("float32", "bfloat16")
MTP_SCHEDULES = ("fixed", "thirds")


@dataclass(frozen=True)
class CrossEntropyConfig:
    reduction: "str" = "mean"          # how training reduces over tokens: mean | sum (evaluation: mean)
    precision: "str" = "float32"       # float32: the head's output is cast to fp32 before the transform | bfloat16
    mtp_weights: "tuple[float, ...]" = (1.0,)   # weight of predicting the token 1, 2, … positions ahead
    mtp_schedule: "str" = "fixed"      # fixed: mtp_weights all run | thirds: #53's decay (see mtp_weights_at)

    def __post_init__(self):
        if self.reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be mean or sum, got {self.reduction!r}")
        if self.precision not in LOSS_PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(LOSS_PRECISIONS)}, got {self.precision!r}")
        if not self.mtp_weights or any(w < 0 for w in self.mtp_weights):
            raise ValueError(f"mtp_weights must be one or more weights ≥ 0, got {self.mtp_weights!r}")
        if self.mtp_schedule not in MTP_SCHEDULES:
            raise ValueError(f"mtp_schedule must be one of {', '.join(MTP_SCHEDULES)}, got {self.mtp_schedule!r}")


def mtp_weights_at(cfg: CrossEntropyConfig, step: int, total_steps: int) -> list[float]:
    """The multi-token weights of a step (always len(cfg.mtp_weights) of them; dropped ones are 0).

    fixed: cfg.mtp_weights. thirds (#53, #60; #61+ write the same as stages): with x = step/total_steps and
    w = cfg.mtp_weights = (w0, w1, w2, …), the last weight falls linearly from w2 to 0 over the first third,
    the one before it from w1 to 0 over the second third, and the last third trains on w0 alone:
    x < 1/3: (w0, w1, w2·(1−3x)); 1/3 ≤ x < 2/3: (w0, w1·(2−3x), 0); x ≥ 2/3: (w0, 0, 0).
    (With more than three weights, each later weight decays over its own equal share of the run.)"""
    w = [float(v) for v in cfg.mtp_weights]
    if cfg.mtp_schedule == "fixed" or len(w) == 1:
        return w
    n = len(w) - 1                  # the decaying weights, last first, one per 1/(n+1) of the run
    x = min(max(step / total_steps, 0.0), 1.0) * (n + 1)
    out = [w[0]]
    for k in range(1, len(w)):
        end = n + 1 - k             # weight k has reached 0 at x = end, after falling over [end−1, end)
        f = min(max(end - x, 0.0), 1.0)
        out.append(w[k] * f)
    return out


class CrossEntropy(nn.Module):
    """Next-token cross-entropy on the transformed logits, and the auxiliary terms of the speedrun.

    Training: Σ_k w_k · CE(logits_t, target_{t+k}) over positions (k = 0 is the next token), plus what a
    subclass adds (extra_terms), reduced by `reduction` (mean: divided by the number of next-token targets).
    Targets past the end of a row, and targets of −1, add nothing; no document boundary is respected
    (records #53/#60). With one weight of 1 and no extras this is F.cross_entropy, exactly as before.
    Evaluation: mean next-token CE, the logits cast to fp32.

    Step state (ctx.state, set by the trainer each step, device tensors): "mtp_weights", float32 of shape
    (len(mtp_weights),), replaces the config's weights when present."""

    def __init__(self, cfg: CrossEntropyConfig):
        super().__init__()
        self.cfg = cfg
        self.reduction = cfg.reduction
        self.fp32 = cfg.precision == "float32"
        self.weights = tuple(float(w) for w in cfg.mtp_weights)
        self.plain = self.weights == (1.0,) and not self.has_extras()

    def has_extras(self) -> bool:
        return False

    def extra_terms(self, targets, ctx) -> list:
        """(weight, targets) pairs added to the training loss: weight a float or a 0-dim tensor."""
        return []

    def step_state(self, step: int, total_steps: int) -> dict[str, list[float]]:
        """What this loss wants in ctx.state at `step` (the trainer makes each a float32 device tensor)."""
        if self.cfg.mtp_schedule == "fixed":
            return {}
        return {"mtp_weights": mtp_weights_at(self.cfg, step, total_steps)}

    def forward(self, x, head, transform, targets, ctx) -> torch.Tensor:
        logits = transform(head(x).float()) if self.fp32 else transform(head(x))
        if not self.training:
            return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        if self.plain:
            return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1,
                                   reduction=self.reduction)
        return self.weighted(logits, targets, ctx)

    def weighted(self, logits, targets, ctx) -> torch.Tensor:
        lse = torch.logsumexp(logits, dim=-1)          # one per position, shared by every term
        state_weights = ctx.state["mtp_weights"] if "mtp_weights" in ctx.state else None
        terms = []
        for k, w in enumerate(self.weights):
            if state_weights is None and w == 0:
                continue
            ahead = targets[:, k:]
            if k:
                ahead = torch.cat([ahead, ahead.new_full((targets.size(0), k), -1)], dim=1)
            terms.append((w if state_weights is None else state_weights[k], ahead))
        terms += self.extra_terms(targets, ctx)
        total = sum(w * target_nll(logits, lse, t) for w, t in terms)
        if self.reduction == "mean":
            total = total / (targets >= 0).sum()
        return total


def target_nll(logits, lse, targets) -> torch.Tensor:
    """Σ over positions with a target ≥ 0 of logsumexp(ℓ) − ℓ[target], summed in fp32."""
    picked = logits.gather(-1, targets.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    return ((lse - picked).float() * (targets >= 0)).sum()


@LOSSES.register("cross_entropy", config=CrossEntropyConfig)
def cross_entropy(cfg: CrossEntropyConfig, model) -> nn.Module:
    return CrossEntropy(cfg)
