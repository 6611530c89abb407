"""Zero-initialise the projections that write into the residual stream (attention out, MLP down).

What: each block starts as the identity. Where from: #5. Requires: nothing. Math: changes it (init).
"""

from ingredients._records import R5
from remix.ingredient import ingredient
from remix.spec import C


@ingredient(name="zero_init_projections", summary="attention-out and MLP-down start at zero",
            category="architecture", provenance=R5, refines=("default_linear_init",), doc=__doc__)
def INGREDIENT(spec):
    return spec.set("model.init.attn_out", C("zero")).set("model.init.mlp_down", C("zero"))
