"""Merged QKV: one (3, d, d) parameter, initialised U(±√3·0.5/√d).

What: q, k and v weights live in one stacked parameter (one matmul), which Muon treats as three
separate matrices; init std 0.5/√d (bound √3·0.5/√768 = 0.03125 in GPT-2 small).
Where from: #20 (its init std 0.5/√d is #19's CastedLinear init, applied here to the merged weight). Requires: nothing.
Math: changes the init, and under Muon the orthogonalisation of a fused (3d, d) matrix.
"""

from ingredients._records import R20
from remix.ingredient import ingredient
from remix.spec import C


@ingredient(name="merged_qkv", summary="one stacked (3, d, d) QKV weight, uniform init std 0.5/√d",
            category="architecture", provenance=R20, options={"gain": 0.5}, doc=__doc__)
def INGREDIENT(spec, gain):
    return spec.set("model.qkv_layout", "stacked").set("model.init.qkv", C("uniform", gain=gain))
