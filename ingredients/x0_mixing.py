"""x0 mixing: every layer starts from a learned mix of the residual stream and the normed embedding.

What: before layer i, x ← a_i·x + b_i·x0, with x0 the stream entering layer 0 (the normed token
embedding, after smear where smear is on) and (a_i, b_i) learned per layer, initialised (1, 0) so that
the model starts as without it. The mix comes after a U-net skip is added (part order 20, the skip 10),
so a decoder layer starts from a·(x + w·skip) + b·x0, as in the records.
Layers (option `layers`): None = every layer the layer plan does not empty. #9–#34 mix in all 12 layers
(layer 0 sees (a_0 + b_0)·x0); from #35 on layer 0 is empty and the records' loop skipped it, so its mix
is skipped too; an explicit list mixes exactly there.
Parameters: two (n_layer,) tensors, `residual` (the a_i, role `scalar.lambda.residual`) and `x0` (the b_i,
role `scalar.lambda.x0`): the scalar Adam group (lr 0.04 in A/M's adam_groups), as #9–#51 trained them;
the separate roles let a later optimizer ingredient route the x0 factors on their own as #52 did. Each
factor is taken as a 0-dim tensor, so an fp32 lambda keeps bf16 activations bf16, as in the scripts.
Where from: #9 (11/06/24, 8.2 min, 2024-11-06_ShortcutsTweaks, "embedding skip", init (1, 0); used by
record 21 unchanged); #45 (11/18/25, 2.248 min, 2025-11-18_RefineSkip) starts the residual factor at
1.1 (option `residual_init`); #49 (two vectors of 11) and #52 (x0 factors a parameter of their own, Adam
betas (0.65, 0.95)) re-parametrise the same math; #73/#77 moved the x0 term into the layers
(hyper-connections: another ingredient).
Requires: nothing (x0 is the normed embedding when embed_norm is on, the raw embedding otherwise).
Math: changes it.
"""

from dataclasses import dataclass

import torch
from torch import nn

from ingredients._topology import active_layers
from remix.ingredient import Provenance, ingredient
from remix.model.parts import LayerSet, Part
from remix.model.roles import declare
from remix.slots import PARTS
from remix.spec import C

R9 = Provenance("9", "11/06/24", "8.2 minutes", "2024-11-06_ShortcutsTweaks", "x0 mixing, init (1, 0)")
R35 = Provenance("35", "09/21/25", "2.527 minutes", "2025-09-21_DropAttn", "the empty layer 0 is skipped, mix included")
R45 = Provenance("45", "11/18/25", "2.248 minutes", "2025-11-18_RefineSkip", "residual factor starts at 1.1")
R52 = Provenance("52", "12/21/25", "2.037 minutes", "2025-12-21_SmoothedScalars", "x0 factors a parameter of their own")


@dataclass(frozen=True)
class X0MixConfig:
    residual_init: "float" = 1.0
    x0_init: "float" = 0.0
    layers: "tuple[int, ...] | None" = None   # None: every layer the plan does not empty


class X0Mix(Part):
    order = 20   # after a U-net skip is added to the stream

    def __init__(self, cfg: X0MixConfig, model):
        super().__init__()
        self.cfg = cfg
        self.where = LayerSet(active_layers(model) if cfg.layers is None else cfg.layers, model.n_layer, "x0_mix")
        self.residual = nn.Parameter(torch.empty(model.n_layer))
        self.x0 = nn.Parameter(torch.empty(model.n_layer))
        declare(self, residual="scalar.lambda.residual", x0="scalar.lambda.x0")

    def reset_parameters(self):
        with torch.no_grad():
            self.residual.fill_(self.cfg.residual_init)
            self.x0.fill_(self.cfg.x0_init)

    def attaches(self, hook, layer):
        return layer in self.where

    def before_layer(self, i, x, ctx):
        return self.residual[i] * x + self.x0[i] * ctx.x0


@PARTS.register("x0_mix", config=X0MixConfig)
def x0_mix(cfg: X0MixConfig, model, name: str) -> Part:
    return X0Mix(cfg, model)


@ingredient(name="x0_mixing", summary="each layer starts from a·x + b·x0 (learned per layer, from (1, 0))",
            category="architecture", provenance=(R9, R35, R45, R52), options=X0MixConfig, doc=__doc__)
def INGREDIENT(spec, residual_init, x0_init, layers):
    return spec.set("model.parts.x0_mixing", C("x0_mix", residual_init=residual_init, x0_init=x0_init, layers=layers))
