"""Mimetic V/O init: the value and output projections start near +√β·I and −√β·I.

What: in every attention layer W_V = √β·I + N(0, σ²) and W_O = −√β·I + N(0, σ²) (noise on every
entry; I the identity, which is per-head identity blocks when heads × head_dim = d; a rectangular
identity otherwise), β = 0.05 (√β ≈ 0.2236), σ = 0.01, so V·O ≈ −β·I at the start; W_Q and W_K
U(±√3·qk_gain/√d) with qk_gain 1 (#53's U(±1/16)). (Trockman & Kolter 2023, "mimetic" init.)
Works with either QKV layout (stacked or GPT-2's linear). The record's own default was β = 0.1; it
used 0.05.
Where from: #64 (01/30/26, 1.630 min, 2026-01-30_MimeticValueOutput, log runs/0f262f64…). No later
record kept it (#65 … #89 lack it; #67 made O U(±1/32) instead: nonzero_attn_out_init).
Requires: nothing. Math: changes it (init).
"""

import math
from dataclasses import dataclass

import torch
from torch import nn

from remix.ingredient import Provenance, ingredient
from remix.slots import INITS
from remix.spec import C

R64 = Provenance("64", "01/30/26", "1.630 minutes", "2026-01-30_MimeticValueOutput", "V ≈ √0.05·I, O ≈ −√0.05·I")


@dataclass(frozen=True)
class MimeticConfig:
    beta: "float" = 0.05
    noise_std: "float" = 0.01
    qk_gain: "float" = 1.0

    def __post_init__(self):
        if self.beta < 0 or self.noise_std < 0 or self.qk_gain < 0:
            raise ValueError(f"expected beta, noise_std, qk_gain ≥ 0; got {self.beta}, {self.noise_std}, {self.qk_gain}")


def _near_identity(w: torch.Tensor, scale: float, std: float) -> None:
    nn.init.normal_(w, 0.0, std)
    w.add_(scale * torch.eye(*w.shape, dtype=w.dtype, device=w.device))


@INITS.register("mimetic_qkv", config=MimeticConfig)
def mimetic_qkv(cfg: MimeticConfig, w: torch.Tensor, model) -> None:
    """w: (3, inner, d) or (3·inner, d); rows q, k, v."""
    q, k, v = w.view(3, -1, w.size(-1)).unbind(0)
    bound = math.sqrt(3) * cfg.qk_gain / math.sqrt(w.size(-1))
    nn.init.uniform_(q, -bound, bound)
    nn.init.uniform_(k, -bound, bound)
    _near_identity(v, math.sqrt(cfg.beta), cfg.noise_std)


@INITS.register("mimetic_out", config=MimeticConfig)
def mimetic_out(cfg: MimeticConfig, w: torch.Tensor, model) -> None:
    _near_identity(w, -math.sqrt(cfg.beta), cfg.noise_std)


@ingredient(name="mimetic_value_output_init", summary="W_V ≈ √β·I, W_O ≈ −√β·I (β 0.05) at the start",
            category="architecture", provenance=R64, options=MimeticConfig,
            refines=("zero_init_projections", "stacked_qkv", "default_linear_init"), doc=__doc__)
def INGREDIENT(spec, beta, noise_std, qk_gain):
    args = dict(beta=beta, noise_std=noise_std, qk_gain=qk_gain)
    return spec.set("model.init.qkv", C("mimetic_qkv", **args)).set("model.init.attn_out", C("mimetic_out", **args))
