"""No biases in any linear layer or norm.

What: the attention and MLP projections (and LayerNorm, if it is still there) lose their biases.
Where from: the speedrun's first script (#2 era) dropped llm.c's biases. Requires: nothing.
Math: changes it (fewer parameters).
"""

from ingredients._records import R2
from remix.ingredient import ingredient


@ingredient(name="no_bias", summary="drop every bias", category="architecture", provenance=R2, doc=__doc__)
def INGREDIENT(spec):
    return spec.set("model.bias", False)
