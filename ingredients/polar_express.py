"""Polar Express: Muon orthogonalises with record #38's iteration instead of Newton–Schulz 5.

What it does
    Every Muon group's orthogonaliser becomes "polar_express" (remix.optim.orthogonalise), per matrix:
        X = bf16(G), transposed when rows > cols;  X ← X / (1.02·|X|_F + 1e-6)
        5 times, with that iteration's (a, b, c):  A = X Xᵀ;  B = b·A + c·A²;  X ← a·X + B·X
    (a, b, c) per iteration: (8.1566, −22.4833, 15.8788), (4.0429, −2.8089, 0.5000),
    (3.8917, −2.7725, 0.5061), (3.2858, −2.3681, 0.4645), (2.3465, −1.7098, 0.4232) (full precision in
    the code), computed for 5 iterations, safety factor 2e-2 and cushion 2 (Amsel et al., arXiv
    2505.16932, github.com/NoahAmsel/PolarExpress). Output bf16, compiled on CUDA as NS5 is.

Where it came from
    #38 (09/29/25, 2.476 min, 2025-09-29_PolarExpress), kept by every later record. #38 also raised the
    Muon lr 0.05 → 0.06 (option `lr`; None keeps the spec's) and ran the products through #27's Triton
    kernels (same math). #48 split the last product for the MLP and #79/#80 fused the Nesterov step into
    the same compiled function and multiplied tall matrices from the right: the same math.

What it requires
    muon. A group that runs #27's kernels (triton_newton_schulz: "newton_schulz_triton") keeps them:
    it gets "polar_express_triton", the same iteration through the same kernels (as #38 ran it).

Does it change the math
    Yes: a different polynomial per step and a different normaliser.
"""

from remix.ingredient import Provenance, ingredient
from remix.optim.groups import groups_of, set_args

R38 = Provenance("38", "09/29/25", "2.476 minutes", "2025-09-29_PolarExpress",
                 "Polar Express replaces Newton–Schulz; Muon lr 0.05 → 0.06")


@ingredient(name="polar_express", summary="Muon orthogonalises with Polar Express (#38) instead of Newton–Schulz 5",
            category="optimizer", provenance=R38, options={"lr": None}, requires=("muon",),
            refines=("triton_newton_schulz",), doc=__doc__)
def INGREDIENT(spec, lr):
    kernel = {n for n in groups_of(spec, "muon") if spec.optim[n].args.get("orthogonaliser") == "newton_schulz_triton"}
    spec = set_args(spec, ("muon",), orthogonaliser="polar_express", ns_steps=5)
    for name in groups_of(spec, "muon"):
        if name in kernel:   # #27's kernels stay (triton_newton_schulz)
            spec = spec.set(f"optim.{name}.args.orthogonaliser", "polar_express_triton")
        if lr is not None:
            spec = spec.set(f"optim.{name}.lr", float(lr))
    return spec
