"""Fused soft-capped cross-entropy: Triton kernels over each row of logits, fp32 inside.

For row i with logits z (bf16), target t and a soft-cap u = f(z):
    forward    lse_i = log Σ_j exp(u_ij) (online max and sum over the vocabulary), loss_i = lse_i − u_i,t
    backward   dz_ij = g_i · (exp(u_ij − lse_i) − [j = t]) · f'(z_ij)          (written in z's dtype)
with f: 0 plain (u = z), 1 tanh (u = A·tanh(z/A)), 2 sigmoid (u = A·σ(z/C)). A row whose target is
`ignore` has loss 0 and gradient 0. The forward reads the logits once, the backward reads them once and
writes the gradient once; no fp32 copy of the logits is ever stored.

Imported only where a CUDA device and triton are there (the components fall back to their torch
reference path otherwise); the ops are registered as torch.library custom ops, opaque to torch.compile.
Under TRITON_INTERPRET=1 the launchers also run on CPU tensors (tests of the kernels' logic).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

PLAIN, TANH, SIGMOID = 0, 1, 2


@triton.jit
def _softcap(z, FORM: tl.constexpr, A, C):
    if FORM == 1:
        u = A * (2.0 * tl.sigmoid(2.0 * z / A) - 1.0)
    elif FORM == 2:
        u = A * tl.sigmoid(z / C)
    else:
        u = z
    return u


@triton.jit
def _ce_forward(z_ptr, t_ptr, loss_ptr, lse_ptr, V, stride, A, C, IGNORE,
                FORM: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    base = z_ptr + row * stride
    cols = tl.arange(0, BLOCK)
    m = tl.full([BLOCK], -1e30, tl.float32)
    s = tl.zeros([BLOCK], tl.float32)
    for start in tl.range(0, V, BLOCK):
        idx = start + cols
        inside = idx < V
        z = tl.load(base + idx, mask=inside, other=0.0).to(tl.float32)
        u = tl.where(inside, _softcap(z, FORM, A, C), float("-inf"))
        m_new = tl.maximum(m, u)
        s = s * tl.exp(m - m_new) + tl.exp(u - m_new)
        m = m_new
    top = tl.max(m, 0)
    lse = top + tl.log(tl.sum(s * tl.exp(m - top), 0))
    t = tl.load(t_ptr + row)
    valid = t != IGNORE
    safe = tl.where(valid, t, 0)
    zt = tl.load(base + safe).to(tl.float32)
    loss = tl.where(valid, lse - _softcap(zt, FORM, A, C), 0.0)
    tl.store(loss_ptr + row, loss)
    tl.store(lse_ptr + row, lse)


@triton.jit
def _ce_backward(g_ptr, z_ptr, t_ptr, lse_ptr, dz_ptr, V, stride, dstride, A, C, IGNORE,
                 FORM: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    base = z_ptr + row * stride
    out = dz_ptr + row * dstride
    t = tl.load(t_ptr + row)
    g = tl.where(t != IGNORE, tl.load(g_ptr + row).to(tl.float32), 0.0)
    lse = tl.load(lse_ptr + row)
    cols = tl.arange(0, BLOCK)
    for start in tl.range(0, V, BLOCK):
        idx = start + cols
        inside = idx < V
        z = tl.load(base + idx, mask=inside, other=0.0).to(tl.float32)
        if FORM == 1:
            th = 2.0 * tl.sigmoid(2.0 * z / A) - 1.0
            u = A * th
            du = 1.0 - th * th
        elif FORM == 2:
            sg = tl.sigmoid(z / C)
            u = A * sg
            du = (A / C) * sg * (1.0 - sg)
        else:
            u = z
            du = 1.0
        p = tl.exp(u - lse)
        dz = g * (p - tl.where(idx == t, 1.0, 0.0)) * du
        tl.store(out + idx, dz.to(dz_ptr.dtype.element_ty), mask=inside)


def _block(V: int) -> int:
    return min(4096, triton.next_power_of_2(V))


def forward(logits: torch.Tensor, targets: torch.Tensor, form: int, A: float, C: float, ignore: int):
    """(per-row losses, per-row lse), both fp32 (N,)."""
    N, V = logits.shape
    loss = torch.empty(N, dtype=torch.float32, device=logits.device)
    lse = torch.empty(N, dtype=torch.float32, device=logits.device)
    if N:
        _ce_forward[(N,)](logits, targets, loss, lse, V, logits.stride(0), A, C, ignore, FORM=form,
                          BLOCK=_block(V), num_warps=8)
    return loss, lse


def backward(grad: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor, lse: torch.Tensor, form: int,
             A: float, C: float, ignore: int) -> torch.Tensor:
    N, V = logits.shape
    dz = torch.empty_like(logits)
    if N:
        _ce_backward[(N,)](grad.contiguous(), logits, targets, lse, dz, V, logits.stride(0), dz.stride(0), A, C,
                           ignore, FORM=form, BLOCK=_block(V), num_warps=8)
    return dz


@torch.library.custom_op("remix::softcap_ce", mutates_args=())
def softcap_ce(logits: torch.Tensor, targets: torch.Tensor, form: int, A: float, C: float,
               ignore: int) -> tuple[torch.Tensor, torch.Tensor]:
    return forward(logits.contiguous(), targets.contiguous(), form, A, C, ignore)


@softcap_ce.register_fake
def _(logits, targets, form, A, C, ignore):
    N = logits.shape[0]
    return logits.new_empty(N, dtype=torch.float32), logits.new_empty(N, dtype=torch.float32)


@torch.library.custom_op("remix::softcap_ce_backward", mutates_args=())
def softcap_ce_backward(grad: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor, lse: torch.Tensor,
                        form: int, A: float, C: float, ignore: int) -> torch.Tensor:
    return backward(grad, logits.contiguous(), targets.contiguous(), lse, form, A, C, ignore)


@softcap_ce_backward.register_fake
def _(grad, logits, targets, lse, form, A, C, ignore):
    return torch.empty_like(logits, memory_format=torch.contiguous_format)


def _setup(ctx, inputs, output):
    logits, targets, form, A, C, ignore = inputs
    ctx.save_for_backward(logits, targets, output[1])
    ctx.args = (form, A, C, ignore)


def _backward(ctx, grad_loss, grad_lse):
    logits, targets, lse = ctx.saved_tensors
    return softcap_ce_backward(grad_loss, logits, targets, lse, *ctx.args), None, None, None, None, None


softcap_ce.register_autograd(_backward, setup_context=_setup)
