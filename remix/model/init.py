"""Weight initialisation: each kind of weight gets the scheme the spec names (model.init.*)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from remix.components import INITS
from remix.spec import ModelSpec


@dataclass(frozen=True)
class NormalConfig:
    std: "float" = 0.02
    residual_scaled: "bool" = False   # GPT-2: std / sqrt(2 · n_layer) for layers that write to the residual


@INITS.register("normal", config=NormalConfig)
def normal(cfg: NormalConfig, w: torch.Tensor, model: ModelSpec) -> None:
    std = cfg.std / math.sqrt(2 * model.n_layer) if cfg.residual_scaled else cfg.std
    nn.init.normal_(w, 0.0, std)


@INITS.register("zero")
def zero(cfg, w: torch.Tensor, model: ModelSpec) -> None:
    nn.init.zeros_(w)


@INITS.register("torch_default")
def torch_default(cfg, w: torch.Tensor, model: ModelSpec) -> None:
    """nn.Linear's default (Kaiming-uniform, a=√5), i.e. U(±1/√fan_in), fan_in = the last dim."""
    bound = 1 / math.sqrt(w.size(-1))
    nn.init.uniform_(w, -bound, bound)


@dataclass(frozen=True)
class UniformConfig:
    gain: "float" = 0.5               # std = gain / √fan_in, bound = √3 · std


@INITS.register("uniform", config=UniformConfig)
def uniform(cfg: UniformConfig, w: torch.Tensor, model: ModelSpec) -> None:
    bound = math.sqrt(3) * cfg.gain / math.sqrt(w.size(-1))
    nn.init.uniform_(w, -bound, bound)


def _apply(component, w: torch.Tensor, model: ModelSpec) -> None:
    INITS.get(component.name)(INITS.config(component.name, component.args), w, model)


@torch.no_grad()
def init_weights(gpt: nn.Module, model: ModelSpec) -> None:
    """Initialises every weight by its kind; biases start at zero, norm gains at one."""
    init = model.init
    _apply(init.embed, gpt.embed.weight, model)
    if not model.tie_embeddings:
        _apply(init.head, gpt.head.weight, model)
    if hasattr(gpt.positions, "weight"):
        _apply(init.positions, gpt.positions.weight, model)
    for block in gpt.blocks:
        attn = block.attn
        _apply(init.qkv, attn.qkv_w if attn.stacked else attn.qkv.weight, model)
        _apply(init.attn_out, attn.out.weight, model)
        _apply(init.mlp_up, block.mlp.up.weight, model)
        _apply(init.mlp_down, block.mlp.down.weight, model)
    for module in gpt.modules():
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.LayerNorm):
            if module.weight is not None:
                nn.init.ones_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    for block in gpt.blocks:
        if block.attn.stacked and block.attn.qkv_b is not None:
            nn.init.zeros_(block.attn.qkv_b)
