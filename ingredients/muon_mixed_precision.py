"""Muon mixed precision: bf16 matrices with an fp32 master kept as a 16-bit mantissa, fp32 Muon state.

What it does
    Every Muon group gets state_dtype "float32" (momentum and NorMuon state in fp32; the bf16 gradient
    is cast on arrival and Nesterov computed in fp32) and master "mantissa": the optimizer keeps a
    16-bit word per weight, and the bf16 weight (high half) with that word (low half) is an fp32 master.
    Each step the master is rebuilt, the decay and the update are applied to it in fp32, and it is split
    back, so the forward sees the master truncated toward zero to bf16 (not rounded). The word starts at
    0: the first master is the bf16 init. Where the matrices are not bf16 already (M's bf16_params makes
    them so), model.dtypes.matrix becomes bfloat16 (#57 created its attention and MLP weights in bf16).
    The direction V stays bf16 (NorMuon's factor is cast to bf16 and applied to it), as in #57.

Where it came from
    #57 (01/04/26, 1.878 min, 2026-01-04_MixedPrecisionInterweavedOptimizer), kept through #89. #57 also
    interleaved the Adam and Muon steps (systems) and set per-label Adam betas (per_label_betas).

What it requires
    muon. It is most like #57 after bf16_params (M), whose bf16 matrices would otherwise be updated in bf16.

Does it change the math
    The precision only: the update lands on an fp32 master instead of a bf16 weight (not bit-equivalent).
"""

from remix.ingredient import Provenance, ingredient
from remix.optim.groups import set_args

R57 = Provenance("57", "01/04/26", "1.878 minutes", "2026-01-04_MixedPrecisionInterweavedOptimizer",
                 "bf16 attn/MLP weights, uint16 mantissa master, fp32 Muon state")


@ingredient(name="muon_mixed_precision",
            summary="bf16 matrices + 16-bit mantissa fp32 master in Muon, fp32 state (#57)",
            category="precision", provenance=R57, requires=("muon",), doc=__doc__)
def INGREDIENT(spec):
    if spec.model.param_dtype != "bfloat16":
        spec = spec.set("model.dtypes.matrix", "bfloat16")
    return set_args(spec, ("muon",), state_dtype="float32", master="mantissa")
