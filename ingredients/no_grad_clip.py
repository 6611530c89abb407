"""No gradient clipping.

What: llm.c clips the global gradient norm at 1.0; the speedrun's scripts never clip (the first one
normalised each parameter's gradient instead, and that went in June 2024), and neither do A or M.
Where from: #2 era. Requires: nothing. Math: changes it (only when a step's norm exceeds the clip).
"""

from ingredients._records import R2
from remix.ingredient import ingredient


@ingredient(name="no_grad_clip", summary="turn off gradient-norm clipping", category="hyperparameters",
            provenance=R2, doc=__doc__)
def INGREDIENT(spec):
    return spec.set("train.grad_clip", None)
