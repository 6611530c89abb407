"""Smaller uniform init for the input-side linears: QKV and MLP-up U(±√3·0.5/√fan_in).

What: the attention's q, k, v weights and the MLP's up-projection start at U(±√3·gain/√fan_in),
std gain/√fan_in with gain 0.5 (U(±1/32) at fan_in 768), instead of PyTorch's default
U(±1/√fan_in) (std 0.577/√fan_in); the projections that write into the stream (attention out, MLP
down) and the head keep their zero init. In M this changes the MLP's up-projection only (its QKV
already has this init, through stacked_qkv, which took it from #19 via #20).
Where from: #19 (01/13/25, 3.142 min, 2025-01-13_Fp8LmHead): the CastedLinear default init of c_q,
c_k, c_v and c_fc. #42 (10/27/25, 2025-10-27_FixMuonLR) set the CastedLinear default to zero but every
CastedLinear it reached was already zeroed explicitly, so it changed nothing (no ingredient).
Requires: nothing. Math: changes it (init).
"""

from remix.ingredient import Provenance, ingredient
from remix.spec import C

R19 = Provenance("19", "01/13/25", "3.142 minutes", "2025-01-13_Fp8LmHead", "CastedLinear init U(±√3·0.5/√fan_in)")


@ingredient(name="smaller_linear_init", summary="QKV and MLP-up start at U(±√3·0.5/√fan_in)", category="architecture",
            provenance=R19, options={"gain": 0.5}, refines=("default_linear_init", "stacked_qkv"), doc=__doc__)
def INGREDIENT(spec, gain):
    return spec.set("model.init.qkv", C("uniform", gain=gain)).set("model.init.mlp_up", C("uniform", gain=gain))
