"""Pad the head's vocabulary to a multiple of 128 (50,257 → 50,304 rows).

What: the LM head gets rows up to the next multiple of 128, which makes its matmul faster; the extra
rows are real logits in the softmax (never targets). A tied table grows with it; an untied embedding
keeps the data's 50,257 rows. Where from: #5. Requires: nothing.
Math: changes it slightly (47 extra softmax columns).
"""

from ingredients._records import R5
from remix.ingredient import ingredient


@ingredient(name="padded_vocab", summary="pad the head's rows to a multiple of 128", category="systems",
            provenance=R5, options={"multiple": 128}, doc=__doc__)
def INGREDIENT(spec, multiple):
    return spec.set("model.vocab_multiple", multiple)
