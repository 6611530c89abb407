"""Larger QKV init: std 1/√d instead of 0.5/√d.

What: the attention's q, k, v weights start at U(±√3·gain/√fan_in) with gain 1.0, i.e. U(±1/16) at
d = 768 (was U(±1/32)); the output projection stays at zero, the MLP unchanged.
Where from: #53 (12/22/25, 1.988 min, 2025-12-22_MultiTokenPrediction), in the same record as
multi-token prediction and the untie at 2/3; #58's paired-head layers use it too; #67 went back to
1/32 for the whole attention bank (nonzero_attn_out_init). Requires: nothing. Math: changes it (init).
"""

from remix.ingredient import Provenance, ingredient
from remix.spec import C

R53 = Provenance("53", "12/22/25", "1.988 minutes", "2025-12-22_MultiTokenPrediction", "W_qkv U(±1/16)")


@ingredient(name="larger_qkv_init", summary="QKV starts at U(±√3/√d) (std 1/√d)", category="architecture",
            provenance=R53, options={"gain": 1.0}, refines=("stacked_qkv",), doc=__doc__)
def INGREDIENT(spec, gain):
    return spec.set("model.init.qkv", C("uniform", gain=gain))
