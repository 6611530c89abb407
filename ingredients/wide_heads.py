"""Six attention heads of 128 instead of twelve of 64.

What: the same width (768) split into 6 heads of head_dim 128. Where from: #5.
Requires: nothing. Math: changes it.
"""

from ingredients._records import R5
from remix.ingredient import ingredient


@ingredient(name="wide_heads", summary="6 heads × 128 instead of 12 × 64", category="architecture",
            provenance=R5, options={"head_dim": 128}, doc=__doc__)
def INGREDIENT(spec, head_dim):
    return spec.set("model.head_dim", head_dim).set("model.n_head", spec.model.d_model // head_dim)
