"""Fused linear + ReLU²: one Triton matmul whose epilogue applies the activation (and, backward, its
derivative), so the (tokens × hidden) intermediate makes one trip through memory instead of three.

    forward    pre = bf16(x·W₁ᵀ)   post = bf16(relu(pre)²)            (stores pre and post, or post alone)
    backward   dpost = bf16(g·W₂)  dpre = bf16(2·relu(pre)·dpost)     (relu(pre) = √post when only post is kept)

with x (M, d), W₁ (hidden, d), W₂ (d, hidden) as nn.Linear stores them, in x's dtype; each value is
rounded to bf16 where the plain path (up → relu² → down, under torch.compile) rounds it, so the result
is the plain path's up to the order of the matmul's fp32 accumulation. The remaining products
(post·W₂ᵀ, dW₂ = gᵀ·post, dW₁ = dpreᵀ·x, dx = dpre·W₁) are cuBLAS's.

Imported only where a CUDA device and triton are there; the two kernels are torch.library custom ops,
opaque to torch.compile. Under TRITON_INTERPRET=1 the launchers also run on CPU tensors.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

_INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"
_CONFIGS = [triton.Config({"BLOCK_M": 16, "BLOCK_N": 32, "BLOCK_K": 16, "GROUP_M": 2}, num_warps=1)] if _INTERPRET else [
    triton.Config({"BLOCK_M": 128, "BLOCK_N": 256, "BLOCK_K": 64, "GROUP_M": 8}, num_warps=8, num_stages=3),
    triton.Config({"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64, "GROUP_M": 8}, num_warps=8, num_stages=4),
    triton.Config({"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64, "GROUP_M": 8}, num_warps=4, num_stages=4),
    triton.Config({"BLOCK_M": 64, "BLOCK_N": 128, "BLOCK_K": 64, "GROUP_M": 8}, num_warps=4, num_stages=4),
    triton.Config({"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_K": 64, "GROUP_M": 8}, num_warps=4, num_stages=4),
]


@triton.autotune(configs=_CONFIGS, key=["M", "N", "K", "BACKWARD", "LEAN"])
@triton.jit
def _matmul_relu2(a_ptr, b_ptr, aux_ptr, out1_ptr, out2_ptr, M, N, K,
                  stride_am, stride_ak, stride_bk, stride_bn, stride_cm,
                  BACKWARD: tl.constexpr, LEAN: tl.constexpr,
                  BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr):
    """acc = A (M, K) · B (K, N) in fp32, then the epilogue. Forward: out1 = pre (unless LEAN), out2 = post.
    Backward: aux = pre (or post if LEAN), out1 = dpre. Outputs (M, N) contiguous with row stride cm."""
    pid = tl.program_id(0)
    grid_m = tl.cdiv(M, BLOCK_M)
    grid_n = tl.cdiv(N, BLOCK_N)
    in_group = GROUP_M * grid_n
    group = pid // in_group
    first_m = group * GROUP_M
    size_m = tl.minimum(grid_m - first_m, GROUP_M)
    pid_m = first_m + (pid % in_group) % size_m
    pid_n = (pid % in_group) // size_m

    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    a = a_ptr + rm[:, None].to(tl.int64) * stride_am + rk[None, :] * stride_ak
    b = b_ptr + rk[:, None] * stride_bk + rn[None, :].to(tl.int64) * stride_bn
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in tl.range(0, K, BLOCK_K):
        a_tile = tl.load(a, mask=(rm[:, None] < M) & (rk[None, :] + k < K), other=0.0)
        b_tile = tl.load(b, mask=(rk[:, None] + k < K) & (rn[None, :] < N), other=0.0)
        acc = tl.dot(a_tile, b_tile, acc)
        a += BLOCK_K * stride_ak
        b += BLOCK_K * stride_bk

    inside = (rm[:, None] < M) & (rn[None, :] < N)
    offs = rm[:, None].to(tl.int64) * stride_cm + rn[None, :]
    dtype = out2_ptr.dtype.element_ty
    rounded = acc.to(dtype).to(tl.float32)
    if BACKWARD:
        aux = tl.load(aux_ptr + offs, mask=inside, other=0.0).to(tl.float32)
        if LEAN:
            r = tl.sqrt(aux)
        else:
            r = tl.maximum(aux, 0.0)
        tl.store(out1_ptr + offs, (2.0 * r * rounded).to(dtype), mask=inside)
    else:
        r = tl.maximum(rounded, 0.0)
        if not LEAN:
            tl.store(out1_ptr + offs, rounded.to(dtype), mask=inside)
        tl.store(out2_ptr + offs, (r * r).to(dtype), mask=inside)


def _grid(M, N):
    return lambda meta: (triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(N, meta["BLOCK_N"]),)


def up_relu2(x: torch.Tensor, w1: torch.Tensor, lean: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(pre, post) for x (M, d) and w1 (hidden, d), both in x's dtype; pre is an empty tensor when lean."""
    M, K = x.shape
    N = w1.shape[0]
    post = torch.empty((M, N), dtype=x.dtype, device=x.device)
    pre = post.new_empty((0,)) if lean else torch.empty_like(post)
    _matmul_relu2[_grid(M, N)](x, w1, post, post if lean else pre, post, M, N, K,
                               x.stride(0), x.stride(1), w1.stride(1), w1.stride(0), N,
                               BACKWARD=False, LEAN=lean)
    return pre, post


