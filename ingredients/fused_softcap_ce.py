"""Fused soft-capped cross-entropy: the soft-cap, log-sum-exp and loss of each row in one Triton kernel,
and its gradient in another, in fp32 inside, without an fp32 copy of the logits.

What (model.loss = "fused_softcap_ce"; what the plain loss computes: the head's logits, the soft-cap of
model.logits applied in fp32, cross-entropy over the padded vocabulary, targets −1 ignored, training
reduction mean or sum, evaluation mean): per row, forward lse = log Σ exp(u), loss = lse − u_target with
u the soft-capped logit; backward dz = g·(softmax(u) − onehot)·u′(z), written in the logits' dtype. The
soft-cap forms are logit_softcap's (tanh cap·tanh(z/cap); sigmoid cap·σ(z/T); sigmoid_width
cap·σ(z/(T·√d))) or none; the form and constants are read from model.logits when the model is built.
Kernel (attribute `kernel`, for the run's record): the Triton kernels (remix.kernels.ce) on a CUDA GPU
with triton importable; the plain torch path (F.cross_entropy on the fp32 soft-capped logits, the
reference CI runs) on a CPU, without triton (with a warning), or with a logit transform it does not know.
Where from: #60 (01/16/26, 1.765 min, 2026-01-16_FusedSoftcappedEntropy: two Triton kernels, fp32
inside, one program per row); #67 (01/31/26, 1.540 min: the FP8 head's quantisation moved into it), #75
(02/23/26, 1.453 min: strength-reduced, multi-token targets preloaded), #79 (04/04/26, 1.411 min: one CUDA
kernel computing the gradient in the forward, fast-math, bf16 σ — not the same math, not reproduced).
The records' kernels also summed multi-token-prediction terms (#53); remix's kernels compute one target, so
multi_token_prediction, bf16_ce and prefix_token_loss (losses they do not compute) conflict with it.
A library with the same math was surveyed (Liger-Kernel's cross-entropy has a tanh soft-cap; the
sigmoid forms need an affine rewrite and a bias, and its kernels compute gradients in the forward):
our own kernels are smaller than that adaptation.
Requires: nothing. Math: the same (fp32 throughout, as the plain path after `.float()`; the order of the
reductions differs).
"""

import math
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from remix.ingredient import Provenance, ingredient
from remix.kernels import triton_available
from remix.model.head import CrossEntropyConfig
from remix.slots import LOSSES
from remix.spec import C, SpecError

R60 = Provenance("60", "01/16/26", "1.765 minutes", "2026-01-16_FusedSoftcappedEntropy", "fused soft-capped CE, Triton")
R67 = Provenance("67", "01/31/26", "1.540 minutes", "2026-01-24_ImprovedLMHead", "FP8 head fused into the CE op")
R75 = Provenance("75", "02/23/26", "1.453 minutes", "2026-02-23_CrossEntropyKernel", "faster CE kernel")
R79 = Provenance("79", "04/04/26", "1.411 minutes", "2026-04-04_FuseCEFwdAndBwd", "CE forward and backward in one CUDA kernel")

IGNORE = -1

# Losses the kernels do not compute: a bf16 loss, multi-token targets, the prefix-token term.
PLAIN_LOSS_ONLY = ("bf16_ce", "multi_token_prediction", "prefix_token_loss")


@dataclass(frozen=True)
class FusedCEConfig:
    reduction: "str" = "mean"          # how training reduces over tokens: mean | sum (evaluation: mean)

    def __post_init__(self):
        if self.reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be mean or sum, got {self.reduction!r}")


def softcap_form(model) -> tuple[int, float, float] | None:
    """(form, A, C) of model.logits for the kernel (0 none, 1 tanh, 2 sigmoid), or None if unknown."""
    c = model.logits
    if c.name == "plain":
        return (0, 1.0, 1.0)
    if c.name != "softcap":
        return None
    form, cap, t = c.args.get("form", "sigmoid_width"), float(c.args.get("cap", 30.0)), float(c.args.get("temperature", 7.5))
    if form == "tanh":
        return (1, cap, cap)
    if form == "sigmoid":
        return (2, cap, t)
    if form == "sigmoid_width":
        return (2, cap, t * math.sqrt(model.d_model))
    return None


class FusedSoftcapCE(nn.Module):
    def __init__(self, cfg: FusedCEConfig, model):
        super().__init__()
        self.reduction = cfg.reduction
        self.form = softcap_form(model)
        self.op = None
        self.kernel = "torch reference (F.cross_entropy on fp32 soft-capped logits)"
        if torch.get_default_device().type == "cuda":
            if self.form is None:
                warnings.warn(f"fused_softcap_ce: no kernel for model.logits = {model.logits.name!r}; plain torch path")
            elif not triton_available():
                warnings.warn("fused_softcap_ce: triton is not installed; plain torch path")
            else:
                from remix.kernels.ce import softcap_ce
                self.op = softcap_ce
                self.kernel = "triton fused soft-capped cross-entropy"

    def forward(self, x, head, transform, targets, ctx) -> torch.Tensor:
        logits = head(x)
        reduction = self.reduction if self.training else "mean"
        t = targets.reshape(-1)
        if self.op is not None and logits.is_cuda:
            losses, _ = self.op(logits.reshape(-1, logits.size(-1)), t, *self.form, IGNORE)
            total = losses.sum()
            return total if reduction == "sum" else total / (t != IGNORE).sum()
        z = transform(logits.float())
        return F.cross_entropy(z.view(-1, z.size(-1)), t, ignore_index=IGNORE, reduction=reduction)


@LOSSES.register("fused_softcap_ce", config=FusedCEConfig)
def fused_softcap_ce(cfg: FusedCEConfig, model) -> nn.Module:
    return FusedSoftcapCE(cfg, model)


@ingredient(name="fused_softcap_ce", summary="soft-capped cross-entropy in fused Triton kernels (same math)",
            category="systems", provenance=(R60, R67, R75, R79), options=FusedCEConfig, math_equivalent=True,
            conflicts=PLAIN_LOSS_ONLY, doc=__doc__)
def INGREDIENT(spec, reduction):
    loss = spec.model.loss
    plain = CrossEntropyConfig()
    other = {k: v for k, v in loss.args.items() if k != "reduction" and v != getattr(plain, k, None)}
    if loss.name != "cross_entropy" or other:
        raise SpecError("model.loss", f"fused_softcap_ce computes the plain soft-capped cross-entropy (fp32, "
                                      f"one target); the loss here is {loss.name!r}"
                                      + (f" with {other}" if other else "") + ": leave fused_softcap_ce out")
    if "reduction" in loss.args:   # keep a summed loss (fp8_head's, ce_sum's)
        reduction = loss.args["reduction"]
    return spec.set("model.loss", C("fused_softcap_ce", reduction=reduction))
