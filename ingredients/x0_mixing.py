"""x0 mixing: every layer starts from a learned mix of the residual stream and the normed embedding.

What: before layer i, x ← a_i·x + b_i·x0, with x0 the stream entering layer 0 (the normed token
embedding) and (a_i, b_i) learned per layer, initialised (1, 0) so that the model starts as without it.
The mix comes after a U-net skip is added (part order), as in the records. Parameters: one (n_layer, 2)
tensor, role `scalar.lambda` (the scalar Adam group: lr 0.04 in A/M's adam_groups); each factor is taken
as a 0-dim tensor, so an fp32 lambda keeps bf16 activations bf16, as in the scripts.
Where from: #9 (11/06/24, 8.2 min, "embedding skip", init (1, 0)); #45 (11/18/25, 2.248 min) starts the
residual factor at 1.1 (option `residual_init`); #49 and #52 re-parametrise the same math.
Requires: nothing. Math: changes it.
"""

from dataclasses import dataclass

import torch
from torch import nn

from remix.ingredient import Provenance, ingredient
from remix.model.parts import LayerSet, Part
from remix.model.roles import declare
from remix.slots import PARTS
from remix.spec import C

R9 = Provenance("9", "11/06/24", "8.2 minutes", "2024-11-06_ShortcutsTweaks", "x0 mixing, init (1, 0)")
R45 = Provenance("45", "11/18/25", "2.248 minutes", "2025-11-18_RefineSkip", "residual factor starts at 1.1")


@dataclass(frozen=True)
class X0MixConfig:
    residual_init: "float" = 1.0
    x0_init: "float" = 0.0
    layers: "tuple[int, ...] | None" = None   # None: every layer


class X0Mix(Part):
    order = 20   # after a U-net skip is added to the stream

    def __init__(self, cfg: X0MixConfig, model):
        super().__init__()
        self.cfg = cfg
        self.where = LayerSet(range(model.n_layer) if cfg.layers is None else cfg.layers, model.n_layer, "x0_mix")
        self.lambdas = nn.Parameter(torch.empty(model.n_layer, 2))
        declare(self, lambdas="scalar.lambda")

    def reset_parameters(self):
        with torch.no_grad():
            self.lambdas[:, 0] = self.cfg.residual_init
            self.lambdas[:, 1] = self.cfg.x0_init

    def attaches(self, hook, layer):
        return layer in self.where

    def before_layer(self, i, x, ctx):
        a, b = self.lambdas[i].unbind()
        return a * x + b * ctx.x0


@PARTS.register("x0_mix", config=X0MixConfig)
def x0_mix(cfg: X0MixConfig, model, name: str) -> Part:
    return X0Mix(cfg, model)


@ingredient(name="x0_mixing", summary="each layer starts from a·x + b·x0 (learned per layer, from (1, 0))",
            category="architecture", provenance=(R9, R45), options=X0MixConfig, doc=__doc__)
def INGREDIENT(spec, residual_init, x0_init, layers):
    return spec.set("model.parts.x0_mixing", C("x0_mix", residual_init=residual_init, x0_init=x0_init, layers=layers))
