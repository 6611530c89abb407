"""Adam epsilon 1e-10 instead of 1e-8.

What: every Adam/AdamW group's eps becomes 1e-10 (with bf16 state and tiny second moments, 1e-8
dominated the denominator; the record notes it removed a dependence on the world size).
Where from: #20. Requires: nothing. Math: changes it.
"""

from ingredients._records import R20
from remix.ingredient import ingredient


@ingredient(name="lower_adam_eps", summary="Adam eps 1e-10", category="optimizer", provenance=R20,
            options={"eps": 1e-10}, refines=("adam_groups", "tuned_adamw"), doc=__doc__)
def INGREDIENT(spec, eps):
    for name, group in spec.optim.items():
        if group.optimizer in ("adam", "adamw"):
            spec = spec.set(f"optim.{name}.eps", eps)
    return spec
