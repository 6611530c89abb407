"""Asymmetric logit rescale: logits 23·σ((z + 5)/7.5) in place of the soft-cap 30·σ(z/7.5).

What: with z the head's output, ℓ = A·σ((z/s + B)/C), A = 23, B = 5, C = 7.5: logits in (0, 23)
instead of (0, 30); at z = 0, ℓ = 23·σ(2/3) ≈ 15.20 (was 15) with slope A·σ'(2/3)/C ≈ 0.687 (was 1.0).
s is the head's scale: the records' head gives z with lr 0.008, remix's M head (and the 3.014
remixed script) gives z √d times larger (its soft-cap divides by 7.5·√d), so s = √d there and the
transform computes the same function of the records' z. Option `width_scaled`: None (default) =
follow the transform it replaces (True when that is M's "sigmoid_width" soft-cap, else False).
Applied to the fp32 logits in training and in evaluation (the record: bf16 logits in training,
fp32 in evaluation; its fused kernels of #60 … #89 keep A, B, C).
Where from: #54 (12/26/25, 1.940 min, 2025-12-26_LogitRescale, log 03e41c2d…); the same record
renamed the key shift to key offset (same math) and moved the cooldown 0.55 → 0.5 (longer_cooldown).
Requires: nothing. Math: changes it (the evaluated probability model).
"""

import math
from dataclasses import dataclass

import torch
from torch import nn

from remix.ingredient import Provenance, ingredient
from remix.slots import LOGITS
from remix.spec import C

R54 = Provenance("54", "12/26/25", "1.940 minutes", "2025-12-26_LogitRescale", "23·σ((z + 5)/7.5)")


@dataclass(frozen=True)
class AsymmetricConfig:
    cap: "float" = 23.0
    offset: "float" = 5.0
    temperature: "float" = 7.5
    width_scaled: "bool" = True        # z / √d first (remix's M head)

    def __post_init__(self):
        if self.cap <= 0 or self.temperature <= 0:
            raise ValueError(f"cap and temperature must be > 0, got {self.cap} and {self.temperature}")


class OffsetSigmoidCap(nn.Module):
    def __init__(self, cap: float, offset: float, temperature: float, scale: float):
        super().__init__()
        self.cap, self.offset, self.temperature, self.scale = cap, offset, temperature, scale

    def forward(self, z):
        return self.cap * torch.sigmoid((z / self.scale + self.offset) / self.temperature)


@LOGITS.register("asymmetric_softcap", config=AsymmetricConfig)
def asymmetric_softcap(cfg: AsymmetricConfig, model) -> nn.Module:
    return OffsetSigmoidCap(cfg.cap, cfg.offset, cfg.temperature, math.sqrt(model.d_model) if cfg.width_scaled else 1.0)


@dataclass(frozen=True)
class AsymmetricOptions(AsymmetricConfig):
    width_scaled: "bool | None" = None   # None: as the transform it replaces


@ingredient(name="asymmetric_logit_rescale", summary="logits 23·σ((z+5)/7.5): bounded (0, 23), 15.2 at z = 0",
            category="architecture", provenance=R54, options=AsymmetricOptions, refines=("logit_softcap",), doc=__doc__)
def INGREDIENT(spec, cap, offset, temperature, width_scaled):
    if width_scaled is None:
        current = spec.model.logits
        width_scaled = current.name == "softcap" and current.args.get("form") == "sigmoid_width"
    return spec.set("model.logits", C("asymmetric_softcap", cap=cap, offset=offset, temperature=temperature,
                                      width_scaled=width_scaled))
