"""Weight initialisation: the model's own weights get the scheme the spec names (model.init.*).

Each module that owns a weight kind initialises it (`init_weights(init)`, where init(w, kind) applies
model.init.<kind>); parts initialise their own parameters; then biases start at zero, norm gains at one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from remix.model.parts import Part
from remix.slots import INITS


@dataclass(frozen=True)
class NormalConfig:
    std: "float" = 0.02
    residual_scaled: "bool" = False   # GPT-2: std / sqrt(2 · n_layer) for layers that write to the residual


@INITS.register("normal", config=NormalConfig)
def normal(cfg: NormalConfig, w: torch.Tensor, model) -> None:
    std = cfg.std / math.sqrt(2 * model.n_layer) if cfg.residual_scaled else cfg.std
    nn.init.normal_(w, 0.0, std)


@INITS.register("zero")
def zero(cfg, w: torch.Tensor, model) -> None:
    nn.init.zeros_(w)


@INITS.register("torch_default")
def torch_default(cfg, w: torch.Tensor, model) -> None:
    """nn.Linear's default (Kaiming-uniform, a=√5), i.e. U(±1/√fan_in), fan_in = the last dim."""
    bound = 1 / math.sqrt(w.size(-1))
    nn.init.uniform_(w, -bound, bound)


@dataclass(frozen=True)
class UniformConfig:
    gain: "float" = 0.5               # std = gain / √fan_in, bound = √3 · std


@INITS.register("uniform", config=UniformConfig)
def uniform(cfg: UniformConfig, w: torch.Tensor, model) -> None:
    bound = math.sqrt(3) * cfg.gain / math.sqrt(w.size(-1))
    nn.init.uniform_(w, -bound, bound)


class Initializer:
    """init(w, kind): applies model.init.<kind> to w."""

    def __init__(self, model):
        self.model = model

    def __call__(self, w: torch.Tensor, kind: str) -> None:
        c = getattr(self.model.init, kind)
        INITS.get(c.name)(INITS.config(c.name, c.args), w, self.model)


@torch.no_grad()
def init_weights(gpt: nn.Module, model) -> None:
    init = Initializer(model)
    init(gpt.embed.weight, "embed")
    if hasattr(gpt.positions, "weight"):
        init(gpt.positions.weight, "positions")
    for module in gpt.modules():
        if module is not gpt and hasattr(module, "init_weights"):
            module.init_weights(init)
        if isinstance(module, Part):
            module.reset_parameters()
    for module in gpt.modules():
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.LayerNorm):
            if module.weight is not None:
                nn.init.ones_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        if getattr(module, "stacked", False) and module.qkv_b is not None:
            nn.init.zeros_(module.qkv_b)