def down_relu2_backward(g: torch.Tensor, w2: torch.Tensor, aux: torch.Tensor, lean: bool) -> torch.Tensor:
    """dpre for g (M, d) = dL/d(post·W₂ᵀ), w2 (d, hidden), aux = pre (or post when lean), (M, hidden)."""
    M, K = g.shape
    N = w2.shape[1]
    dpre = torch.empty((M, N), dtype=g.dtype, device=g.device)
    _matmul_relu2[_grid(M, N)](g, w2, aux, dpre, dpre, M, N, K,
                               g.stride(0), g.stride(1), w2.stride(0), w2.stride(1), N,
                               BACKWARD=True, LEAN=lean)
    return dpre


@torch.library.custom_op("remix::linear_relu2", mutates_args=())
def linear_relu2(x: torch.Tensor, w1: torch.Tensor, lean: bool) -> tuple[torch.Tensor, torch.Tensor]:
    return up_relu2(x.contiguous(), w1.contiguous(), lean)


@linear_relu2.register_fake
def _(x, w1, lean):
    post = x.new_empty((x.shape[0], w1.shape[0]))
    return (x.new_empty((0,)) if lean else torch.empty_like(post)), post


@torch.library.custom_op("remix::linear_relu2_backward", mutates_args=())
def linear_relu2_backward(g: torch.Tensor, w2: torch.Tensor, aux: torch.Tensor, lean: bool) -> torch.Tensor:
    return down_relu2_backward(g.contiguous(), w2.contiguous(), aux.contiguous(), lean)


@linear_relu2_backward.register_fake
def _(g, w2, aux, lean):
    return g.new_empty((g.shape[0], w2.shape[1]))


class FusedReLU2(torch.autograd.Function):
    """out = relu(x·W₁ᵀ)²·W₂ᵀ with the fused kernels; x (M, d) and the weights in x's dtype."""

    @staticmethod
    def forward(ctx, x, w1, w2, lean):
        pre, post = linear_relu2(x, w1, lean)
        ctx.save_for_backward(x, w1, w2, post if lean else pre, post)
        ctx.lean = lean
        return post @ w2.t()

    @staticmethod
    def backward(ctx, g):
        x, w1, w2, aux, post = ctx.saved_tensors
        g = g.contiguous()
        dw2 = g.t() @ post
        dpre = linear_relu2_backward(g, w2, aux, ctx.lean)
        dw1 = dpre.t() @ x
        dx = dpre @ w1
        return dx, dw1, dw2, None
