"""NorMuon: after orthogonalising, Muon evens out the update's size across rows (or columns).

What it does
    Every Muon group gets the normaliser "normuon" (remix.optim.muon_parts.NorMuon). For each matrix V
    (R×C) out of the orthogonaliser, with a state S per row or per column starting at 0:
        q = mean(V², along the shorter side)            per row if R > C, per column if R < C
        S ← β₂·S + (1−β₂)·q                             no bias correction (the rescale below cancels it)
        step = 1/√max(S, 1e-10)
        V ← V·step·|V|_F / max(|V·step|_F, 1e-10)      the Frobenius norm is kept; per matrix
    then p ← p − η·shape·lr_mul·V as before. In remix's shapes a tall MLP up (4d×d) is normalised per
    row and the wide MLP down (d×4d) per column: per hidden unit, as in every record.

Options, one per record (`variant`)
    "41"  #41 (10/24/25, 2.345 min, 2025-10-24_NorMuon): step = 1/max(√S, 1e-10), the squares taken in
          the direction's dtype (bf16), square (attention) matrices per column, β₂ 0.95. #41 stored
          Q, K, V, O as one (768, 3072) weight whose columns mixed all four blocks; remix's attention
          matrices are separate parameters, so its variant normalises each block per column as #42 did
          (the closest form remix can express; #41's mixing is not reproduced).
    "42"  #42 (10/27/25, 2.313 min, 2025-10-27_FixMuonLR): rsqrt(max(S, 1e-10)); square matrices per
          column (per input dimension of each of Q, K, V, O); squares as #41 (the notes name #48 as the
          record that moved them to fp32).
    "48"  #48 (12/11/25, 2.170 min, 2025-12-11_NorMuonOptimsAndFixes): square matrices per row (per
          output unit); q in fp32 and both norms from q.
    "78"  #78 (03/22/26, 1.426 min, 2026-03-22_VarlenMaxDocs): as #48 with β₂ 0.95 → 0.9 (default).
    `lr` (None keeps the spec's): the records' NorMuon lr was 0.06 (#41, as #38–#40), 0.03 (#42, with
    MLP up ×2: mlp_lr_multiplier "42"), 0.023 (#46 on). The state's dtype follows the Muon group's
    state_dtype: the parameter's (#42–#56 kept it in the param dtype) or fp32 (#41, and #57 on:
    muon_mixed_precision).

What it requires
    muon (usually with polar_express before it, as from #41 on; it works after NS5 too).

Does it change the math
    Yes.
"""

from remix.ingredient import Provenance, ingredient
from remix.optim.groups import groups_of, set_args

R41 = Provenance("41", "10/24/25", "2.345 minutes", "2025-10-24_NorMuon", "NorMuon (arXiv 2510.05491)")
R42 = Provenance("42", "10/27/25", "2.313 minutes", "2025-10-27_FixMuonLR",
                 "state per group, rsqrt floor, per-block columns, lr 0.03")
R48 = Provenance("48", "12/11/25", "2.170 minutes", "2025-12-11_NorMuonOptimsAndFixes",
                 "square matrices per row, fp32 statistics", )
R78 = Provenance("78", "03/22/26", "1.426 minutes", "2026-03-22_VarlenMaxDocs", "β₂ 0.95 → 0.9")

VARIANTS = {
    "41": dict(normuon_beta2=0.95, normuon_floor="sqrt", normuon_square_axis="column", normuon_square_dtype="param"),
    "42": dict(normuon_beta2=0.95, normuon_floor="rsqrt", normuon_square_axis="column", normuon_square_dtype="param"),
    "48": dict(normuon_beta2=0.95, normuon_floor="rsqrt", normuon_square_axis="row", normuon_square_dtype="float32"),
    "78": dict(normuon_beta2=0.9, normuon_floor="rsqrt", normuon_square_axis="row", normuon_square_dtype="float32"),
}


@ingredient(name="normuon", summary="NorMuon: per-row/column second-moment rescale of Muon's update (#41–#78)",
            category="optimizer", provenance=(R41, R42, R48, R78), options={"variant": "78", "lr": None},
            requires=("muon",), doc=__doc__)
def INGREDIENT(spec, variant, lr):
    if variant not in VARIANTS:
        raise ValueError(f"normuon variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    spec = set_args(spec, ("muon",), normaliser="normuon", **VARIANTS[variant])
    if lr is not None:
        for name in groups_of(spec, "muon"):
            spec = spec.set(f"optim.{name}.lr", float(lr))
    return spec
