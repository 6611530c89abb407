"""Lower Adam β₁: every Adam group's first-moment decay becomes 0.65 (β₂ unchanged).

What: optim.<group>.betas = (beta1, β₂) for each Adam group (M's head, embedding and scalar groups,
and any Adam group an earlier ingredient added); AdamW groups (A's) are left alone, as the records'
retunes concern the Adam that ran beside Muon. Records (option `beta1`):
  * #13 (11/24/24, 4.66 min, 2024-11-24_WindowWarmup): 0.9 → 0.8 for all three Adams (M's value, via
    adam_groups); the same record raised Muon's lr 0.04 → 0.05 (higher_muon_lr), shortened the
    momentum warm-up 500 → 300 steps (muon_momentum_warmup's steps) and cooled down over 640 of 1750
    steps (longer_cooldown, 0.366);
  * #39 (09/30/25, 2.447 min, 2025-09-30_CustomBatching): 0.8 → 0.7, with Adam stepping on odd steps
    only (not here), the batch 393,216 → 262,144 (smaller_batch), cooldown 0.5 → 0.4 and a Muon
    momentum cool-down (momentum_cooldown);
  * #40 (10/04/25, 2.358 min, 2025-10-04_Backout): 0.7 → 0.65 (default), with cooldown 0.4 → 0.45.
Later records gave each Adam label its own betas (#52, #57 …); not here. Requires: adam_groups.
Math: changes it.
"""

from remix.ingredient import Provenance, ingredient

R13 = Provenance("13", "11/24/24", "4.66 minutes", "2024-11-24_WindowWarmup", "Adam β₁ 0.9 → 0.8")
R39 = Provenance("39", "09/30/25", "2.447 minutes", "2025-09-30_CustomBatching", "Adam β₁ 0.8 → 0.7")
R40 = Provenance("40", "10/04/25", "2.358 minutes", "2025-10-04_Backout", "Adam β₁ 0.7 → 0.65")


@ingredient(name="lower_adam_beta1", summary="Adam β₁ 0.65 (records: 0.8, 0.7, 0.65)", category="hyperparameters",
            provenance=(R13, R39, R40), requires=("adam_groups",), refines=("adam_groups",),
            options={"beta1": 0.65}, doc=__doc__)
def INGREDIENT(spec, beta1):
    if not 0 <= beta1 < 1:
        raise ValueError(f"lower_adam_beta1: beta1 must be in [0, 1), got {beta1}")
    for name, group in spec.optim.items():
        if group.optimizer == "adam":
            beta2 = group.args.get("betas", (0.9, 0.999))[1]
            spec = spec.set(f"optim.{name}.betas", (float(beta1), beta2))
    return spec
