"""An lr multiplier of 2 for one of the MLP's matrices under Muon (#42: up; #48 on: down).

What it does
    The MLP matrix the variant names gets a Muon group of its own (role matrix.mlp.up or
    matrix.mlp.down, a copy of the group that trained it) with lr_mul 2: η_eff = η·shape·2. lr_mul
    multiplies the update only: cautious decay's λ = η·wd·wd_mul keeps the unmultiplied η (as in the
    records), so the decay of that matrix doubles with η_eff as well.

Options (`variant`)
    "42"  #42 (10/27/25, 2.313 min, 2025-10-27_FixMuonLR): c_fc (MLP up) ×2, NorMuon lr 0.03.
    "48"  #48 (12/11/25, 2.170 min, 2025-12-11_NorMuonOptimsAndFixes) and every later record: c_proj
          (MLP down) ×2 instead (default). With #48's shapes (muon_qkvo_split "48") that makes
          attention / up / down 2 / 2 / 4.
    `lr_mul` sets the multiplier (2 in both).

What it requires
    muon.

Does it change the math
    Yes.
"""

from remix.ingredient import Provenance, ingredient
from remix.optim.groups import for_role, with_args

R42 = Provenance("42", "10/27/25", "2.313 minutes", "2025-10-27_FixMuonLR", "NorMuon lr 0.03, MLP c_fc lr ×2")
R48 = Provenance("48", "12/11/25", "2.170 minutes", "2025-12-11_NorMuonOptimsAndFixes", "the ×2 moves to c_proj")

ROLES = {"42": "matrix.mlp.up", "48": "matrix.mlp.down"}


@ingredient(name="mlp_lr_multiplier", summary="Muon lr ×2 for MLP down (#48 on; up in #42)",
            category="hyperparameters", provenance=(R42, R48), options={"variant": "48", "lr_mul": 2.0},
            requires=("muon",), doc=__doc__)
def INGREDIENT(spec, variant, lr_mul):
    if variant not in ROLES:
        raise ValueError(f"mlp_lr_multiplier variant must be one of {', '.join(ROLES)}, got {variant!r}")
    return for_role(spec, ROLES[variant], with_args(lr_mul=float(lr_mul)), only=("muon",))
