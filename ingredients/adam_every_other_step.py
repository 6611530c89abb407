"""Adam every other step: the Adam groups step on odd steps only, on the sum of two steps' gradients.

What: every Adam/AdamW group gets `every = 2`: on even steps their gradients are kept (accumulated),
on odd steps Adam steps on their sum and they are cleared; Muon steps every step. No learning-rate
compensation, as in the record. Where from: #39 (09/30/25, 2.447 min, 2025-09-30_CustomBatching, with
Adam beta1 0.7 and a smaller batch — separate ingredients); #44 (11/16/25) launched the Adam
communication from gradient hooks (same math); #47 (12/10/25) made the warm-up follow the rhythm (the
warm-up here runs the real step indices, so it does). Requires: nothing. Math: changes it.
"""

from remix.ingredient import Provenance, ingredient

R39 = Provenance("39", "09/30/25", "2.447 minutes", "2025-09-30_CustomBatching", "Adam on odd steps only")


@ingredient(name="adam_every_other_step", summary="Adam groups step on odd steps, on two steps' gradients",
            category="optimizer", provenance=R39, options={"every": 2}, doc=__doc__)
def INGREDIENT(spec, every):
    for name, group in spec.optim.items():
        if group.optimizer in ("adam", "adamw"):
            spec = spec.set(f"optim.{name}.every", every)
    return spec
