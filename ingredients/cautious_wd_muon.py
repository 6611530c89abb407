"""Cautious weight decay for Muon: decay a weight only where the update already pulls it toward zero.

What it does
    Every Muon group's decay piece becomes "cautious" with weight_decay 1.2 (wd_mul 1). Per element,
    with V the direction after the orthogonaliser (and NorMuon, if on):
        mask = [V·p ≥ 0];   p ← p − η_eff·(V + λ·mask·p),   η_eff = η·shape·lr_mul,  λ = η·wd·wd_mul
    so the decay is η²·wd·shape·lr_mul per step and follows the lr schedule squared. Computed in fp32
    and written back once (on the fp32 master with muon_mixed_precision).

Where it came from
    #43 (11/10/25, 2.284 min, 2025-11-10_CautiousWD; arXiv 2510.12402) on NorMuon, lr 0.03, wd 1.2: peak
    decay 0.03²·1.2 = 1.08e-3 per step (×2 for MLP up with its lr_mul 2). #53 (12/22/25, 1.988 min,
    2025-12-22_MultiTokenPrediction, "tweak CWD") changed only Adam's mask; NorMuon's stayed [V·p ≥ 0].
    #48 compiled it into the update (same math) and #57 applies it to the fp32 master. With M's lr of
    0.05 the peak decay is 0.05²·1.2 = 3e-3 per step (option `weight_decay`).

What it requires
    muon (the records ran it with normuon).

Does it change the math
    Yes.
"""

from remix.ingredient import Provenance, ingredient
from remix.optim.groups import set_args

R43 = Provenance("43", "11/10/25", "2.284 minutes", "2025-11-10_CautiousWD",
                 "cautious weight decay on NorMuon, wd 1.2, decay ∝ lr²")
R53 = Provenance("53", "12/22/25", "1.988 minutes", "2025-12-22_MultiTokenPrediction",
                 "'tweak CWD': Adam's mask made strict; NorMuon's unchanged")


@ingredient(name="cautious_wd_muon",
            summary="Muon decays weights only where the update agrees: η²·1.2·[V·p ≥ 0]·p",
            category="optimizer", provenance=(R43, R53), options={"weight_decay": 1.2}, requires=("muon",),
            doc=__doc__)
def INGREDIENT(spec, weight_decay):
    return set_args(spec, ("muon",), decay="cautious", weight_decay=float(weight_decay))
