"""The residual stream (model.stream): the layers and who owns the loop over them.

A layer is pre-norm attention then a pre-norm MLP, either of which the layer plan may drop. The base
stream is GPT-2's: x ← x + attn(norm(x)); x ← x + mlp(norm(x)), with the parts' before/after hooks
around each layer (U-net skips, x0 mixing, saved activations live there).
"""

from __future__ import annotations

from torch import nn

from remix.model.attention import Attention
from remix.slots import MLPS, NORMS, STREAMS, build


class Layer(nn.Module):
    def __init__(self, model, i: int, positions, core, hooks: dict[str, list]):
        super().__init__()
        plan = model.layers
        norm = model.norm
        self.attn = self.mlp = None
        if i not in plan.no_attention:
            self.attn_norm = build(NORMS, norm, model.d_model, model.bias)
            self.attn = Attention(model, i, positions, core, hooks)
        if i not in plan.no_mlp:
            self.mlp_norm = build(NORMS, norm, model.d_model, model.bias)
            self.mlp = build(MLPS, model.mlp, model)

    def forward(self, x, ctx):
        if self.attn is not None:
            x = x + self.attn(self.attn_norm(x), ctx)
        if self.mlp is not None:
            x = x + self.mlp(self.mlp_norm(x))
        return x


class PreNorm(nn.Module):
    def forward(self, x, layers, hooks, ctx):
        for i, layer in enumerate(layers):
            for hook in hooks.at("before_layer", i):
                x = hook(i, x, ctx)
            x = layer(x, ctx)
            for hook in hooks.at("after_layer", i):
                x = hook(i, x, ctx)
        return x


@STREAMS.register("prenorm")
def prenorm(cfg, model) -> nn.Module:
    return PreNorm()
