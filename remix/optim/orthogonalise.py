"""Orthogonalisers: what Muon does to its momentum direction (the `orthogonaliser` of a Muon group).

An orthogonaliser maps G (…, rows, cols), a batch of matrices in the last two dims, to a matrix of the
same shape with G's singular vectors and singular values pushed into a band around 1. It is registered
as `fn(G, steps, coefficients) -> O` (bf16 out); it compiles itself on CUDA where it wants to.

    newton_schulz   the quintic Newton–Schulz iteration of records #3–#37 (and remix's M)
    polar_express   record #38's iteration with a coefficient triple per step (every later record)

A kernel registers here under its own name, with the torch path of the same math as its reference:
record #27's Triton symmetric products run as "newton_schulz_triton" and "polar_express_triton"
(registered by ingredients/triton_newton_schulz.py, kernels in remix.kernels.symmetric).
"""

from __future__ import annotations

import torch

from remix.registry import Registry

ORTHOGONALISERS = Registry("Muon orthogonaliser")


# --- Newton–Schulz 5 (records #3–#37) -------------------------------------------------------------

def newton_schulz(G: torch.Tensor, steps: int, a: float, b: float, c: float) -> torch.Tensor:
    """An approximately orthogonal matrix with G's singular vectors, for each matrix in G's last two dims.

    Runs in bf16: the iteration only needs singular values pushed into a band around 1, not exactness.
    """
    tall = G.size(-2) > G.size(-1)
    X = G.to(torch.bfloat16)
    if tall:                        # iterate on the wide side: X X^T is then the smaller square
        X = X.transpose(-2, -1)
    X = X / (torch.linalg.matrix_norm(X, keepdim=True) + 1e-7)   # spectral norm <= Frobenius norm <= 1
    for _ in range(steps):
        A = X @ X.transpose(-2, -1)
        B = b * A + c * A @ A       # (c·A)·A, the reference's association: same math, its rounding
        X = B @ X + a * X
    if tall:
        X = X.transpose(-2, -1)
    return X.contiguous()


_compiled_newton_schulz = None


@ORTHOGONALISERS.register("newton_schulz")
def orthogonalise(G: torch.Tensor, steps: int, coefficients) -> torch.Tensor:
    """newton_schulz, compiled once (static shapes) on CUDA and eager elsewhere."""
    global _compiled_newton_schulz
    fn = newton_schulz
    if G.is_cuda:
        if _compiled_newton_schulz is None:
            _compiled_newton_schulz = torch.compile(newton_schulz, dynamic=False)
        fn = _compiled_newton_schulz
    a, b, c = (float(x) for x in coefficients)
    return fn(G, int(steps), a, b, c)


# --- Polar Express (record #38) -------------------------------------------------------------------

# One (a, b, c) per iteration, for 5 iterations with safety factor 2e-2 and cushion 2 (Amsel et al.,
# arXiv 2505.16932), as record #38 lists them.
POLAR_EXPRESS = tuple(zip(
    (8.156554524902461, 4.042929935166739, 3.8916678022926607, 3.285753657755655, 2.3465413258596377),  # a
    (-22.48329292557795, -2.808917465908714, -2.772484153217685, -2.3681294933425376, -1.7097828382687081),  # b
    (15.878769915207462, 0.5000178451051316, 0.5060648178503393, 0.46449024233003106, 0.42323551169305323),  # c
))
POLAR_SAFETY = 1.02
POLAR_EPS = 1e-6


def polar_express(G: torch.Tensor, steps: int, dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    """X ← G/(1.02·|G|_F + 1e-6) (on the wide side), then for each step's (a, b, c):
    A = X Xᵀ, B = b·A + c·A², X ← a·X + B·X. In bf16 (dtype is there for the float64 check)."""
    tall = G.size(-2) > G.size(-1)
    X = G.to(dtype)
    if tall:
        X = X.transpose(-2, -1)
    X = X / (torch.linalg.matrix_norm(X, keepdim=True) * POLAR_SAFETY + POLAR_EPS)
    for a, b, c in POLAR_EXPRESS[:steps]:
        A = X @ X.transpose(-2, -1)
        B = b * A + c * A @ A
        X = a * X + B @ X
    if tall:
        X = X.transpose(-2, -1)
    return X.contiguous()


_compiled_polar_express = None


@ORTHOGONALISERS.register("polar_express")
def orthogonalise_polar_express(G: torch.Tensor, steps: int, coefficients) -> torch.Tensor:
    """polar_express with the group's ns_steps (at most 5: the table's length); ns_coefficients unused."""
    global _compiled_polar_express
    if not 1 <= steps <= len(POLAR_EXPRESS):
        raise ValueError(f"polar_express has coefficients for 1..{len(POLAR_EXPRESS)} steps, got ns_steps={steps}")
    fn = polar_express
    if G.is_cuda:
        if _compiled_polar_express is None:
            _compiled_polar_express = torch.compile(polar_express, dynamic=False)
        fn = _compiled_polar_express
    return fn(G, int(steps))
