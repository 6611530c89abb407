"""Muon with plain (sum) momentum, the form of records #3–#14, instead of the EMA form of #15 on.

What it does
    Every Muon group's momentum piece becomes `momentum_form = "sum"`:
        buf ← m·buf + g;   u = g + m·buf (Nesterov, with the buf that already holds g), or u = buf
    in place of M's  buf ← m·buf + (1−m)·g;  u = (1−m)·g + m·buf. The buffer starts at zero, in the
    state dtype (the parameter's in M). Nothing else of Muon changes.

Where it came from
    #3 (10/04/24, 24.9 min; no log, script train_gpt2.py at cd06e200, "OrthogonalNesterov") and #4
    (10/11/24, 22.3 min, 2024-10-10_Muon) through #14 (12/04/24, 2024-12-04_ValueEmbed) all used it;
    #15 (12/08/24, 3.95 min, 2024-12-08_UNetValueEmbedsTweaks) replaced it with the EMA form.

What it requires
    muon.

Does it change the math
    Only while the momentum changes. With a constant m both buffers start at zero and
    u_EMA = (1−m)·u_sum exactly, and the orthogonaliser divides by the Frobenius norm, so the update is
    the same up to the 1e-7 eps (math_equivalent=False because of that and the rest). Under M's warm-up
    (0.85 → 0.95 over 300 steps) the EMA form weighs new gradients relatively less while m rises: the
    two differ in the first ~300 steps and the ~100 after while that history decays.
"""

from remix.ingredient import Provenance, ingredient
from remix.optim.groups import set_args

R3 = Provenance("3", "10/04/24", "24.9 minutes", "", "OrthogonalNesterov: buf ← m·buf + g, u = g + m·buf")
R4 = Provenance("4", "10/11/24", "22.3 minutes", "2024-10-10_Muon", "Muon: the same momentum; used to #14")
R15 = Provenance("15", "12/08/24", "3.95 minutes", "2024-12-08_UNetValueEmbedsTweaks",
                 "replaced by the EMA form (what this ingredient undoes)")


@ingredient(name="muon_sum_momentum", summary="Muon's momentum as a plain sum (#3–#14) instead of an EMA",
            category="optimizer", provenance=(R3, R4, R15), requires=("muon",), doc=__doc__)
def INGREDIENT(spec):
    return set_args(spec, ("muon",), momentum_form="sum")
