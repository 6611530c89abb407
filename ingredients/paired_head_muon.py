"""Paired-head Muon: q and k orthogonalised per pair of adjacent heads instead of as whole matrices.

What it does
    The attention's q/k/v weight gets a Muon group of its own with the view "head_pairs": each of q and
    k is cut into blocks of two adjacent heads (2·head_dim rows × d; head h owns rows h·head_dim …
    (h+1)·head_dim − 1), and every block is orthogonalised (and NorMuon-normalised) on its own; v is one
    matrix as before, and o keeps its own group. In M (6 heads of 128, d 768) that is 3 + 3 blocks of
    256×768 and one 768×768 v per layer, in every layer. NorMuon normalises the wide 256×768 blocks per
    column. The shape factor is that of the (inner, d) q/k/v matrix (1, as for the pair blocks).
    head_dim is read from the model when the optimizer is built (so it follows --scale tiny).

Where it came from
    #80 (04/08/26, 1.406 min, 2026-04-08_PairedHeadMuon, log logs/split_qk0-1480.txt, PR #253): qk_bank
    (60 real blocks = 10 layers × {Q, K} × 3 pairs of 256 × 768) and vo_bank; applied in all 10 attention
    layers, not only the paired-head attention layers. The README says "K and V"; the title and the code
    split Q and K, which is what this does.

What it requires
    muon, and an even number of heads (M's 6; at tiny scale 2, one pair).

Does it change the math
    Yes: a finer orthogonalisation of q and k.
"""

from remix.ingredient import Provenance, ingredient
from remix.optim.groups import for_role, with_args

R80 = Provenance("80", "04/08/26", "1.406 minutes", "2026-04-08_PairedHeadMuon",
                 "Q and K orthogonalised per pair of heads (all attention layers)")


@ingredient(name="paired_head_muon", summary="Muon orthogonalises q and k per pair of heads (#80)",
            category="optimizer", provenance=R80, requires=("muon",), doc=__doc__)
def INGREDIENT(spec):
    if spec.model.n_head % 2:
        raise ValueError(f"paired_head_muon needs an even number of heads, the model has {spec.model.n_head}")
    return for_role(spec, "matrix.attn.qkv", with_args(view="head_pairs"), only=("muon",))
