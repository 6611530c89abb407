"""Multi-head attention: projections, QK-norm, positions, the parts' hooks, and a pluggable core.

The core (model.attention) owns masking and the kernel. It sees the input tokens once per forward
(`prepare`, e.g. to build document masks for each window class) and is then called by every layer
with q, k, v shaped (batch, time, heads, head_dim) and the layer's window class (long or short).
A part that attends differently (paired heads put each token's heads on `slots` = 2 consecutive
positions) asks the core for masks over that longer sequence: prepare(idx, state, slots=2); windows
then count positions of that sequence, not tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from remix.model.norms import rms_norm
from remix.model.positions import Positions
from remix.model.roles import Linear, declare, declare_linear, linear
from remix.slots import ATTENTION


class Core(nn.Module):
    def prepare(self, idx: torch.Tensor, state: dict, slots: int = 1):
        return None

    def forward(self, q, k, v, masks, window: str, scale: float) -> torch.Tensor:
        raise NotImplementedError


class CausalCore(Core):
    """Dense causal attention over each row (GPT-2 and llm.c)."""

    def forward(self, q, k, v, masks, window: str, scale: float) -> torch.Tensor:
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                           is_causal=True, scale=scale)
        return y.transpose(1, 2)


@ATTENTION.register("causal")
def causal(cfg, model, bos_id: int) -> Core:
    return CausalCore()


def _identity_qk(q, k):
    return q, k


def _norm_qk(q, k):
    return rms_norm(q), rms_norm(k)


class Attention(nn.Module):
    def __init__(self, model, layer: int, positions: Positions, core: Core, hooks: dict[str, list]):
        super().__init__()
        d, inner = model.d_model, model.n_head * model.head_dim
        self.layer, self.n_head, self.head_dim = layer, model.n_head, model.head_dim
        self.window = "short" if layer in model.layers.short_window else "long"
        self.scale = model.attn_scale if model.attn_scale is not None else model.head_dim ** -0.5
        self.stacked = model.qkv_layout == "stacked"
        if self.stacked:   # one (3, inner, d) parameter: q, k and v are separate matrices to Muon
            self.qkv_w = nn.Parameter(torch.empty(3, inner, d))
            self.qkv_b = nn.Parameter(torch.zeros(3 * inner)) if model.bias else None
            declare(self, qkv_w="matrix.attn.qkv", qkv_b="vector.bias")
            declare_linear(self, qkv_w="qkv_kind")
        else:              # GPT-2's c_attn: one (3·inner, d) linear
            self.qkv = Linear(d, 3 * inner, bias=model.bias, role="matrix.attn.qkv")
        self.out = Linear(inner, d, bias=model.bias, role="matrix.attn.out")
        self.positions, self.core, self.hooks = positions, core, hooks
        if len(hooks["attend"]) > 1:
            raise ValueError(f"layer {layer}: {len(hooks['attend'])} parts compute its attention (attend); at most one may")
        self.attend = hooks["attend"][0] if hooks["attend"] else None
        self.qk_before_rope = _norm_qk if model.qk_norm == "before_rope" else _identity_qk
        self.qk_after_rope = _norm_qk if model.qk_norm == "after_rope" else _identity_qk

    def project(self, x: torch.Tensor) -> torch.Tensor:
        if self.stacked:
            return linear(x, self.qkv_w.flatten(end_dim=1), self.qkv_b, self.qkv_kind)
        return self.qkv(x)

    def forward(self, x: torch.Tensor, ctx) -> torch.Tensor:
        B, T, _ = x.shape
        i = self.layer
        for hook in self.hooks["attn_in"]:
            x = hook(i, x, ctx)
        q, k, v = self.project(x).view(B, T, 3, self.n_head, self.head_dim).unbind(2)
        for hook in self.hooks["qkv"]:
            q, k, v = hook(i, q, k, v, x, ctx)
        q, k = self.qk_before_rope(q, k)
        if self.attend is not None:   # a part computes this layer's attention (paired heads)
            y = self.attend(i, q, k, v, self, ctx)
        else:
            q, k = self.positions.rotate(q, k)
            q, k, v = self.rotated(q, k, v, ctx)
            y = self.core(q, k, v, ctx.masks, self.window, self.attn_scale(ctx))
        for hook in self.hooks["heads"]:
            y = hook(i, y, ctx)
        y = self.out(y.reshape(B, T, self.n_head * self.head_dim))
        for hook in self.hooks["attn_out"]:
            y = hook(i, y, ctx)
        return y

    def attn_scale(self, ctx):
        """A schedule's scale (YaRN's, a number per stage) where one is set, else the layer's own."""
        return ctx.state.get("attn_scale", self.scale)

    def rotated(self, q, k, v, ctx):
        """After positions: QK-norm if it is placed there, then the parts' `rotated` hooks."""
        q, k = self.qk_after_rope(q, k)
        for hook in self.hooks["rotated"]:
            q, k, v = hook(self.layer, q, k, v, ctx)
        return q, k, v

    def init_weights(self, init) -> None:
        init(self.qkv_w if self.stacked else self.qkv.weight, "qkv")
        init(self.out.weight, "attn_out")
