"""Backout: subtract a learned share of an intermediate layer's output from the stream before the final norm.

What: h = the residual stream leaving layer 8 (option `layer`, 12-layer index; the 11-layer scripts from
#49 on say 7); after the last layer, x ← x − λ·h, then the final norm and the head. λ: one scalar, init 0.5
(option `init`), role `scalar.backout` (the scalar Adam group, lr 0.04 = 0.008 × 5 as the records'
`scalars`). The record's comment: it backs out contributions of the first layers that are needed only
as context for later layers.
Where from: #40 (10/04/25, 2.358 min, 2025-10-04_Backout), #49 (12/14/25, 2.146 min, same at 11-layer index 7).
Not here: #77 (03/06/26) also lets the attention of layers 9-11 read norm(h) (hyper-connection era).
Requires: nothing. Math: changes it.
"""

from dataclasses import dataclass

import torch
from torch import nn

from remix.ingredient import Provenance, ingredient
from remix.model.parts import Part
from remix.model.roles import declare
from remix.slots import PARTS
from remix.spec import C

R40 = Provenance("40", "10/04/25", "2.358 minutes", "2025-10-04_Backout", "x ← x − λ·h_8 before the final norm")
R49 = Provenance("49", "12/14/25", "2.146 minutes", "2025-12-14_PartialKeyOffset", "11 layers: h of layer 7")


@dataclass(frozen=True)
class BackoutConfig:
    layer: "int" = 8
    init: "float" = 0.5


class Backout(Part):
    def __init__(self, cfg: BackoutConfig, model, name: str):
        super().__init__()
        if not -model.n_layer <= cfg.layer < model.n_layer:
            raise ValueError(f"backout: layer {cfg.layer} does not exist in a model of {model.n_layer} layers")
        self.cfg, self.key, self.layer = cfg, name, cfg.layer % model.n_layer
        self.lam = nn.Parameter(torch.empty(()))
        declare(self, lam="scalar.backout")

    def reset_parameters(self):
        with torch.no_grad():
            self.lam.fill_(self.cfg.init)

    def attaches(self, hook, layer):
        return hook == "end" or layer == self.layer

    def after_layer(self, i, x, ctx):
        ctx.saved[self.key] = x
        return x

    def end(self, x, ctx):
        return x - self.lam * ctx.saved[self.key]


@PARTS.register("backout", config=BackoutConfig)
def backout(cfg: BackoutConfig, model, name: str) -> Part:
    return Backout(cfg, model, name)


@ingredient(name="backout", summary="x ← x − λ·(output of layer 8) before the final norm (λ init 0.5)",
            category="architecture", provenance=(R40, R49), options=BackoutConfig, doc=__doc__)
def INGREDIENT(spec, layer, init):
    return spec.set("model.parts.backout", C("backout", layer=layer, init=init))
