"""Nonzero attention-output init: Q, K, V and O all start at U(±√3·0.5/√fan_in).

What: the whole attention bank, the output projection included (which zero_init_projections and
every record since #5 had started at zero), starts at U(±√3·gain/√fan_in), gain 0.5 (U(±1/32) at
fan_in 768); q, k, v back from #53's U(±1/16) to U(±1/32); MLP-up U(±1/32) (unchanged in the records;
in M, from PyTorch's default), MLP-down stays zero. Each attention layer then adds a small random
function of its input from the first step.
Where from: #67 (01/31/26, 1.540 min, 2026-01-24_ImprovedLMHead, log record/73a071ac…), a record
described as kernel tuning whose script also made this init change; kept by every later record.
Requires: nothing. Math: changes it (init).
"""

from remix.ingredient import Provenance, ingredient
from remix.spec import C

R67 = Provenance("67", "01/31/26", "1.540 minutes", "2026-01-24_ImprovedLMHead", "attention bank Q, K, V, O U(±1/32)")


@ingredient(name="nonzero_attn_out_init", summary="Q, K, V, O and MLP-up start at U(±√3·0.5/√fan_in); MLP-down zero",
            category="architecture", provenance=R67, options={"gain": 0.5},
            refines=("default_linear_init", "zero_init_projections", "stacked_qkv", "larger_qkv_init"), doc=__doc__)
def INGREDIENT(spec, gain):
    for kind in ("qkv", "attn_out", "mlp_up"):
        spec = spec.set(f"model.init.{kind}", C("uniform", gain=gain))
    return spec.set("model.init.mlp_down", C("zero"))
