"""Symmetric products for Muon's Newton–Schulz step (record #27): half the tiles, each written twice.

For X (…, m, k) and a square A (…, m, m) in the same float dtype (bf16 in Muon), fp32 accumulation:
    xxt(X)                 S = X·Xᵀ                      (…, m, m), rounded once to X's dtype
    ba_plus_caa(A, b, c)   B = b·A + c·(A·A), A symmetric (…, m, m), one rounding of the fp32 sum
Both outputs are symmetric: a program computes one (BLOCK × BLOCK) tile at (row block i, column block
j) with i ≤ j and stores it at (i, j) and, transposed, at (j, i), so the triangle below the diagonal
is never computed (on a diagonal tile the entries below its diagonal are taken from those above, so the
output is exactly symmetric). A·A of a symmetric A is A·Aᵀ, so the one kernel serves both products;
the second adds b·A to the tile in its epilogue.

The programs of one matrix are numbered along the triangle (tile (i, j) is program j(j+1)/2 + i), the
batch runs along the grid's second axis; rows and columns past m and k are masked.

Imported only where a CUDA device and triton are there (the Muon orthogonalisers fall back to their
torch path otherwise); the two products are torch.library custom ops, opaque to torch.compile. Under
TRITON_INTERPRET=1 the launchers also run on CPU tensors.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

_INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"
_CONFIGS = [triton.Config({"BLOCK": 16, "BLOCK_K": 16}, num_warps=1)] if _INTERPRET else [
    triton.Config({"BLOCK": 128, "BLOCK_K": 64}, num_warps=8, num_stages=3),
    triton.Config({"BLOCK": 128, "BLOCK_K": 64}, num_warps=4, num_stages=4),
    triton.Config({"BLOCK": 128, "BLOCK_K": 32}, num_warps=4, num_stages=5),
    triton.Config({"BLOCK": 64, "BLOCK_K": 128}, num_warps=4, num_stages=3),
    triton.Config({"BLOCK": 64, "BLOCK_K": 64}, num_warps=4, num_stages=4),
]


@triton.autotune(configs=_CONFIGS, key=["M", "K", "FUSED"])
@triton.jit
def _triangle_tile(x_ptr, out_ptr, M, K, stride_xb, stride_xm, stride_xk, b, c,
                   FUSED: tl.constexpr, BLOCK: tl.constexpr, BLOCK_K: tl.constexpr):
    """Tile (i, j), i ≤ j, of S = X·Xᵀ for matrix program_id(1) of X (batch, M, K); out (batch, M, M)
    contiguous gets S (FUSED false) or b·X + c·S (FUSED: X square and symmetric) at (i, j) and (j, i)."""
    p = tl.program_id(0)
    j = ((tl.sqrt(8.0 * p + 1.0) - 1.0) * 0.5).to(tl.int32)   # column of p; the float guess may be 1 off
    j = tl.where(j * (j + 1) // 2 > p, j - 1, j)
    j = tl.where((j + 1) * (j + 2) // 2 <= p, j + 1, j)
    i = p - j * (j + 1) // 2
    matrix = tl.program_id(1).to(tl.int64)
    x_ptr += matrix * stride_xb
    out_ptr += matrix * M * M

    rows = i * BLOCK + tl.arange(0, BLOCK)      # of S: rows of X
    cols = j * BLOCK + tl.arange(0, BLOCK)      # of S: also rows of X, read as Xᵀ's columns
    ks = tl.arange(0, BLOCK_K)
    lhs = x_ptr + rows[:, None] * stride_xm + ks[None, :] * stride_xk     # X[rows, ks]      (BLOCK, BLOCK_K)
    rhs = x_ptr + cols[None, :] * stride_xm + ks[:, None] * stride_xk     # X[cols, ks]ᵀ     (BLOCK_K, BLOCK)
    acc = tl.zeros((BLOCK, BLOCK), dtype=tl.float32)
    for k0 in tl.range(0, K, BLOCK_K):
        lhs_tile = tl.load(lhs, mask=(rows[:, None] < M) & (ks[None, :] + k0 < K), other=0.0)
        rhs_tile = tl.load(rhs, mask=(cols[None, :] < M) & (ks[:, None] + k0 < K), other=0.0)
        acc = tl.dot(lhs_tile, rhs_tile, acc)
        lhs += BLOCK_K * stride_xk
        rhs += BLOCK_K * stride_xk

    if FUSED:   # X is A (M × M): add b·A[rows, cols]
        a_tile = tl.load(x_ptr + rows[:, None] * stride_xm + cols[None, :] * stride_xk,
                         mask=(rows[:, None] < M) & (cols[None, :] < M), other=0.0)
        acc = c * acc + b * a_tile.to(tl.float32)
    tile = acc.to(out_ptr.dtype.element_ty)

    on_or_above = (rows[:, None] <= cols[None, :]) & (cols[None, :] < M)    # row ≤ col < M: row < M too
    tl.store(out_ptr + rows[:, None] * M + cols[None, :], tile, mask=on_or_above)
    below = (rows[None, :] < cols[:, None]) & (cols[:, None] < M)          # the mirror, strictly below
    tl.store(out_ptr + cols[:, None] * M + rows[None, :], tl.trans(tile), mask=below)


def _launch(x: torch.Tensor, fused: bool, b: float, c: float) -> torch.Tensor:
    """out (…, m, m) for x (…, m, k): the kernel over x's leading dims flattened into one batch."""
    m, k = x.shape[-2:]
    flat = x.reshape(-1, m, k)
    out = torch.empty((flat.shape[0], m, m), dtype=x.dtype, device=x.device)
    if out.numel() > 0:
        if flat.shape[0] > 65535:
            raise ValueError(f"symmetric products: at most 65,535 matrices per call, got {flat.shape[0]}")

        def grid(meta):
            tiles = triton.cdiv(m, meta["BLOCK"])
            return tiles * (tiles + 1) // 2, flat.shape[0]

        _triangle_tile[grid](flat, out, m, k, flat.stride(0), flat.stride(1), flat.stride(2), b, c, FUSED=fused)
    return out.view(*x.shape[:-1], m)


def _check(x: torch.Tensor, what: str) -> None:
    if x.ndim < 2 or not (x.is_cuda or _INTERPRET) or not x.dtype.is_floating_point:
        raise ValueError(f"{what}: expected a floating CUDA tensor of ≥ 2 dims, got {x.dtype} {tuple(x.shape)} "
                         f"on {x.device}")


@torch.library.custom_op("remix::xxt", mutates_args=())
def xxt(x: torch.Tensor) -> torch.Tensor:
    """X·Xᵀ over the last two dims, in X's dtype (fp32 accumulation)."""
    _check(x, "xxt")
    return _launch(x, False, 0.0, 1.0)


@xxt.register_fake
def _(x):
    return x.new_empty((*x.shape[:-1], x.shape[-2]))


@torch.library.custom_op("remix::ba_plus_caa", mutates_args=())
def ba_plus_caa(a: torch.Tensor, b: float, c: float) -> torch.Tensor:
    """b·A + c·(A·A) over the last two dims for symmetric A, in A's dtype (one rounding of the fp32 sum)."""
    _check(a, "ba_plus_caa")
    if a.shape[-1] != a.shape[-2]:
        raise ValueError(f"ba_plus_caa: A must be square, got {tuple(a.shape)}")
    return _launch(a, True, float(b), float(c))


@ba_plus_caa.register_fake
def _(a, b, c):
    return a.new_empty(a.shape)
