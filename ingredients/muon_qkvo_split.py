"""Muon's QKVO split: q, k, v and o orthogonalised as separate matrices, with the records' shape factors.

What it does
    The attention's q/k/v weight gets a Muon group of its own with the view "qkv_split": q, k and v are
    three matrices to the orthogonaliser (and to NorMuon). GPT-2's (3·inner, d) c_attn is viewed as
    (3, inner, d); a stacked (3, inner, d) weight (stacked_qkv, in M) already is three matrices, and o is
    a parameter of its own in remix, so in M the split itself changes nothing. What changes is the shape
    factor √max(1, rows/cols), which the records took from the shape they happened to store each weight
    in. Option `shapes` (η_eff = η·shape, per role; lr multipliers on top come from mlp_lr_multiplier):

        "27"  #27–#47: c_fc stored (768, 3072) and used transposed, so MLP up's factor fell from 2 to 1
              (an implicit halving of its lr, never stated); attention and MLP down 1.      attn 1 / up 1 / down 1
        "48"  #48–#60: QKVO stored (3072, 768) = [Q;K;V;O] and scaled as one (3072, 768) matrix although
              orthogonalised per 768×768 block; c_fc and c_proj stored (3072, 768).        attn 2 / up 2 / down 2
        "61"  #61 on (incl. #80): attention banks reshaped per block, the factor back to 1 (undocumented);
              MLP as #48.                                                                    attn 1 / up 2 / down 2

    M (#21 3.014) has attn 1 / up 2 / down 1. In remix terms: "27" sets matrix.mlp.up's shape_scale to
    "one"; "48" gives matrix.attn shape_scale "one" with lr_mul 2, and matrix.mlp.down the factor of its
    transpose (2); "61" gives matrix.mlp.down that factor only.

Where it came from
    #27 (07/18/25, 2.817 min, 2025-07-18_TritonMuon, PR #109): Q, K, V, O merged into one (4, 768, 768)
    weight, each block orthogonalised separately (O zero-init: zero_init_projections). #36 (09/23/25,
    2.495 min, 2025-09-23_MuonCustomSizing): stored as (768, 3072), viewed as (4n, 768, 768) per block
    (factor 1 for all). #48 (12/11/25, 2.170 min) and #61 (systems, "Unified Optimizers") as above. #4
    had already split GPT-2's c_attn in three before Newton–Schulz.

What it requires
    muon.

Does it change the math
    Yes (through the shape factors; with a linear c_attn also through the split).
"""

from remix.ingredient import Provenance, ingredient
from remix.optim.groups import for_role, with_args

R27 = Provenance("27", "07/18/25", "2.817 minutes", "2025-07-18_TritonMuon",
                 "QKVO merged, per-block orthogonalisation; c_fc transposed (implicit lr halving)")
R36 = Provenance("36", "09/23/25", "2.495 minutes", "2025-09-23_MuonCustomSizing", "QKVO (768, 3072), per block")
R48 = Provenance("48", "12/11/25", "2.170 minutes", "2025-12-11_NorMuonOptimsAndFixes",
                 "QKVO and MLP stored (3072, 768): shape factor 2 for all")
R61 = Provenance("61", "01/18/26", "1.748 minutes", "2026-01-18_UnifiedOptimizers",
                 "attention banks per block: attention factor back to 1 (undocumented)")

SHAPES = {   # role -> group arguments
    "27": {"matrix.mlp.up": {"shape_scale": "one"}},
    "48": {"matrix.attn": {"shape_scale": "one", "lr_mul": 2.0},
           "matrix.mlp.down": {"shape_scale": "cols_over_rows"}},
    "61": {"matrix.mlp.down": {"shape_scale": "cols_over_rows"}},
}


@ingredient(name="muon_qkvo_split", summary="q, k, v, o as separate Muon matrices, with #27/#48/#61's shape factors",
            category="optimizer", provenance=(R27, R36, R48, R61), options={"shapes": "27"}, requires=("muon",),
            doc=__doc__)
def INGREDIENT(spec, shapes):
    if shapes not in SHAPES:
        raise ValueError(f"muon_qkvo_split shapes must be one of {', '.join(SHAPES)}, got {shapes!r}")
    for role, args in SHAPES[shapes].items():
        spec = for_role(spec, role, with_args(**args), only=("muon",))
    return for_role(spec, "matrix.attn.qkv", with_args(view="qkv_split"), only=("muon",))
