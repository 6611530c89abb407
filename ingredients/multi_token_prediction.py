"""Multi-token prediction: the head also predicts the tokens 2 and 3 ahead, with weights that fade out.

What it does
    The training loss (model.loss.mtp_weights = (1, 0.5, 0.25), mtp_schedule "thirds") becomes
        Σ_t Σ_k w_k·(logsumexp(ℓ_t) − ℓ_t[target_{t+k}]),   k = 0, 1, 2 (k = 0: the next token)
    on the same transformed (soft-capped) logits ℓ of the same head: no new parameters. Targets past the
    end of a row add nothing; document boundaries are not respected (#53/#60 predicted across documents
    and BOS tokens too). With reduction "mean" the sum is divided by the number of next-token targets.
    Evaluation is unchanged (mean next-token CE).

    Weights, x = step / steps:  x < 1/3: (1, 0.5, 0.25·(1 − 3x));  1/3 ≤ x < 2/3: (1, 0.5·(2 − 3x), 0);
    x ≥ 2/3: (1, 0, 0) (remix.model.head.mtp_weights_at). The loss reads them each step from
    ctx.state["mtp_weights"] (a float32 device tensor of shape (3,), the loss module's step_state(step,
    steps) says what to put there); where the trainer gives no step state, the loss uses (1, 0.5, 0.25)
    for the whole run (option `schedule` "fixed" asks for that explicitly).

Where it came from
    #53 (12/22/25, 1.988 min, 2025-12-22_MultiTokenPrediction): PyTorch version, in bf16 on the bf16
    logits, 1880 + 40 steps; #60 (01/16/26, 1.765 min, 2026-01-16_FusedSoftcappedEntropy): a fused
    Triton kernel with the same math and schedule; #61+ write the schedule as stages (ends at round(N/3),
    round(2N/3)). #53 also untied the embedding at 2/3, changed the batch-size lr multipliers and the
    QKV init and made Adam's CWD mask strict (other ingredients).

What it requires
    Nothing; the records ran it on the summed CE (ce_sum).

Does it change the math
    Yes (auxiliary losses).
"""

from remix.ingredient import Provenance, ingredient

R53 = Provenance("53", "12/22/25", "1.988 minutes", "2025-12-22_MultiTokenPrediction",
                 "multi-token prediction, weights (1, 0.5, 0.25) fading out by 2/3 of the run")
R60 = Provenance("60", "01/16/26", "1.765 minutes", "2026-01-16_FusedSoftcappedEntropy",
                 "fused Triton kernel, same math and schedule")


@ingredient(name="multi_token_prediction",
            summary="also predict the tokens 2 and 3 ahead, weights (1, 0.5, 0.25) fading out",
            category="architecture", provenance=(R53, R60),
            options={"weights": (1.0, 0.5, 0.25), "schedule": "thirds"}, doc=__doc__)
def INGREDIENT(spec, weights, schedule):
    return (spec.set("model.loss.mtp_weights", tuple(float(w) for w in weights))
                .set("model.loss.mtp_schedule", schedule))
