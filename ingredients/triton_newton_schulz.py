"""Triton symmetric Newton–Schulz: Muon's X·Xᵀ and b·A + c·A² computed as symmetric products, one
triangle of tiles each (record #27's kernels), for Newton–Schulz 5 or Polar Express alike.

What (every Muon group's `orthogonaliser` becomes the kernel version of the one it uses:
newton_schulz → "newton_schulz_triton", polar_express → "polar_express_triton"; both registered here):
the same iteration as the torch orthogonaliser (remix.optim.orthogonalise): X = bf16(G), transposed to
the wide side, the same normalisation (NS5: X/(|X|_F + 1e-7); Polar Express: X/(1.02·|X|_F + 1e-6)),
the same coefficients and step count; in each step
    A = xxt(X)                 X·Xᵀ, only the tiles on and above the diagonal computed, each mirrored
    B = ba_plus_caa(A, b, c)   b·A + c·A² with the b·A term in the same kernel's epilogue (A² = A·Aᵀ:
                               symmetric, the same triangle)
    X ← a·X + B·X              one cuBLAS baddbmm
compiled once per shape on CUDA (torch.compile, dynamic=False; the two kernels are custom ops opaque
to it). X·Xᵀ and A² are 2/3 of a step's FLOPs for square X and 56% for 768 × 3072 (or × 2304); the
kernels compute about half of their tiles.
Kernel: the Triton kernels where the matrices are on a CUDA GPU and triton is importable
(remix.kernels.symmetric); anywhere else the torch orthogonaliser itself (bit-identical to not using
this ingredient), with a warning saying why (once per process and reason).
Where from: #27 (07/18/25, 2.817 min, 2025-07-18_TritonMuon: symmetric X·Xᵀ computing one triangle and
fused b·A + c·A², with baddbmm for the third line). Every later record kept the kernels (the scripts
of #28–#89 that the logs embed): from #38 the Polar Express iteration runs through them, from #61 they
live in the repository's triton_kernels.py, and from #74 a third kernel, XᵀX, serves tall matrices
(multiplied from the right instead of transposed; not here). Our kernel is our own: one
kernel for both products, programs numbered along the triangle (none launched below the diagonal),
autotuned over five tilings.
Requires: muon. Conflicts with nothing: the Muon pieces around the orthogonaliser (momentum, views,
NorMuon, decay, state dtype, masters) are unchanged; polar_express, before or after this ingredient,
keeps the kernel (it sets polar_express_triton where a group already runs newton_schulz_triton).
Measured (one H200, 2026-12-02, `benchmarks/kernels_check.py --only symmetric`, files in
benchmarks/results/h200_2026-12-02c): both products exactly symmetric and no further from fp32 than the
torch path, on Muon's shapes and odd ones; but slower than the compiled torch orthogonaliser at GPT-2
small's sizes (5 steps on 12 × 768 × 3072: 1.62 vs 1.21 ms; 12 × 768 × 768: 1.46 vs 0.54 ms), where each
product is a few microseconds of work and launch overhead dominates. M with it: 139.2 ms/step (plain
M: 139.1 in the call before; calls differ by about 1%).
Math: the same iteration. Not bit-identical on a GPU: the products accumulate in fp32 in another order,
b·A + c·A² and a·X + B·X are each rounded to bf16 once (the torch path rounds c·A, (c·A)·A, b·A and
their sum; B·X, a·X and their sum), and X·Xᵀ is exactly symmetric.
"""

from __future__ import annotations

import functools
import warnings

import torch

from remix.ingredient import Provenance, ingredient
from remix.kernels import triton_available
from remix.optim.groups import groups_of
from remix.optim.orthogonalise import (
    ORTHOGONALISERS,
    POLAR_EPS,
    POLAR_EXPRESS,
    POLAR_SAFETY,
    orthogonalise as torch_newton_schulz,
    orthogonalise_polar_express as torch_polar_express,
)
from remix.registry import RegistryError

R27 = Provenance("27", "07/18/25", "2.817 minutes", "2025-07-18_TritonMuon",
                 "Triton symmetric matmul for Newton–Schulz: X·Xᵀ on one triangle, fused b·A + c·A²")

KERNEL_OF = {"newton_schulz": "newton_schulz_triton", "polar_express": "polar_express_triton"}


# --- the iteration, with the two symmetric products passed in ----------------------------------------

def torch_xxt(X: torch.Tensor) -> torch.Tensor:
    """The reference of remix.kernels.symmetric.xxt."""
    return X @ X.transpose(-2, -1)


def torch_ba_plus_caa(A: torch.Tensor, b: float, c: float) -> torch.Tensor:
    """The reference of remix.kernels.symmetric.ba_plus_caa (the torch orthogonalisers' expression)."""
    return b * A + c * A @ A


def _wide(G: torch.Tensor) -> tuple[torch.Tensor, bool]:
    tall = G.size(-2) > G.size(-1)
    X = G.to(torch.bfloat16)
    return (X.transpose(-2, -1) if tall else X), tall


