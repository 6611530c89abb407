"""Smaller batch: 262,144 training tokens per step, as rows of 32,768 tokens (one per GPU of 8).

What: train.tokens_per_step = 262,144 and train.seq_len = 32,768 (M trains 8 rows of 65,536); the
evaluation keeps the rows it had (their length and count are written into eval.seq_len and
eval.device_batch if they followed the training rows). Before → after in the record: 393,216 →
262,144 tokens per step, each GPU's packed buffer 49,152 → 32,768 tokens (16 × 2,048-token
documents); relative to M this halves the batch and the row length.
Where from: #39 (09/30/25, 2.447 min, 2025-09-30_CustomBatching: "reduce batch size"; the same record
made Adam step every other step, not here, and moved the cooldown 0.5 → 0.4 (longer_cooldown), Adam
β₁ 0.8 → 0.7 (lower_adam_beta1), and added a momentum cool-down (momentum_cooldown)). Step counts
grew with it (1630 → 2380 scheduled). #46 later scheduled the batch in three stages (not here).
Requires: long_rows (M's one-row-per-device layout). Math: changes it.
"""

from dataclasses import replace

from remix.ingredient import Provenance, ingredient

R39 = Provenance("39", "09/30/25", "2.447 minutes", "2025-09-30_CustomBatching", "batch 393,216 → 262,144 tokens")


@ingredient(name="smaller_batch", summary="262,144 tokens per step in rows of 32,768", category="hyperparameters",
            provenance=R39, requires=("long_rows",), refines=("long_rows",),
            options={"tokens_per_step": 262144, "seq_len": 32768}, doc=__doc__)
def INGREDIENT(spec, tokens_per_step, seq_len):
    t, e = spec.train, spec.eval
    evaluation = replace(e, seq_len=e.seq_len or t.seq_len, device_batch=e.device_batch or t.device_batch)
    return replace(spec, train=replace(t, tokens_per_step=tokens_per_step, seq_len=seq_len), eval=evaluation)
