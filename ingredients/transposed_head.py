"""Transposed head storage: the LM head's weight is stored (d, V) instead of (V, d).

What: logits = x·W with W of shape (d_model, padded vocab) (the (V, d) head's Wᵀ), so the weight
gradient comes out of the backward product (xᵀ·g, or x_qᵀ·g_q for the FP8 head) in the layout of the
weight. In #61 the old layout's gradient, made as (d, V) against a (V, d) parameter, was accumulated and
cast by an element-wise kernel over mismatched strides about 4× slower than over matching ones; #74 and
#76 then wrote Triton transpose kernels for the copies that remain (not needed here: under
torch.compile the copies are fused with the FP8 casts). If the head is the FP8 head this sets its
`transposed` option; a plain head becomes model.head = "transposed". Initialisation is the (V, d) one
(fan-in d), the role stays `head` (its Adam group is element-wise, so the layout does not change it).
Where from: #61 (01/18/26, 1.748 min, 2026-01-18_UnifiedOptimizers: CastedLinearT); transpose kernels
#74 (02/16/26) and #76 (02/28/26).
Requires: untied_head (a tied table is the embedding's (V, d) rows). Math: the same (a layout).
"""

import torch
from torch import nn

from remix.ingredient import Provenance, ingredient
from remix.model.head import padded_vocab
from remix.model.roles import declare
from remix.registry import RegistryError
from remix.slots import HEADS
from remix.spec import C

R61 = Provenance("61", "01/18/26", "1.748 minutes", "2026-01-18_UnifiedOptimizers", "CastedLinearT: head stored (d, V)")
R74 = Provenance("74", "02/16/26", "1.468 minutes", "2026-02-16_FlattenForward", "transpose_add/transpose_copy kernels")
R76 = Provenance("76", "02/28/26", "1.446 minutes", "2026-02-28_TransposeCopyBackward", "retuned transpose_copy")


class TransposedHead(nn.Module):
    """hidden (…, d) -> logits (…, padded vocab) = x·W, W stored (d, V), cast to x's dtype at use."""

    def __init__(self, model):
        super().__init__()
        if model.tie_embeddings:
            raise RegistryError("the transposed head needs an untied head (untied_head): a tied table is (V, d)")
        self.weight = nn.Parameter(torch.empty(model.d_model, padded_vocab(model)))
        declare(self, weight="head")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.type_as(x)

    def init_weights(self, init) -> None:
        init(self.weight.t(), "head")


@HEADS.register("transposed")
def transposed(cfg, model, embed) -> nn.Module:
    return TransposedHead(model)


@ingredient(name="transposed_head", summary="LM head weight stored (d, V): its gradient comes out in its layout",
            category="systems", provenance=(R61, R74, R76), requires=("untied_head",), math_equivalent=True,
            doc=__doc__)
def INGREDIENT(spec):
    if spec.model.head.name == "fp8":
        return spec.set("model.head.transposed", True)
    if spec.model.head.name != "linear":
        raise RegistryError(f"transposed_head: don't know how to transpose model.head = {spec.model.head.name!r}")
    return spec.set("model.head", C("transposed"))
