"""A tuned AdamW: peak lr 0.0021, betas (0.9, 0.95), weight decay 0.1.

What: every AdamW group gets the remixed A baseline's learning rate (llm.c: 6e-4; the speedrun's
#2 tuned it to 0.0018). Decay stays on matrices and tables only (A has no biases or gains, so that is
every parameter). Where from: #2 (tuned lr), A's own tuning (0.0021). Requires: nothing.
Math: changes it.
"""

from ingredients._records import R2, REMIXED
from remix.ingredient import ingredient


@ingredient(name="tuned_adamw", summary="AdamW at lr 0.0021, betas (0.9, 0.95), wd 0.1",
            category="hyperparameters", provenance=(R2, REMIXED), options={"lr": 0.0021, "weight_decay": 0.1},
            doc=__doc__)
def INGREDIENT(spec, lr, weight_decay):
    for name, group in spec.optim.items():
        if group.optimizer == "adamw":
            spec = spec.set(f"optim.{name}.lr", lr).set(f"optim.{name}.betas", (0.9, 0.95))
            if group.args.get("weight_decay", 0.0) > 0:
                spec = spec.set(f"optim.{name}.weight_decay", weight_decay)
    return spec
