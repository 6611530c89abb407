"""Lightweight dynamically composable multi-head attention (DC-MHA): in the last layer, each token mixes its
heads' local attention patterns with per-token weights and adds the mixed pattern's read-out to every head.

What it computes, in layer `layer` (default 11, the last; 11-layer 10) after the attention core's output
y_h(t) and before anything else touches it (gates, XSA, the out projection):
    P_h(t, s) = softmax over s ∈ [t − window + 1, t], same document, of scale·q_h(t)·k_h(s)
                (window 112; q, k after QK-norm, positions and every other part's rotated hook; scale = the
                layer's attention scale; a local softmax of its own, independent of the core's window),
    A(t, s)   = Σ_h w1_h(t)·P_h(t, s),  w1 = RMSNorm over the heads (fp32, eps 1e-6, no gain) of the raw w1,
    y_h(t)   ← y_h(t) + w2_h(t)·Σ_s A(t, s)·v_h(s)   (v: the layer's v after every part's additions).
The per-token weights come from (option `weights`):
    "own" (default; #85 v1): [w1_raw, w2] = W2·GELU_tanh(W1·x), x the attention's (normed) input, W1 (2H, d)
        ~ N(0, 2/(d + 2H)), W2 (2H, 2H) with the w1 rows ~ N(0, (1/(2H))·(2/(H + 2))²·0.01²) and the w2 rows
        zero, so the correction starts at zero; role gate.dc_mha, Adam group `dc_mha` (#85 v1: lr_mul 0.25,
        betas (0.9, 0.99), no decay → scalar lr × 0.25/5 = 0.002 on M);
    "mudd_gate" (#85 v2/v3): the MUDD gates' outputs (w1 raw init 1, w2 init 0), which mudd with gates = true
        puts in ctx.saved["dc_weights.11"]; this ingredient then has no parameters of its own.
Documents start at the data's BOS token (option `documents`, as #85's varlen kernel); the local softmax is
computed blockwise (blocks of `window` queries against the two key blocks that can hold their window), in
fp32, then the mixed weights are cast to v's dtype for the read-out, where #85's Triton kernel used tf32 dots.

Where from: #85 (05/27/26, 1.271 min, 2026-05-27-MuddGatedAndDC; v1 with its own weights, v2/v3 with the
MUDD gates': "post-only, no dense-dense term, no pre-composition", 11-layer layer 10 only). Not in #87–#89.
Translation: 11-layer j is j + 1 here. Requires: nothing (weights = "mudd_gate" needs mudd with gates).
Two parts: `dc_mha` (the weights and the correction: order 5, so it adds to y before other parts' heads
hooks, as #85 added it before XSA and the attention gate) and `dc_mha_taps` (order 95: reads q, k, v after
every other part's rotated hook). Math: changes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ingredients._record_groups import record_group, with_groups
from remix.ingredient import Provenance, ingredient
from remix.model.parts import LayerSet, Part
from remix.model.roles import declare
from remix.slots import PARTS
from remix.spec import C, SpecError

R85 = Provenance("85", "05/27/26", "1.271 minutes", "2026-05-27-MuddGatedAndDC",
                 "lightweight DC-MHA in 11-layer layer 10; weights of its own in this_pr_v1, MUDD gates' in v2/v3")

WEIGHTS = ("own", "mudd_gate")


@dataclass(frozen=True)
class DCConfig:
    layer: "int" = 11              # 11-layer 10
    window: "int" = 112            # keys of the local softmax, the query included
    weights: "str" = "own"         # own (#85 v1) | mudd_gate (#85 v2/v3)
    documents: "bool" = True       # the local softmax stays inside a document

    def __post_init__(self):
        if self.weights not in WEIGHTS:
            raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, got {self.weights!r}")
        if self.window < 1:
            raise ValueError(f"window must be ≥ 1, got {self.window}")


def local_composed_attention(q, k, v, w1, w2, docs, window: int, scale: float) -> torch.Tensor:
    """Σ_s w2_h(t)·A(t, s)·v_h(s) with A = Σ_h w1_h(t)·softmax_s(scale·q_h(t)·k_h(s)) over the `window` keys
    up to t in t's document. q, k, v (B, T, H, D); w1, w2 (B, T, H); docs (B, T) or None. -> (B, T, H, D)."""
    B, T, H, D = q.shape
    W = window
    n = -(-T // W)
    pad = n * W - T
    f = torch.promote_types(q.dtype, torch.float32)

    def queries(t):   # (B, T, …) -> (B, n, W, …): block b holds queries bW … bW + W − 1
        t = F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad))
        return t.view(B, n, W, *t.shape[2:])

    def keys(t):      # (B, T, H, D) -> (B, n, H, D, 2W): block b holds keys bW − W … bW + W − 1
        return F.pad(t, (0, 0, 0, 0, W, pad)).unfold(1, 2 * W, W)

    scores = torch.einsum("bnqhd,bnhdk->bnhqk", queries(q).to(f), keys(k).to(f)) * scale
    rel = torch.arange(W, device=q.device)[:, None] + W - torch.arange(2 * W, device=q.device)[None, :]
    visible = (rel >= 0) & (rel < W)                                           # (W, 2W): t − s in [0, W)
    if docs is None:
        docs = torch.zeros(B, T, dtype=torch.long, device=q.device)
    doc_q = F.pad(docs, (0, pad), value=-1).view(B, n, W)
    doc_k = F.pad(docs, (W, pad), value=-1).unfold(1, 2 * W, W)               # padding: a document of its own
    visible = visible & (doc_q[..., :, None] == doc_k[..., None, :])           # (B, n, W, 2W)
    probs = scores.masked_fill(~visible[:, :, None], float("-inf")).softmax(dim=-1)
    mixed = torch.einsum("bnqh,bnhqk->bnqk", queries(w1).to(f), probs)
    weights = torch.einsum("bnqh,bnqk->bnhqk", queries(w2).to(f), mixed).to(v.dtype)
    out = torch.einsum("bnhqk,bnhdk->bnqhd", weights, keys(v))
    return out.reshape(B, n * W, H, D)[:, :T]


