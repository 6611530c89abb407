"""Soft-cap the logits so the probability model's logits are bounded.

Forms (option `form`):
  * "tanh" (#9 with cap 30, #18 with cap 15): z ← cap·tanh(z / cap);
  * "sigmoid" (#19): z ← cap·σ(z / temperature), cap 30, temperature 7.5 (= 15·tanh(z/15) + 15);
  * "sigmoid_width" (21 (3.014), used by M): z ← cap·σ(z / (temperature·√d_model)): with d = 768,
    30·σ(z / 207.85), range (0, 30), 15 at z = 0 (a zero head gives a uniform softmax).
Applied to the fp32 logits in training and in evaluation. Requires: nothing. Math: changes it.
"""

import math
from dataclasses import dataclass

import torch
from torch import nn

from ingredients._records import R9, R18, R19, R21b
from remix.slots import LOGITS
from remix.ingredient import ingredient
from remix.spec import C

FORMS = ("tanh", "sigmoid", "sigmoid_width")


class TanhCap(nn.Module):
    def __init__(self, cap: float):
        super().__init__()
        self.cap = cap

    def forward(self, z):
        return self.cap * torch.tanh(z / self.cap)


class SigmoidCap(nn.Module):
    def __init__(self, cap: float, temperature: float):
        super().__init__()
        self.cap, self.temperature = cap, temperature

    def forward(self, z):
        return self.cap * torch.sigmoid(z / self.temperature)


@dataclass(frozen=True)
class SoftcapConfig:
    form: "str" = "sigmoid_width"
    cap: "float" = 30.0
    temperature: "float" = 7.5

    def __post_init__(self):
        if self.form not in FORMS:
            raise ValueError(f"form must be one of {', '.join(FORMS)}, got {self.form!r}")
        if self.cap <= 0 or self.temperature <= 0:
            raise ValueError(f"cap and temperature must be > 0, got {self.cap} and {self.temperature}")


@LOGITS.register("softcap", config=SoftcapConfig)
def softcap(cfg: SoftcapConfig, model) -> nn.Module:
    if cfg.form == "tanh":
        return TanhCap(cfg.cap)
    if cfg.form == "sigmoid":
        return SigmoidCap(cfg.cap, cfg.temperature)
    return SigmoidCap(cfg.cap, cfg.temperature * math.sqrt(model.d_model))


@ingredient(name="logit_softcap", summary="bounded logits: cap·σ(z/(7.5·√d)) (tanh and plain-sigmoid forms too)",
            category="architecture", provenance=(R9, R18, R19, R21b),
            options=SoftcapConfig, doc=__doc__)
def INGREDIENT(spec, form, cap, temperature):
    return spec.set("model.logits", C("softcap", form=form, cap=cap, temperature=temperature))
