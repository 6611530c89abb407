"""Higher Muon learning rate: 0.06.

What: optim.hidden.lr (the Muon group) = lr. Records (option `lr`):
  * #11 (11/10/24): 0.02 → 0.04, with every other lr doubled (double_lr);
  * #13 (11/24/24, 4.66 min, 2024-11-24_WindowWarmup): 0.04 → 0.05 (M's value);
  * #38 (09/29/25, 2.476 min, 2025-09-29_PolarExpress): 0.05 → 0.06 (default), together with Polar
    Express in place of Newton–Schulz (an optimizer change, not here).
Not here: #42's 0.06 → 0.03 and #46's 0.03 → 0.023 are NorMuon learning rates (NorMuon normalises
its update differently; remix's Muon has no NorMuon), and #42's ×2 on the MLP's up-projection
restores a shape factor √(3072/768) = 2 that remix's Muon already applies to it.
Requires: muon. Math: changes it.
"""

from remix.ingredient import Provenance, ingredient

R13 = Provenance("13", "11/24/24", "4.66 minutes", "2024-11-24_WindowWarmup", "Muon lr 0.04 → 0.05")
R38 = Provenance("38", "09/29/25", "2.476 minutes", "2025-09-29_PolarExpress", "Muon lr 0.05 → 0.06")


@ingredient(name="higher_muon_lr", summary="Muon lr 0.06 (records: 0.04, 0.05, 0.06)", category="hyperparameters",
            provenance=(R13, R38), requires=("muon",), refines=("muon",), options={"lr": 0.06}, doc=__doc__)
def INGREDIENT(spec, lr):
    return spec.set("optim.hidden.lr", lr)
