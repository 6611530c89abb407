"""Double learning rates: Muon 0.04, embedding 0.6, head 0.008 (0.22 in remix's head scale), scalars 0.04.

What: the learning rates of record #11, written into M's groups: optim.hidden (Muon) 0.04,
optim.embed 0.6, optim.head 0.22, optim.scalar 0.04. Before → after in the record (#10 → #11): Muon
0.02 → 0.04, token embedding Adam 0.3 → 0.6, head Adam 0.002 → 0.008, scalar Adam 0.02 → 0.04 (the
U-net skip weights joined that group). The head's value: #11's head gives logits z, remix's M head
(as the remixed 3.014 script) z·√768 (its soft-cap divides by 7.5·√768), so #11's 0.008 is
0.008·√768 ≈ 0.2217 here, which the remixed script rounded to 0.22 (M's value); #10's 0.002 is ≈ 0.055.
M already trains at #11's values except Muon (M: 0.05, #13's; see higher_muon_lr), so on M this
lowers the Muon lr. Not here: #11's step count 3242 → 3000 (a run length) and its warm-down 926 → 900
steps, 0.286 → 0.30 of the run (longer_cooldown, frac 0.3).
Where from: #11 (11/10/24, 7.2 min, 2024-11-10_UNetDoubleLr, "U-net pattern skip connections & double
lr"). Requires: muon and adam_groups (the groups it sets). Math: changes it.
"""

from remix.ingredient import Provenance, ingredient

R11 = Provenance("11", "11/10/24", "7.2 minutes", "2024-11-10_UNetDoubleLr", "all learning rates doubled (head ×4)")


@ingredient(name="double_lr", summary="Muon 0.04, embed 0.6, head 0.22 (0.008 in the records' scale), scalars 0.04",
            category="hyperparameters", provenance=R11, requires=("muon", "adam_groups"),
            refines=("muon", "adam_groups"),
            options={"muon_lr": 0.04, "embed_lr": 0.6, "head_lr": 0.22, "scalar_lr": 0.04}, doc=__doc__)
def INGREDIENT(spec, muon_lr, embed_lr, head_lr, scalar_lr):
    for group, lr in (("hidden", muon_lr), ("embed", embed_lr), ("head", head_lr), ("scalar", scalar_lr)):
        spec = spec.set(f"optim.{group}.lr", lr)
    return spec
