"""Long rows: each device trains (and validates) on one row of 65,536 tokens; the global batch is kept.

What: train.seq_len 65,536 and one row per device (524,288 tokens per step stay 8 rows); validation
uses the same rows. Learned position tables do not reach 64K: if this ingredient meets one, positions
become none (attention is still causal, so order is implicit), which is what dropping `rope` from A or
M means. Without a document mask the model attends across documents over the whole row.
Where from: #12 (with FlexAttention's document mask: see document_mask; an evaluation-protocol change:
before it, validation used independent 1,024-token rows). Requires: nothing. Math: changes it.
"""

from dataclasses import replace

from ingredients._records import R12
from remix.ingredient import ingredient
from remix.spec import C


@ingredient(name="long_rows", summary="one 65,536-token row per device, in training and validation",
            category="data", provenance=R12, options={"seq_len": 65536}, doc=__doc__)
def INGREDIENT(spec, seq_len):
    model = replace(spec.model, max_len=seq_len)
    if model.positions.name == "learned":
        model = replace(model, positions=C("none"))
    train = replace(spec.train, seq_len=seq_len, device_batch=1)
    return replace(spec, model=model, train=train, eval=replace(spec.eval, seq_len=None, device_batch=None))
