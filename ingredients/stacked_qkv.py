"""Stacked QKV: q, k and v as one (3, d, d) parameter, initialised U(±√3·0.5/√d).

What: GPT-2's c_attn is one (3d, d) linear; here the three weights are stacked in one (3, d, d)
parameter (still one matmul), which Muon orthogonalises as three separate matrices; init std 0.5/√d
(bound √3·0.5/√768 = 0.03125 in GPT-2 small). Where from: #20, which merged the separate q, k and v
linears the speedrun had used since #2 into this one parameter (its init std 0.5/√d is #19's
CastedLinear init). Requires: nothing. Math: changes the init, and under Muon the orthogonalisation
(three d×d matrices instead of one 3d×d).
"""

from ingredients._records import R20
from remix.ingredient import ingredient
from remix.spec import C


@ingredient(name="stacked_qkv", summary="q, k, v stacked in one (3, d, d) weight, uniform init std 0.5/√d",
            category="architecture", provenance=R20, options={"gain": 0.5}, refines=("default_linear_init",),
            doc=__doc__)
def INGREDIENT(spec, gain):
    return spec.set("model.qkv_layout", "stacked").set("model.init.qkv", C("uniform", gain=gain))
