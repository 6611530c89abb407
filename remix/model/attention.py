"""Multi-head attention: projections, QK-norm, positions, and a pluggable core.

The core (model.attention) owns masking and the kernel. It sees the input tokens once per forward
(`prepare`, e.g. to build a document mask) and is then called by every layer with q, k, v shaped
(batch, time, heads, head_dim).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from remix.components import ATTENTION
from remix.model.layers import Positions, rms_norm


class Core(nn.Module):
    def prepare(self, idx: torch.Tensor):
        return None

    def forward(self, q, k, v, ctx, scale: float) -> torch.Tensor:
        raise NotImplementedError


class CausalCore(Core):
    """Dense causal attention over each row (GPT-2 and llm.c)."""

    def forward(self, q, k, v, ctx, scale: float) -> torch.Tensor:
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
    def __init__(self, model, positions: Positions, core: Core):
        super().__init__()
        d, inner = model.d_model, model.n_head * model.head_dim
        self.n_head, self.head_dim = model.n_head, model.head_dim
        self.scale = model.attn_scale if model.attn_scale is not None else model.head_dim ** -0.5
        self.stacked = model.qkv_layout == "stacked"
        if self.stacked:   # one (3, inner, d) parameter: q, k and v are separate matrices to Muon
            self.qkv_w = nn.Parameter(torch.empty(3, inner, d))
            self.qkv_b = nn.Parameter(torch.zeros(3 * inner)) if model.bias else None
        else:              # GPT-2's c_attn: one (3·inner, d) linear
            self.qkv = nn.Linear(d, 3 * inner, bias=model.bias)
        self.out = nn.Linear(inner, d, bias=model.bias)
        self.positions, self.core = positions, core
        self.qk_before_rope = _norm_qk if model.qk_norm == "before_rope" else _identity_qk
        self.qk_after_rope = _norm_qk if model.qk_norm == "after_rope" else _identity_qk

    def project(self, x: torch.Tensor) -> torch.Tensor:
        if self.stacked:
            return F.linear(x, self.qkv_w.flatten(end_dim=1), self.qkv_b)
        return self.qkv(x)

    def forward(self, x: torch.Tensor, ctx) -> torch.Tensor:
        B, T, _ = x.shape
        q, k, v = self.project(x).view(B, T, 3, self.n_head, self.head_dim).unbind(2)
        q, k = self.qk_before_rope(q, k)
        q, k = self.positions.rotate(q, k)
        q, k = self.qk_after_rope(q, k)
        y = self.core(q, k, v, ctx, self.scale)
        return self.out(y.reshape(B, T, self.n_head * self.head_dim))
