"""Learnable XSA: each head removes a learned fraction of its output's component along its own value.

What: in each chosen layer, after the attention core and before any output gate, for every token t
and head h, with v the value vector the core received for that token and head (value-embedding terms
included) and v̂ = v / max(‖v‖, 1e-4):
    y ← y − tanh(α_h) · ⟨y, v̂⟩ · v̂
α is one learned number per layer and head, zero-initialised, so the layer starts as without it
(tanh 0 = 0); tanh keeps the removed fraction in (−1, 1). Parameters: one (n_layer, n_head) tensor
(rows of layers without XSA unused, as in the record), role `scalar.xsa`; the record trained it with
Adam at lr 0.008 × 1, betas (0.9, 0.95), no weight decay, so where the spec has M's Adam scalar
group this adds a group `xsa` with those values (and that group's eps). The record kept α in fp32 and
cast tanh(α) to the activations' dtype; here α takes the model's parameter dtype (bf16 in M) unless
model.dtypes says otherwise, and tanh(α) is cast the same way. Runs on the `heads` hook with order
40, before a gate part (order 50 by default), and reads v from the `rotated` hook.
Layers (option `layers`): None (default) = the record's rule, "every attention layer that is not
paired-head": in the 11-layer #82 that is 1, 3, 4, 7, 8, 10, i.e. (2, 4, 5, 8, 9, 11) in the 12-layer
numbering used here (give those for the record's set; M has no paired layers, so there the rule picks
every layer).
Where from: #82 (04/29/26, 1.353 min, 2026-04-29_XSAGatedLayers, log this_pr_v1-s1410/06563169…, run on
8×H200; after arXiv:2603.09078 with a learnable strength). #85 (05/27/26) made α per token (tanh of
MUDD-gate outputs, layers 1, 3, 4, 7 only): not here. #86 (05/27/26, 1.266 min, no log; PR #317 commit
7f57d6b9) rewrote it as y − tanh(α)·(⟨y, v⟩ / max(‖v‖², 1e-8))·v, the same math (max(‖v‖, 1e-4)² =
max(‖v‖², 1e-8)), but the same commit also deleted the sparse attention gates of every layer, a math
change the README does not mention and that this ingredient does not make (drop the gate ingredient
for that). Requires: nothing. Math: changes it.
"""

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from ingredients.paired_head_attention import paired_layers
from remix.ingredient import Provenance, ingredient
from remix.model.parts import LayerSet, Part
from remix.model.roles import declare
from remix.slots import PARTS
from remix.spec import C, OptimGroup

R82 = Provenance("82", "04/29/26", "1.353 minutes", "2026-04-29_XSAGatedLayers",
                 "per-(layer, head) tanh(α), non-paired layers 1, 3, 4, 7, 8, 10 (11-layer)")
R86 = Provenance("86", "05/27/26", "1.266 minutes", "", "PR #317: same XSA math rewritten; that commit also removed the attention gates")


@dataclass(frozen=True)
class XSAConfig:
    layers: "tuple[int, ...] | None" = None


class XSA(Part):
    order = 40   # on the heads hook: before an output gate

    def __init__(self, cfg: XSAConfig, model):
        super().__init__()
        if cfg.layers is None:
            skip = set(model.layers.no_attention) | paired_layers(model)
            layers = [i for i in range(model.n_layer) if i not in skip]
        else:
            layers = cfg.layers
        self.where = LayerSet(layers, model.n_layer, "xsa")
        self.alpha = nn.Parameter(torch.zeros(model.n_layer, model.n_head))
        declare(self, alpha="scalar.xsa")

    def reset_parameters(self):
        with torch.no_grad():
            self.alpha.zero_()

    def attaches(self, hook, layer):
        return layer in self.where

    def rotated(self, i, q, k, v, ctx):
        ctx.saved[f"xsa.v{i}"] = v
        return q, k, v

    def heads(self, i, y, ctx):
        direction = F.normalize(ctx.saved[f"xsa.v{i}"], dim=-1, eps=1e-4)
        along = (y * direction).sum(dim=-1, keepdim=True)
        strength = torch.tanh(self.alpha[i]).type_as(y).view(1, 1, -1, 1)
        return y - strength * along * direction


@PARTS.register("xsa", config=XSAConfig)
def xsa(cfg: XSAConfig, model, name: str) -> Part:
    return XSA(cfg, model)


@ingredient(name="learnable_xsa", summary="each head removes tanh(α)·its output's component along its own value",
            category="attention", provenance=(R82, R86), options=XSAConfig, doc=__doc__)
def INGREDIENT(spec, layers):
    spec = spec.set("model.parts.xsa", C("xsa", layers=None if layers is None else tuple(layers)))
    scalar = spec.optim.get("scalar")
    if scalar is not None and scalar.optimizer == "adam" and "xsa" not in spec.optim:
        args = {**scalar.args, "betas": (0.9, 0.95), "weight_decay": 0.0}
        spec = replace(spec, optim={**spec.optim, "xsa": OptimGroup("adam", ("scalar.xsa",), 0.008, args)})
    return spec