class DCMHA(Part):
    order = 5   # heads: the correction comes before other parts' gates (as #85: before XSA and the gate)

    def __init__(self, cfg: DCConfig, model, taps: str):
        super().__init__()
        H = model.n_head
        self.cfg, self.H, self.taps = cfg, H, taps
        self.layer = min(LayerSet([cfg.layer], model.n_layer, "dc_mha").layers)
        if self.layer in model.layers.no_attention:
            raise ValueError(f"dc_mha: layer {self.layer} has no attention")
        self.scale = model.attn_scale if model.attn_scale is not None else model.head_dim ** -0.5
        self.key = f"dc_weights.{self.layer}"
        self.own = cfg.weights == "own"
        if self.own:
            self.w1 = nn.Parameter(torch.empty(2 * H, model.d_model))
            self.w2 = nn.Parameter(torch.empty(2 * H, 2 * H))
            declare(self, w1="gate.dc_mha.w1", w2="gate.dc_mha.w2")

    def reset_parameters(self):
        if self.own:
            H, d = self.H, self.w1.size(1)
            with torch.no_grad():
                self.w1.normal_(0.0, math.sqrt(2.0 / (d + 2 * H)))
                self.w2.zero_()
                self.w2[:H].normal_(0.0, math.sqrt(1.0 / (2 * H)) * 2.0 / (H + 2.0) * 0.01)

    def attaches(self, hook, layer):
        return layer == self.layer and (hook == "heads" or (hook == "qkv" and self.own))

    def qkv(self, i, q, k, v, x, ctx):
        raw = F.linear(F.gelu(F.linear(x, self.w1.type_as(x)), approximate="tanh"), self.w2.type_as(x))
        ctx.saved[self.key] = (raw[..., :self.H], raw[..., self.H:])
        return q, k, v

    def heads(self, i, y, ctx):
        if self.key not in ctx.saved:
            raise KeyError(f"dc_mha with weights = 'mudd_gate' reads ctx.saved[{self.key!r}], which mudd with "
                           "gates = true writes; it is not there")
        w1, w2 = ctx.saved[self.key]
        w1 = F.rms_norm(w1.to(torch.promote_types(w1.dtype, torch.float32)), (self.H,), eps=1e-6).type_as(y)
        q, k, v = ctx.saved[self.taps]
        docs = (ctx.idx == ctx.bos_id).cumsum(dim=-1) if self.cfg.documents else None
        return y + local_composed_attention(q, k, v, w1, w2, docs, self.cfg.window, self.scale).type_as(y)


class Taps(Part):
    """Keeps layer `layer`'s q, k, v as the attention core receives them (after every other rotated hook)."""
    order = 95

    def __init__(self, layer: int, key: str):
        super().__init__()
        self.layer, self.key = layer, key

    def attaches(self, hook, layer):
        return hook == "rotated" and layer == self.layer

    def rotated(self, i, q, k, v, ctx):
        ctx.saved[self.key] = (q, k, v)
        return q, k, v


@PARTS.register("dc_mha", config=DCConfig)
def dc_mha(cfg: DCConfig, model, name: str) -> Part:
    return DCMHA(cfg, model, taps=f"dc_mha.qkv.{cfg.layer % model.n_layer}")


@dataclass(frozen=True)
class TapsConfig:
    layer: "int" = 11


@PARTS.register("dc_mha_taps", config=TapsConfig)
def dc_mha_taps(cfg: TapsConfig, model, name: str) -> Part:
    layer = min(LayerSet([cfg.layer], model.n_layer, "dc_mha").layers)
    return Taps(layer, f"dc_mha.qkv.{layer}")


@ingredient(name="dc_mha", summary="last layer: per-token mix of the heads' local (112-token) attention "
                                   "patterns, read out into every head",
            category="attention", provenance=R85, options=DCConfig, doc=__doc__)
def INGREDIENT(spec, layer, window, weights, documents):
    args = dict(layer=layer, window=window, weights=weights, documents=documents)
    if weights == "mudd_gate":
        m = spec.model.parts.get("mudd")
        if m is None or not m.args.get("gates", False):
            raise SpecError("model.parts.dc_mha", "dc_mha with weights = 'mudd_gate' needs mudd with gates = "
                                                  "true earlier in the recipe")
        if layer % spec.model.n_layer != spec.model.n_layer - 1:
            raise SpecError("model.parts.dc_mha", "the MUDD gates give DC weights to the last layer only")
    spec = (spec.set("model.parts.dc_mha", C("dc_mha", **args))
                .set("model.parts.dc_mha_taps", C("dc_mha_taps", layer=layer)))
    if weights == "own":
        spec = with_groups(spec, {"dc_mha": record_group(spec, ("gate.dc_mha",), lr_mul=0.25, betas=(0.9, 0.99))})
    return spec
