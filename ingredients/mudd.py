"""MUDD: multiway dynamic dense connections. A tiny per-token MLP mixes saved states of the stream into the
last layer's input, its value, its sublayer factors, and the stream after it.

What it computes (0-based layers of the 12-layer model; "last" = layer 11). Saved states: x0′ = the stream
entering layer 0 (the normed embedding, plus a bigram term if the stream injects one), h = the output of
layer `saved_layer` (8), s = the output of layer `skip_layer` (4), ve = a value embedding other parts put in
ctx.saved["value_embed.<ve_layer>"] (layer 2; a (B, T, d) or (B, T, heads, head_dim) tensor; the term is
left out when absent, as on M). A coefficient MLP μ(u) = (W2_j · GELU(W1_j · u) + B_j) · scale (W1_j
(64, d) Kaiming-uniform a=√5, i.e. U(±1/√d); W2_j zeros; B_j as below), two blocks j:

  before the last layer, on its input x: μ = μ_0(x);
      v_mudd = g·(μ_v0·x0′ + μ_v1·h + μ_v2·x) is added to the last layer's v (split into heads, right after
          the projection; the qkv hook);
      x ← (1 + μ_r2)·x + μ_r0·x0′ + μ_r1·h  (the layer's input; h is the same tensor the saved activation
          feeds to this layer's attention in #77/#81);
      the layer's sublayer factors become per-token: attention r = μ_a0, post = μ_a1, injection
          μ_a2·x0′ + μ_a3·bigram; MLP r = μ_m0, post = μ_m1 (ctx.saved["sublayer.11"]; only the lanes stream of
          partitioned_hyperconnections / saved_activation has these factors and reads them; on the plain
          pre-norm stream (M) the last layer keeps x + attn, x + MLP);
      a value-embedding gate for the last layer (heads in two halves) is published as
          ctx.saved["ve_gate.11"] ((B, T, heads, 1)) for a value-embedding part to use in place of its own;
  after the last layer, on the stream x: m = μ_1(x); x ← x + m0·x0′ + m1·h + m2·x_in + m3·ve + m4·s, with
      x_in the last layer's input before the rewrite; then the final norm and head.
Biases start the coefficients at the static values they replace (r √1.1, post 1, x0 0, bigram 0.05, VE gate
2) and the final h coefficient at −0.5: the backout of #40/#77 (λ 0.5), which #81 removed and folded in
here; this ingredient therefore turns saved_activation's backout off.

Variants (option `variant`):
  "85" (default; #85's refactor, also in #87–#89): W2 (2, 14, 64), B (2, 14), scale 0.1, g = 1; μ_0 =
      (v: 0–2, residual: 3–5, VE gate: 6, 7 with bias 2/0.1, attention r, post, x0, bigram: 8–11, MLP r, post:
      12, 13); μ_1 = 5 coefficients, B_1[1] = −0.5/0.1.
  "81" (#81): W2 (2, 2·8, 64) (two channels of eight), scale 0.2/√3, g = 1.15; channel 0 = (v 0–2, VE gate
      heads 0–2: 3, attention r, post, x0, bigram: 4–7), channel 1 = (residual 0–2, VE gate heads 3–5: 3, MLP
      r, post: 4, 5); VE gate = coefficient + 2 (bias 0); μ_1 uses block 1's channel 1, columns 0–4, with
      B[1, 1, 1] = −4.34 (so −4.34·0.2/√3 ≈ −0.501).
Option `gates` (#85 v3's MUDD gates): a second MLP family, gate(u) = (Wg2_j·GELU(Wg1_j·u) + Bg_j)·γ with a
learned γ (init 0.1; biases are set as value/0.1), Wg1 Kaiming-uniform, Wg2 zeros. Per H heads: the pre
gate (u = x0, the normed embedding; at layer 0) has 3H + 8 outputs, the post gate (u = layer 5's input)
5H + 11. They replace static parameters of other parts, which read them from ctx.saved:
  pre: [0:H] XSA α of layer 2 ("xsa_alpha.2"), [H:2H] of layer 4, [2H:3H] attention gate of layer 4
      (bias 0.25; applied here: y_h ← g_h·y_h before the out projection, no sigmoid), then (x0, bigram)
      injection gates for layers 1–4 (bigram bias 0.05);
  post: XSA α of layers 5 and 8, the attention gate of layer 11, (x0, bigram) gates for layers 5, 6, 8, 9,
      10, the U-net skip gate ("skip_gate", bias 0.5), DC-MHA weights for layer 11 ("dc_weights.11": w1 bias
      1, w2 0; read by dc_mha with weights = "mudd_gate").
  An injection gate pair becomes the layer's injection g_x0·x0 + g_bg·bigram (ctx.saved["sublayer.<i>"],
  the lanes stream only; the bigram term only where a part put ctx.saved["bigram"]).
Optimizer: #81/#85 trained W1, W2, B with Adam betas (0.9, 0.99) at lr_mul 0.25 and the gates at lr_mul
0.1 (v3; 0.15 in v1). Here: new groups `mudd` (roles gate.mudd.*; lr = scalar lr × 0.25/5 = 0.002 on M) and
`mudd_gate` (gate.mudd.gate.*; × 0.1/5 = 0.0008), betas (0.9, 0.99), no weight decay (the records'
cautious weight decay on W1/W2 has no counterpart in M's Adam; neither do their odd-step Adam updates).

Where from: #81 (04/22/26, 1.363 min, 2026-04-22_MuddFormer, log folder this_pr_v3: "MUDD Skip
Connections"; 11-layer layers 9 → 10 and after 10, h = 11-layer 7, skip 3, VE of layer 1); #85 (05/27/26,
1.271 min, 2026-05-27-MuddGatedAndDC, this_pr_v3: the refactor and the gates). Translation: 11-layer j is
j + 1 here. Requires: nothing (it saves h and s itself).
Differences from the records, on M: M has no value embeddings, bigram embedding, XSA, skip or per-sublayer
factors, so those terms are absent or published unused unless other parts provide them; the attention of the
last layer reads norm(x) after the rewrite unless saved_activation is on (then norm(h), as the records); the
gates' first pair's bigram gate (the records' pre-loop bigram injection) is not used (the lanes stream's
static first-layer bigram factor stays), and layers 0 and 7, which the records did not have as attention
layers, keep the static injection; #85 v3 dropped the static sigmoid attention gates of all other layers,
which is up to that ingredient. Math: changes it.
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
from remix.spec import C

R81 = Provenance("81", "04/22/26", "1.363 minutes", "2026-04-22_MuddFormer",
                 "MUDD skip connections (log folder this_pr_v3)")
R85 = Provenance("85", "05/27/26", "1.271 minutes", "2026-05-27-MuddGatedAndDC",
                 "MUDD refactor (variant 85) and MUDD gates (option gates; log folder this_pr_v3)")


def widen(t: torch.Tensor, d: int) -> torch.Tensor:
    """A (…, k) bigram as (…, d): zeros after its k channels (#85 adds a narrow one to x[..., :k])."""
    return t if t.size(-1) == d else F.pad(t, (0, d - t.size(-1)))


@dataclass(frozen=True)
class Layout:
    """Where each coefficient sits in a variant's outputs (block 0: before the last layer; 1: after it)."""
    n: int                       # outputs of block 0 (and rows of W2)
    scale: float
    v_gain: float
    v: tuple[int, int, int]      # v_mudd over (x0′, h, x)
    resid: tuple[int, int, int]  # the last layer's input over (x0′, h, itself)
    ve_gate: tuple[int, int]     # heads of the first, second half
    ve_offset: float
    attn: tuple[int, int, int, int]   # resid, post, x0′, bigram
    mlp: tuple[int, int]              # resid, post
    final: tuple[int, ...]            # block 1: (x0′, h, x_in, ve, s), contiguous
    bias: dict[int, float]            # block 0's bias init (before the scale)
    final_bias: dict[int, float]      # block 1's


_S81 = 0.2 / math.sqrt(3)
_R = math.sqrt(1.1)
LAYOUTS = {
    "85": Layout(14, 0.1, 1.0, (0, 1, 2), (3, 4, 5), (6, 7), 0.0, (8, 9, 10, 11), (12, 13), (0, 1, 2, 3, 4),
                 {6: 2.0 / 0.1, 7: 2.0 / 0.1, 8: _R / 0.1, 9: 1.0 / 0.1, 11: 0.05 / 0.1, 12: _R / 0.1,
                  13: 1.0 / 0.1},
                 {1: -0.5 / 0.1}),
    "81": Layout(16, _S81, 1.15, (0, 1, 2), (8, 9, 10), (3, 11), 2.0, (4, 5, 6, 7), (12, 13), (8, 9, 10, 11, 12),
                 {4: _R / _S81, 5: 1.0 / _S81, 7: 0.05 / _S81, 12: _R / _S81, 13: 1.0 / _S81},
                 {9: -4.34}),
}

# The gates' layout (#85 v3), in this model's layers (11-layer j → j + 1).
GATE_SCALE = 0.1
PRE_XSA, PRE_ATTN, PRE_PAIRS = (2, 4), 4, (1, 2, 3, 4)
POST_AT, POST_XSA, POST_ATTN, POST_PAIRS = 5, (5, 8), 11, (5, 6, 8, 9, 10)


@dataclass(frozen=True)
class MuddConfig:
    variant: "str" = "85"        # 85 (refactor, #85 and later) | 81
    gates: "bool" = False        # #85 v3's MUDD gates
    hidden: "int" = 64
    saved_layer: "int" = 8       # h: 11-layer 7
    skip_layer: "int" = 4        # s: 11-layer 3
    ve_layer: "int" = 2          # ve: the value embedding of 11-layer 1

    def __post_init__(self):
        if self.variant not in LAYOUTS:
            raise ValueError(f"variant must be one of {', '.join(LAYOUTS)}, got {self.variant!r}")
        if self.hidden < 1:
            raise ValueError(f"hidden must be ≥ 1, got {self.hidden}")


class Mudd(Part):
    order = 10   # before_layer(0) sees the stream entering layer 0 before other parts change it

    def __init__(self, cfg: MuddConfig, model):
        super().__init__()
        n, d, H = model.n_layer, model.d_model, model.n_head
        if H * model.head_dim != d or H % 2:
            raise ValueError(f"mudd: needs heads × head_dim = d_model and an even head count, got "
                             f"{H} × {model.head_dim} for d_model {d}")
        self.cfg, self.L, self.H, self.d = cfg, LAYOUTS[cfg.variant], H, d
        self.last = n - 1
        self.h_layer = min(LayerSet([cfg.saved_layer], n, "mudd saved_layer").layers)
        self.skip_layer = min(LayerSet([cfg.skip_layer], n, "mudd skip_layer").layers)
        if max(self.h_layer, self.skip_layer) >= self.last:
            raise ValueError(f"mudd: saved_layer and skip_layer must come before the last layer ({self.last})")
        self.ve_key = f"value_embed.{cfg.ve_layer}"
        self.w1 = nn.Parameter(torch.empty(2, cfg.hidden, d))
        self.w2 = nn.Parameter(torch.empty(2, self.L.n, cfg.hidden))
        self.b = nn.Parameter(torch.empty(2, self.L.n))
        declare(self, w1="gate.mudd.w1", w2="gate.mudd.w2", b="gate.mudd.bias")
        self.gates = cfg.gates
        if self.gates:
            if n != 12:
                raise ValueError(f"mudd gates: the layout is #85's, for the 12-layer model; got {n} layers")
            self.pre_n, self.post_n = 3 * H + 8, 5 * H + 11
            self.gate_w1 = nn.Parameter(torch.empty(2, cfg.hidden, d))
            self.gate_w2 = nn.Parameter(torch.empty(2, self.post_n, cfg.hidden))
            self.gate_b = nn.Parameter(torch.empty(2, self.post_n))
            self.gate_scale = nn.Parameter(torch.empty(1))
            declare(self, gate_w1="gate.mudd.gate.w1", gate_w2="gate.mudd.gate.w2", gate_b="gate.mudd.gate.bias",
                    gate_scale="gate.mudd.gate.scale")

    def reset_parameters(self):
        with torch.no_grad():
            for w in self.w1:
                nn.init.kaiming_uniform_(w, a=math.sqrt(5))
            self.w2.zero_()
            self.b.zero_()
            for k, v in self.L.bias.items():
                self.b[0, k] = v
            for k, v in self.L.final_bias.items():
                self.b[1, k] = v
            if self.gates:
                H = self.H
                for w in self.gate_w1:
                    nn.init.kaiming_uniform_(w, a=math.sqrt(5))
                self.gate_w2.zero_()
                self.gate_b.zero_()
                for j, pairs in ((0, len(PRE_PAIRS)), (1, len(POST_PAIRS))):
                    self.gate_b[j, 2 * H:3 * H] = 0.25 / GATE_SCALE                        # attention gates
                    self.gate_b[j, 3 * H + 1:3 * H + 2 * pairs:2] = 0.05 / GATE_SCALE     # bigram gates
                self.gate_b[1, 3 * H + 10] = 0.5 / GATE_SCALE                            # skip gate
                self.gate_b[1, 3 * H + 11:4 * H + 11] = 1.0 / GATE_SCALE                 # DC w1
                self.gate_scale.fill_(GATE_SCALE)

    def attaches(self, hook, layer):
        if layer is None:
            return hook == "end"
        if hook == "before_layer":
            return layer in (0, self.last) or (self.gates and layer == POST_AT)
        if hook == "after_layer":
            return layer in (self.h_layer, self.skip_layer)
        if hook == "qkv":
            return layer == self.last
        if hook == "heads":
            return self.gates and layer in (PRE_ATTN, POST_ATTN)
        return False

    # -- the coefficient MLPs ------------------------------------------------------------------------
    def coefficients(self, u, j: int, lo: int, hi: int):
        hidden = F.gelu(F.linear(u, self.w1[j].type_as(u)))
        return (F.linear(hidden, self.w2[j, lo:hi].type_as(u)) + self.b[j, lo:hi].type_as(u)) * self.L.scale

    def gate(self, u, j: int, n: int):
        hidden = F.gelu(F.linear(u, self.gate_w1[j].type_as(u)))
        return (F.linear(hidden, self.gate_w2[j, :n].type_as(u)) + self.gate_b[j, :n].type_as(u)) * \
            self.gate_scale.type_as(u)

    # -- hooks ---------------------------------------------------------------------------------------
    def before_layer(self, i, x, ctx):
        if i == 0:
            ctx.saved["mudd.x0"] = x
            if self.gates:
                self._publish(self.gate(ctx.x0, 0, self.pre_n), PRE_XSA, PRE_ATTN, PRE_PAIRS, ctx)
        if self.gates and i == POST_AT:
            g = self._publish(self.gate(x, 1, self.post_n), POST_XSA, POST_ATTN, POST_PAIRS, ctx)
            H = self.H
            ctx.saved["skip_gate"] = g[..., 3 * H + 10:3 * H + 11]
            ctx.saved[f"dc_weights.{POST_ATTN}"] = (g[..., 3 * H + 11:4 * H + 11], g[..., 4 * H + 11:5 * H + 11])
        if i == self.last:
            x = self._before_last(x, ctx)
        return x

    def after_layer(self, i, x, ctx):
        if i == self.h_layer:
            ctx.saved["mudd.h"] = x
        if i == self.skip_layer:
            ctx.saved["mudd.skip"] = x
        return x

    def qkv(self, i, q, k, v, x, ctx):
        return q, k, v + ctx.saved["mudd.v"].view_as(v)

    def heads(self, i, y, ctx):
        return y * ctx.saved[f"mudd_gate.attn.{i}"].unsqueeze(-1)

    def end(self, x, ctx):
        L = self.L
        m = self.coefficients(x, 1, L.final[0], L.final[-1] + 1)
        c = [m[..., k:k + 1] for k in range(len(L.final))]
        x = (x + c[0] * ctx.saved["mudd.x0"] + c[1] * ctx.saved["mudd.h"] + c[2] * ctx.saved["mudd.x_in"]
             + c[4] * ctx.saved["mudd.skip"])
        ve = ctx.saved.get(self.ve_key)
        if ve is not None:
            x = x + c[3] * ve.reshape(x.shape).type_as(x)
        return x

    # -- internals -----------------------------------------------------------------------------------
    def _before_last(self, x, ctx):
        L, H = self.L, self.H
        mu = self.coefficients(x, 0, 0, L.n)

        def c(k):
            return mu[..., k:k + 1]

        x0p, h = ctx.saved["mudd.x0"], ctx.saved["mudd.h"]
        ctx.saved["mudd.x_in"] = x
        ctx.saved["mudd.v"] = L.v_gain * (c(L.v[0]) * x0p + c(L.v[1]) * h + c(L.v[2]) * x)
        halves = torch.cat([c(L.ve_gate[0]), c(L.ve_gate[1])], dim=-1) + L.ve_offset
        ctx.saved[f"ve_gate.{self.last}"] = halves.repeat_interleave(H // 2, dim=-1).unsqueeze(-1)
        inject = c(L.attn[2]) * x0p
        if "bigram" in ctx.saved:
            inject = inject + c(L.attn[3]) * widen(ctx.saved["bigram"], self.d)
        self._override(ctx, self.last, resid_attn=c(L.attn[0]), post_attn=c(L.attn[1]), inject=inject,
                       resid_mlp=c(L.mlp[0]), post_mlp=c(L.mlp[1]))
        return (1 + c(L.resid[2])) * x + c(L.resid[0]) * x0p + c(L.resid[1]) * h

    def _publish(self, g, xsa, attn, pairs, ctx):
        H = self.H
        ctx.saved[f"xsa_alpha.{xsa[0]}"] = g[..., 0:H]
        ctx.saved[f"xsa_alpha.{xsa[1]}"] = g[..., H:2 * H]
        ctx.saved[f"mudd_gate.attn.{attn}"] = g[..., 2 * H:3 * H]
        big = ctx.saved.get("bigram")
        for k, layer in enumerate(pairs):
            at = 3 * H + 2 * k
            inject = g[..., at:at + 1] * ctx.x0
            if big is not None and layer != 1:   # the records' first layer took its bigram before the loop
                inject = inject + g[..., at + 1:at + 2] * widen(big, self.d)
            self._override(ctx, layer, inject=inject)
        return g

    @staticmethod
    def _override(ctx, layer: int, **values):
        key = f"sublayer.{layer}"
        ctx.saved[key] = {**ctx.saved.get(key, {}), **values}


@PARTS.register("mudd", config=MuddConfig)
def mudd(cfg: MuddConfig, model, name: str) -> Part:
    return Mudd(cfg, model)


@ingredient(name="mudd",
            summary="a per-token MLP mixes saved states (x0, layer 8, layer 4) into the last layer's input, "
                    "value and factors, and into the stream after it",
            category="architecture", provenance=(R81, R85), options=MuddConfig, refines=("saved_activation",),
            doc=__doc__)
def INGREDIENT(spec, variant, gates, hidden, saved_layer, skip_layer, ve_layer):
    spec = spec.set("model.parts.mudd", C("mudd", variant=variant, gates=gates, hidden=hidden,
                                          saved_layer=saved_layer, skip_layer=skip_layer, ve_layer=ve_layer))
    saved = spec.model.parts.get("saved_activation")
    if saved is not None and saved.name == "saved_activation":   # #81 folded the backout into m1 = −0.5
        spec = spec.set("model.parts.saved_activation", saved.with_args(backout=False))
    groups = {"mudd": record_group(spec, ("gate.mudd",), lr_mul=0.25, betas=(0.9, 0.99))}
    if gates:
        groups["mudd_gate"] = record_group(spec, ("gate.mudd.gate",), lr_mul=0.1, betas=(0.9, 0.99))
    return with_groups(spec, groups)
