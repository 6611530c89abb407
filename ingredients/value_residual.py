"""Value residual: every attention layer mixes its values with the first attention layer's values.

What: in attention layer i, right after the q, k, v projections (v is neither normed nor rotated),
v_i ← (1 − λ_i)·v_i + λ_i·v_first, where v_first is the raw v of the first attention layer of the plan
(layer 0 in #9), kept for the forward. In that first layer the mix is the identity (its λ exists, as in
the record, and gets no gradient). λ: one scalar per attention layer, init 0.5 (option `init`), role
`scalar.lambda.value` (the scalar Adam group; #9 trained it with Adam lr 0.02, betas (0.9, 0.95), #11 at
0.04, #13 betas (0.8, 0.95)). The first layer's v is kept before value embeddings add to it (part order
30, value_embeds 40); no record has both, since #14's value embeddings replaced this in the same place.
Where from: #9 (11/06/24, 8.2 min, 2024-11-06_ShortcutsTweaks, "value skip"), through #13; replaced by
value_embeds in #14. Requires: nothing. Math: changes it.
"""

from dataclasses import dataclass

import torch
from torch import nn

from ingredients._topology import attention_layers
from remix.ingredient import Provenance, ingredient
from remix.model.parts import Part
from remix.model.roles import declare
from remix.slots import PARTS
from remix.spec import C

R9 = Provenance("9", "11/06/24", "8.2 minutes", "2024-11-06_ShortcutsTweaks", "value residual, λ init 0.5")


@dataclass(frozen=True)
class ValueResidualConfig:
    init: "float" = 0.5


class ValueResidual(Part):
    order = 30   # keeps the first layer's v before value embeddings (40) change it

    def __init__(self, cfg: ValueResidualConfig, model, name: str):
        super().__init__()
        self.cfg, self.key = cfg, name
        layers = attention_layers(model)
        if not layers:
            raise ValueError("value_residual: the layer plan leaves no attention layer")
        self.first = layers[0]
        self.row = {layer: r for r, layer in enumerate(layers)}
        self.lambdas = nn.Parameter(torch.empty(len(layers)))
        declare(self, lambdas="scalar.lambda.value")

    def reset_parameters(self):
        with torch.no_grad():
            self.lambdas.fill_(self.cfg.init)

    def attaches(self, hook, layer):
        return layer in self.row

    def qkv(self, i, q, k, v, x, ctx):
        if i == self.first:
            ctx.saved[self.key] = v
        lam = self.lambdas[self.row[i]]
        return q, k, (1 - lam) * v + lam * ctx.saved[self.key]


@PARTS.register("value_residual", config=ValueResidualConfig)
def value_residual(cfg: ValueResidualConfig, model, name: str) -> Part:
    return ValueResidual(cfg, model, name)


@ingredient(name="value_residual", summary="v ← (1−λ)·v + λ·v of the first layer (λ per layer, init 0.5)",
            category="architecture", provenance=R9, options=ValueResidualConfig, doc=__doc__)
def INGREDIENT(spec, init):
    return spec.set("model.parts.value_residual", C("value_residual", init=init))
