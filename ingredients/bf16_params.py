"""All parameters (and buffers) in bfloat16, no autocast.

What: the model is cast to bf16 after init: weights, gradients, optimizer state and the gradient
all-reduce are bf16; logits are cast to fp32 for the loss. This is what A and M do. Where from: #10
(bf16 activations) and the baselines' `.bfloat16()`. Requires: nothing. Math: changes the rounding.
"""

from ingredients._records import R10, REMIXED
from remix.ingredient import ingredient


@ingredient(name="bf16_params", summary="bf16 weights, gradients and optimizer state; no autocast",
            category="precision", provenance=(R10, REMIXED), doc=__doc__)
def INGREDIENT(spec):
    return spec.set("model.param_dtype", "bfloat16").set("train.autocast", "none")