def _steps(X: torch.Tensor, triples, xxt, ba_plus_caa) -> torch.Tensor:
    """For each (a, b, c): A = X·Xᵀ, B = b·A + c·A², X ← a·X + B·X, on X's leading dims as one batch."""
    shape = X.shape
    X = X.reshape(-1, *shape[-2:]).contiguous()
    for a, b, c in triples:
        A = xxt(X)
        B = ba_plus_caa(A, b, c)
        X = torch.baddbmm(X, B, X, beta=a)   # a·X + B·X
    return X.view(shape)


def _unwide(X: torch.Tensor, tall: bool) -> torch.Tensor:
    return (X.transpose(-2, -1) if tall else X).contiguous()


def symmetric_newton_schulz(G, steps: int, a: float, b: float, c: float, xxt, ba_plus_caa) -> torch.Tensor:
    """remix.optim.orthogonalise.newton_schulz with the two square products given."""
    X, tall = _wide(G)
    X = X / (torch.linalg.matrix_norm(X, keepdim=True) + 1e-7)
    return _unwide(_steps(X, [(a, b, c)] * steps, xxt, ba_plus_caa), tall)


def symmetric_polar_express(G, steps: int, xxt, ba_plus_caa) -> torch.Tensor:
    """remix.optim.orthogonalise.polar_express with the two square products given."""
    X, tall = _wide(G)
    X = X / (torch.linalg.matrix_norm(X, keepdim=True) * POLAR_SAFETY + POLAR_EPS)
    return _unwide(_steps(X, POLAR_EXPRESS[:steps], xxt, ba_plus_caa), tall)


# --- the registered orthogonalisers --------------------------------------------------------------------

_WARNED: set[str] = set()
_COMPILED: dict[str, object] = {}


@functools.cache
def _have_triton() -> bool:
    return triton_available()


def fallback_reason(device: torch.device) -> str | None:
    """Why the torch orthogonaliser runs instead of the kernels for matrices on `device` (None: it does not)."""
    if device.type != "cuda":
        return f"the matrices are on {device.type}, not a CUDA GPU"
    return None if _have_triton() else "triton is not installed"


def runs_kernels(G: torch.Tensor) -> bool:
    """Whether the Triton kernels run for G; if not, warns once per reason (the torch path runs)."""
    reason = fallback_reason(G.device)
    if reason is None:
        return True
    if reason not in _WARNED:
        _WARNED.add(reason)
        warnings.warn(f"triton_newton_schulz: {reason}; Muon runs the torch orthogonaliser (same math)",
                      stacklevel=3)
    return False


def _compiled(name: str):
    """The kernel iteration `name`, compiled once (static shapes), with the kernels' custom ops."""
    if name not in _COMPILED:
        from remix.kernels.symmetric import ba_plus_caa, xxt
        if name == "newton_schulz":
            def fn(G, steps, a, b, c):
                return symmetric_newton_schulz(G, steps, a, b, c, xxt, ba_plus_caa)
        else:
            def fn(G, steps):
                return symmetric_polar_express(G, steps, xxt, ba_plus_caa)
        _COMPILED[name] = torch.compile(fn, dynamic=False)
    return _COMPILED[name]


@ORTHOGONALISERS.register("newton_schulz_triton")
def orthogonalise_newton_schulz_triton(G: torch.Tensor, steps: int, coefficients) -> torch.Tensor:
    """newton_schulz through the symmetric kernels (CUDA with triton); the torch newton_schulz elsewhere."""
    if not runs_kernels(G):
        return torch_newton_schulz(G, steps, coefficients)
    a, b, c = (float(x) for x in coefficients)
    return _compiled("newton_schulz")(G, int(steps), a, b, c)


@ORTHOGONALISERS.register("polar_express_triton")
def orthogonalise_polar_express_triton(G: torch.Tensor, steps: int, coefficients) -> torch.Tensor:
    """polar_express through the symmetric kernels (CUDA with triton); the torch polar_express elsewhere."""
    if not 1 <= steps <= len(POLAR_EXPRESS) or not runs_kernels(G):
        return torch_polar_express(G, steps, coefficients)   # which also refuses a bad step count
    return _compiled("polar_express")(G, int(steps))


def kernel_on(device: torch.device) -> str:
    """What the two orthogonalisers run on `device`, for the run's record."""
    reason = fallback_reason(device)
    return "triton symmetric products (#27)" if reason is None else \
        f"torch orthogonaliser (triton_newton_schulz fell back: {reason})"


orthogonalise_newton_schulz_triton.kernel = orthogonalise_polar_express_triton.kernel = kernel_on


@ingredient(name="triton_newton_schulz",
            summary="Muon's X·Xᵀ and b·A + c·A² as Triton symmetric products (#27; same math)",
            category="systems", provenance=R27, requires=("muon",), refines=("polar_express",),
            math_equivalent=True, doc=__doc__)
def INGREDIENT(spec):
    for name in groups_of(spec, "muon"):
        current = spec.optim[name].args.get("orthogonaliser", "newton_schulz")
        if current in KERNEL_OF.values():
            continue
        if current not in KERNEL_OF:
            raise RegistryError(f"triton_newton_schulz: Muon group {name!r} uses orthogonaliser {current!r}, "
                                f"which has no symmetric-kernel version (those: {', '.join(KERNEL_OF)})")
        spec = spec.set(f"optim.{name}.args.orthogonaliser", KERNEL_OF[current])
    return spec
