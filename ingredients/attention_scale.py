"""A fixed attention logit scale of 0.12 instead of 1/√head_dim.

Where from: #20 (with QK-norm the logits' size no longer follows head_dim; 1/√128 would be 0.088).
Requires: nothing. Math: changes it.
"""

from ingredients._records import R20
from remix.ingredient import ingredient


@ingredient(name="attention_scale", summary="attention logits scaled by 0.12", category="attention",
            provenance=R20, options={"scale": 0.12}, doc=__doc__)
def INGREDIENT(spec, scale):
    return spec.set("model.attn_scale", scale)
