"""Single saved activation: the output of layer 8 is kept; the attention of every later layer reads it
(normed) instead of the live stream, and it is backed out of the stream before the final norm.

What it computes (0-based layers of the 12-layer model): x_s = the residual stream leaving layer `layer`
(default 8, after its MLP and after the parts' after_layer hooks that run before this one); each later
layer's attention reads norm(x_s) instead of norm(x) (the attention's input hook, attn_in), while its MLP
reads the live stream; with `backout`, after the last layer x ← x − λ·x_s (λ learned, init 0.5), then the
final norm and head. norm is the spec's norm (model.norm), which must be parameter-free (M's RMSNorm, as
in the records; the part refuses a norm with a gain, whose per-layer gains the hook would bypass), so
norm(x_s) is computed once per forward where the record computed it per layer (the same value).
λ has role scalar.backout: the records kept it in their packed `scalars` (Adam lr_mul 5, betas
(0.9, 0.99), no decay), whose counterpart is M's scalar group (lr 0.04; betas (0.8, 0.95) there).

Residual wiring: #77 also kept the per-sublayer factors of #73/#74 (x ← r·x + p·attn + a·x0 + b·bigram;
x ← r·x + p·MLP) with one lane. If the spec's stream is already the lanes stream of
partitioned_hyperconnections, this ingredient switches it to that one-lane form (variant "77"), as the
record did; on the plain stream (M) the option `sublayer_lambdas` brings it (and its two Adam groups, see
partitioned_hyperconnections); by default the plain pre-norm stream stays, so on M this is the saved
activation and the backout alone.

Where from: #77 (03/06/26, 1.435 min, 2026-03-06_SimplifyHC, "Replace partitioned hyperconnections with
single saved activation": x_s = output of 11-layer layer 7 = layer 8 here, read by the attention of 11-layer
layers 8–10 = 9–11 here; backout λ 0.5, previously #40's backout from the same layer). Carried unchanged
through #80; #81 (MUDD) removed the backout and folded it into MUDD's final coefficients (the mudd
ingredient turns `backout` off). Values for other parts: ctx.saved["saved_activation"] (x_s) and
ctx.saved["saved_activation.normed"] (norm(x_s)).

Requires: rmsnorm (a parameter-free norm, see above). Differences: #77's 11-layer layer 6 (no attention)
took the U-net skip in place of its attention sublayer; that belongs to the skip and dropped-attention
ingredients. If the catalogue's own
backout ingredient (#40) is also in a recipe, both subtract a saved activation: use one. Math: changes it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ingredients.partitioned_hyperconnections import R77, with_sublayer_groups
from remix.ingredient import ingredient
from remix.model.parts import LayerSet, Part
from remix.model.roles import declare
from remix.slots import NORMS, PARTS, build
from remix.spec import C


@dataclass(frozen=True)
class SavedActivationConfig:
    layer: "int" = 8               # 11-layer 7
    backout: "bool" = True         # x ← x − λ·x_s before the final norm
    backout_init: "float" = 0.5


class SavedActivation(Part):
    order = 30   # after_layer: saves the stream as the earlier parts left it

    def __init__(self, cfg: SavedActivationConfig, model):
        super().__init__()
        n = model.n_layer
        self.cfg = cfg
        self.layer = min(LayerSet([cfg.layer], n, "saved_activation").layers)
        if self.layer == n - 1 and not cfg.backout:
            raise ValueError("saved_activation: the last layer's output has no later attention to feed")
        self.norm = build(NORMS, model.norm, model.d_model, model.bias)
        if any(True for _ in self.norm.parameters()):
            raise ValueError("saved_activation needs a parameter-free norm (rmsnorm): with a gain, the reading "
                             "layers' own attention-norm gains would be bypassed")
        self.backout = None
        if cfg.backout:
            self.backout = nn.Parameter(torch.empty(1))
            declare(self, backout="scalar.backout")

    def reset_parameters(self):
        if self.backout is not None:
            with torch.no_grad():
                self.backout.fill_(self.cfg.backout_init)

    def attaches(self, hook, layer):
        if hook == "after_layer":
            return layer == self.layer
        if hook == "attn_in":
            return layer > self.layer
        return hook == "end" and self.backout is not None

    def after_layer(self, i, x, ctx):
        ctx.saved["saved_activation"] = x
        ctx.saved["saved_activation.normed"] = self.norm(x)
        return x

    def attn_in(self, i, x, ctx):
        return ctx.saved["saved_activation.normed"]

    def end(self, x, ctx):
        return x - self.backout.type_as(x) * ctx.saved["saved_activation"]


@PARTS.register("saved_activation", config=SavedActivationConfig)
def saved_activation(cfg: SavedActivationConfig, model, name: str) -> Part:
    return SavedActivation(cfg, model)


@ingredient(name="saved_activation",
            summary="attention after layer 8 reads norm(layer 8's output); that output is backed out at the end",
            category="architecture", provenance=R77,
            options={**asdict(SavedActivationConfig()), "sublayer_lambdas": False},
            requires=("rmsnorm",), refines=("partitioned_hyperconnections",), doc=__doc__)
def INGREDIENT(spec, layer, backout, backout_init, sublayer_lambdas):
    spec = spec.set("model.parts.saved_activation",
                    C("saved_activation", layer=layer, backout=backout, backout_init=backout_init))
    stream = spec.model.stream
    if stream.name == "lanes":
        return spec.set("model.stream", stream.with_args(variant="77"))
    if sublayer_lambdas:
        return with_sublayer_groups(spec.set("model.stream", C("lanes", variant="77")))
    return spec
