"""Training cross-entropy summed over the rank's tokens instead of averaged (evaluation stays the mean).

What it does
    model.loss.reduction = "sum": the training loss is Σ over the rank's tokens of the per-token CE
    (M: 65,536 per row; with gradient accumulation each micro-batch's sum is scaled by 1/accum, and the
    gradients are averaged over ranks), i.e. tokens-per-rank × the mean's gradient. Evaluation is
    unchanged (mean). The train loss the trainer logs is then that sum.

Where it came from
    #21 (3.014) (05/24/25, 3.014 min, 2025-05-24_StableTorch; the remixed train_gpt.py): reduction='sum'
    over its 49,152 tokens per rank; every later record keeps it (#88: Σ loss·1/grad_accum_steps).
    #21 (2.997) and earlier used the mean. No lr compensates it: the head lr 0.008 → 0.22 of the same
    script belongs to the width-scaled soft-cap (logit_softcap).

What it requires
    Nothing.

Does it change the math
    Almost not: Muon's orthogonaliser and Adam's m/√v are scale-invariant, so only Adam's eps shrinks
    relative to the gradient (by 1/tokens-per-rank: 1e-10 becomes practically 0) and anything
    scale-dependent moves (gradient clipping: M has none). Not math-equivalent.
"""

from ingredients._records import R21b
from remix.ingredient import ingredient


@ingredient(name="ce_sum", summary="training CE summed over the rank's tokens (evaluation: mean)", category="optimizer",
            provenance=R21b, doc=__doc__)
def INGREDIENT(spec):
    return spec.set("model.loss.reduction", "sum")
