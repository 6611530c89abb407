"""Partitioned hyper-connections: from layer 8 on the residual stream runs in two lanes; attention reads
lane 0, the MLP reads lane 1, each sublayer writes both lanes with learned weights.

What it computes (a residual stream of its own, `model.stream = lanes`; 0-based layers of the 12-layer
model). Per layer i and sublayer (attention a, MLP m) there are learned scalars: a residual factor r_i,s
(init √1.1, so a layer still multiplies the stream by 1.1 as #45's x0-mixing factor did), post weights
p_i,s,lane (init 1; attention → lane 1 from the start layer on: 1.5) and an x0 factor a_i (init 0); with
`bigram` also a bigram factor b_i (init 0.05). x0 is the stream entering layer 0 (the normed embedding);
inject_i = a_i·x0 + b_i·bigram, where the first layer's bigram term is added to the stream before the loop
(lane0 = x0 + b_0·bigram) instead. With o = attn(norm(lane0)) and u = mlp(norm(lane1 or lane0)):

  variant "74" (#74, default): layers before the start: lane0 ← r·lane0 + o + inject (no attention post
      weight); at the start lane1 = lane0 (a copy); from the start on: lane0 ← r·lane0 + p0·o + inject,
      lane1 ← r·lane1 + p1·o (the injection goes to lane 0 only, unscaled);
  variant "73" (#73): before the start lane0 ← r·lane0 + p0·(o + inject); from the start on both lanes
      take their post weight times (o + inject);
  variant "77" (#77, one lane, what saved_activation turns this stream into): lane0 ← r·lane0 + p0·o + inject;
  every variant: lane0 ← r·lane0 + p0·u, and from the start on lane1 ← r·lane1 + p1·u.
A layer without attention (or MLP) skips that sublayer. The stream returns (lane0 + lane1)/2 (lane0 when
no lane 1 exists); the final norm and head follow. Parameters are cast to the activations' dtype in the
forward, as the records cast them to bf16.

Hook points: the parts' before_layer and after_layer hooks see lane 0 (the lane later attention reads),
and their result replaces lane 0; lane 1 does not pass through them. A part may make a layer's factors
per-token: if ctx.saved["sublayer.<i>"] (a dict, set by a hook that runs before layer i's attention) has
any of "resid_attn", "post_attn", "resid_mlp", "post_mlp" ((B, T, 1) tensors) or "inject" (a (B, T, d)
tensor), it replaces the static factor (resp. the whole injection) of layer i; the residual factors apply
to both lanes, the post weights to lane 0. MUDD (#81) and its gates (#85) use this.

Where from: #73 (02/12/26, 1.485 min, 2026-02-12_ParallelResiduals, "Partitioned Hyperconnections":
two lanes from 11-layer layer 7 = layer 8 here, 22 sublayer factors, w_post init 1 with attention→lane 1
= 1.5 from layer 7, x0 λ 0, bigram λ 0.05, resid λ √1.1); #74 (02/16/26, 1.468 min,
2026-02-16_FlattenForward, "removed post attention lambdas": the reshaped (11, 2)/(11, 2, 2) factors and
the lane-0-only, unscaled injection); #77 (03/06/26, 1.435 min, 2026-03-06_SimplifyHC) keeps the factors
with one lane. Translation: the records' 11-layer index j is j + 1 here; their first layer's rules (the
bigram term injected before the loop, inject_0 = a_0·x0) apply to this model's layer 0.

Optimizer: the records trained these factors with their own Adam groups, betas (0.9, 0.95), no weight
decay: resid λ at lr_mul 5, post/x0/bigram λ at lr_mul 1. Here they get two new groups relative to the
spec's scalar group (ingredients/_record_groups.py): `sublayer_resid` (role scalar.sublayer.resid, M's
scalar lr 0.04) and `sublayer` (scalar.sublayer.post/.x0/.bigram, 0.04 / 5 = 0.008), betas (0.9, 0.95).
Not carried over: the records' Adam steps only on odd steps (#39 on), which M's Adam does not.

Requires: nothing. `bigram` needs a part that puts the bigram embedding (B, T, k ≤ d; a narrower one fills
the first k channels, as #85) in ctx.saved["bigram"] before the stream runs (the embed hook). Conflicts:
x0_mixing (the records replaced the per-layer x0 mix with these factors). Differences from the records:
their U-net skip source was lane 0 between the attention and the MLP of its layer, while a skip part here
sees lane 0 at the layer's end; their backout subtracted from the lane mean (a backout part's end hook
does the same here). Math: changes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ingredients._record_groups import record_group, with_groups
from remix.ingredient import Provenance, ingredient
from remix.model.parts import LayerSet
from remix.model.roles import declare
from remix.slots import STREAMS
from remix.spec import C, Spec

R73 = Provenance("73", "02/12/26", "1.485 minutes", "2026-02-12_ParallelResiduals",
                 "partitioned hyper-connections: two lanes from 11-layer layer 7")
R74 = Provenance("74", "02/16/26", "1.468 minutes", "2026-02-16_FlattenForward",
                 "flattened forward: no attention post weight before the lanes split, injection into lane 0 only")
R77 = Provenance("77", "03/06/26", "1.435 minutes", "2026-03-06_SimplifyHC",
                 "one lane again, the per-sublayer factors kept (variant 77)")

VARIANTS = ("73", "74", "77")
OVERRIDES = ("resid_attn", "post_attn", "resid_mlp", "post_mlp", "inject")


@dataclass(frozen=True)
class LanesConfig:
    variant: "str" = "74"          # 73 | 74 | 77 (one lane)
    start: "int | None" = 8        # the first layer with two lanes (#73/#74: 11-layer 7); unused by 77
    bigram: "bool" = False         # inject ctx.saved["bigram"] with a per-layer factor (init 0.05)
    resid_init: "float" = math.sqrt(1.1)
    lane1_attn_init: "float" = 1.5
    bigram_init: "float" = 0.05

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")


def widen(t: torch.Tensor, d: int) -> torch.Tensor:
    """A (…, k) tensor as (…, d): zeros after its k channels (the records add a narrow bigram to x[..., :k])."""
    return t if t.size(-1) == d else F.pad(t, (0, d - t.size(-1)))


class Lanes(nn.Module):
    """The residual stream of partitioned hyper-connections (see the module's docstring)."""

    def __init__(self, cfg: LanesConfig, model):
        super().__init__()
        n = model.n_layer
        self.cfg, self.d = cfg, model.d_model
        self.variant = cfg.variant
        two = cfg.variant != "77" and cfg.start is not None
        self.start = min(LayerSet([cfg.start], n, "lanes start").layers) if two else None
        lanes = 2 if two else 1
        self.resid = nn.Parameter(torch.empty(n, 2))           # [layer, (attention, MLP)]
        self.post = nn.Parameter(torch.empty(n, 2, lanes))     # [layer, (attention, MLP), lane]
        self.x0 = nn.Parameter(torch.empty(n))
        declare(self, resid="scalar.sublayer.resid", post="scalar.sublayer.post", x0="scalar.sublayer.x0")
        self.bigram = None
        if cfg.bigram:
            self.bigram = nn.Parameter(torch.empty(n))
            declare(self, bigram="scalar.sublayer.bigram")

    def init_weights(self, init) -> None:   # called once by remix.model.init_weights
        with torch.no_grad():
            self.resid.fill_(self.cfg.resid_init)
            self.post.fill_(1.0)
            if self.start is not None:
                self.post[self.start:, 0, 1] = self.cfg.lane1_attn_init
            self.x0.zero_()
            if self.bigram is not None:
                self.bigram.fill_(self.cfg.bigram_init)

    def forward(self, x, layers, hooks, ctx):
        r_attn, r_mlp = (r.unbind(0) for r in self.resid.type_as(x).unbind(1))
        p_attn, p_mlp = ([p.unbind(0) for p in s.unbind(0)] for s in self.post.type_as(x).unbind(1))
        a = self.x0.type_as(x).unbind(0)
        big = b = None
        if self.bigram is not None:
            if "bigram" not in ctx.saved:
                raise KeyError("the lanes stream injects ctx.saved['bigram'], but no part put it there")
            big, b = widen(ctx.saved["bigram"], self.d), self.bigram.type_as(x).unbind(0)
        x0 = ctx.x0
        lane0 = x if big is None else x + b[0] * big
        lane1 = None
        for i, layer in enumerate(layers):
            for hook in hooks.at("before_layer", i):
                lane0 = hook(i, lane0, ctx)
            if i == self.start:
                lane1 = lane0
            over = ctx.saved.get(f"sublayer.{i}", {})
            if layer.attn is not None:
                o = layer.attn(layer.attn_norm(lane0), ctx)
                if "inject" in over:
                    inject = over["inject"]
                else:
                    inject = a[i] * x0 if big is None or i == 0 else a[i] * x0 + b[i] * big
                lane0, lane1 = self._attention(lane0, lane1, o, inject, over.get("resid_attn", r_attn[i]),
                                               over.get("post_attn"), p_attn[i])
            if layer.mlp is not None:
                u = layer.mlp(layer.mlp_norm(lane0 if lane1 is None else lane1))
                r = over.get("resid_mlp", r_mlp[i])
                lane0 = r * lane0 + over.get("post_mlp", p_mlp[i][0]) * u
                if lane1 is not None:
                    lane1 = r * lane1 + p_mlp[i][1] * u
            for hook in hooks.at("after_layer", i):
                lane0 = hook(i, lane0, ctx)
        return lane0 if lane1 is None else (lane0 + lane1) * 0.5

    def _attention(self, lane0, lane1, o, inject, r, post, p):
        p0 = p[0] if post is None else post
        if self.variant == "73":
            o = o + inject
            lane0 = r * lane0 + p0 * o
            if lane1 is not None:
                lane1 = r * lane1 + p[1] * o
            return lane0, lane1
        if self.variant == "74" and lane1 is None:   # before the split: no attention post weight
            return r * lane0 + (o if post is None else post * o) + inject, None
        lane0 = r * lane0 + p0 * o + inject
        if lane1 is not None:
            lane1 = r * lane1 + p[1] * o
        return lane0, lane1


@STREAMS.register("lanes", config=LanesConfig)
def lanes(cfg: LanesConfig, model) -> nn.Module:
    return Lanes(cfg, model)


def with_sublayer_groups(spec: Spec) -> Spec:
    """The two Adam groups of the records' sublayer factors (#73/#74/#77), relative to the scalar group."""
    return with_groups(spec, {
        "sublayer": record_group(spec, ("scalar.sublayer",), lr_mul=1.0, betas=(0.9, 0.95)),
        "sublayer_resid": record_group(spec, ("scalar.sublayer.resid",), lr_mul=5.0, betas=(0.9, 0.95)),
    })


@ingredient(name="partitioned_hyperconnections",
            summary="two residual lanes from layer 8: attention reads lane 0, the MLP lane 1; learned "
                    "per-sublayer residual and write weights",
            category="architecture", provenance=(R73, R74, R77), options=LanesConfig, conflicts=("x0_mixing",),
            doc=__doc__)
def INGREDIENT(spec, variant, start, bigram, resid_init, lane1_attn_init, bigram_init):
    stream = C("lanes", variant=variant, start=start, bigram=bigram, resid_init=resid_init,
               lane1_attn_init=lane1_attn_init, bigram_init=bigram_init)
    return with_sublayer_groups(spec.set("model.stream", stream))
