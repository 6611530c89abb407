"""Cross-entropy on bf16 logits in training: the head's output is no longer cast to fp32.

What it does
    model.loss.precision = "bfloat16": the logit transform (soft-cap) and the training cross-entropy take
    the head's output in its own dtype, bf16 under M's bf16 weights, so the loss and the logits' gradient
    are bf16. Evaluation casts the (bf16) transformed logits to fp32 for a mean CE, as #37 did. Under
    autocast (A's fp32 weights) F.cross_entropy still runs in fp32 (autocast's rule); only the soft-cap
    moves to bf16 there.

Where it came from
    #37 (09/27/25, 2.483 min, 2025-09-27_BF16CE, PR #133): the FP8 head's bf16 output is soft-capped
    in bf16 (σ(z / 7.5)·30, constants exact in bf16) and F.cross_entropy runs on it (sum reduction);
    eval casts the bf16 soft-capped logits to fp32. #60's Triton CE later computed in fp32 from bf16
    logits with bf16 gradients, #75/#79/#88 a fused kernel.

What it requires
    Nothing (it matters where the head's output is bf16: bf16_params).

Does it change the math
    The precision only (not bit-equivalent).
"""

from remix.ingredient import Provenance, ingredient

R37 = Provenance("37", "09/27/25", "2.483 minutes", "2025-09-27_BF16CE", "cross-entropy in bf16 during training")


@ingredient(name="bf16_ce", summary="training soft-cap and CE on the head's bf16 output (no fp32 cast)",
            category="precision", provenance=R37, doc=__doc__)
def INGREDIENT(spec):
    return spec.set("model.loss.precision", "bfloat16")
