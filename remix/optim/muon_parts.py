"""The pieces a Muon group is assembled from, each in a registry and named by the group's arguments.

One step of a Muon group, per parameter (remix.optim.muon puts the pieces together):

    momentum       buf, u ← the gradient g and the momentum m              MOMENTA[momentum_form]
    view           u → the matrices that are orthogonalised separately      VIEWS[view]
    orthogonaliser each matrix → O                                          ORTHOGONALISERS[orthogonaliser]
    normaliser     O → V (NorMuon's per-row/column second moment)           NORMALISERS[normaliser]
    decay + update p ← p − η_eff·V, with the group's weight decay           DECAYS[decay]
    master         where the update is applied (the parameter, or an fp32 master of a bf16 one)

η = the group's scheduled lr, η_eff = η·shape·lr_mul, shape = the shape_scale rule of the view's matrix.
"""

from __future__ import annotations

import sys

import torch

from remix.registry import Registry

MOMENTA = Registry("Muon momentum")
VIEWS = Registry("Muon matrix view")
NORMALISERS = Registry("Muon normaliser")
DECAYS = Registry("Muon decay")
MASTERS = Registry("Muon master weights")


def _acc(dtype: torch.dtype) -> torch.dtype:
    """The dtype the statistics are computed in: fp32 for bf16/fp32 tensors, float64 for float64."""
    return torch.promote_types(dtype, torch.float32)


# --- momentum -------------------------------------------------------------------------------------
# fn(bufs, grads, m, nesterov) -> directions; bufs are updated in place.

@MOMENTA.register("ema")
def ema_momentum(bufs, grads, m: float, nesterov: bool):
    """buf ← m·buf + (1−m)·g;  u = (1−m)·g + m·buf (Nesterov) or buf. Records #15 on, and M."""
    torch._foreach_lerp_(bufs, grads, 1 - m)
    if nesterov:
        return list(torch._foreach_lerp(grads, bufs, m))
    return list(bufs)


@MOMENTA.register("sum")
def sum_momentum(bufs, grads, m: float, nesterov: bool):
    """buf ← m·buf + g;  u = g + m·buf (Nesterov) or buf. Records #3–#14 (with constant m it is the EMA
    form times 1/(1−m), which the orthogonaliser's normalisation removes)."""
    torch._foreach_mul_(bufs, m)
    torch._foreach_add_(bufs, grads)
    if nesterov:
        return list(torch._foreach_add(grads, bufs, alpha=m))
    return list(bufs)


# --- views: which matrices are orthogonalised separately ------------------------------------------
# split(U, group) -> blocks, U = (k, *param shape) for k parameters; each block's last two dims are
# matrices. merge(blocks, U_shape, group) -> (k, *param shape). matrix_shape(param shape, group) ->
# (rows, cols) for the shape scale.

@VIEWS.register("whole")
class Whole:
    """The parameter's last two dims are the matrix; leading dims (the stacked qkv's 3) are a batch."""

    @staticmethod
    def split(U, group):
        return [U]

    @staticmethod
    def merge(blocks, shape, group):
        return blocks[0]

    @staticmethod
    def matrix_shape(shape, group):
        return shape[-2], shape[-1]


def _qkv(U: torch.Tensor) -> torch.Tensor:
    """(k, 3, inner, d) from a stacked (k, 3, inner, d) or a linear-layout (k, 3·inner, d) qkv weight."""
    if U.ndim == 4 and U.size(1) == 3:
        return U
    if U.ndim == 3 and U.size(1) % 3 == 0:
        return U.unflatten(1, (3, U.size(1) // 3))
    raise ValueError(f"a q/k/v view needs qkv weights of shape (3, inner, d) or (3·inner, d); got "
                     f"{tuple(U.shape[1:])} (give the view only the role matrix.attn.qkv)")


@VIEWS.register("qkv_split")
class QKVSplit:
    """q, k and v as three matrices: a (3·inner, d) weight is viewed as (3, inner, d), as records #4
    (c_attn split in three) and #27/#36 (the merged QKVO weight orthogonalised per 768×768 block) do;
    a stacked (3, inner, d) weight already is three matrices."""

    @staticmethod
    def split(U, group):
        return [_qkv(U)]

    @staticmethod
    def merge(blocks, shape, group):
        return blocks[0].reshape(shape)

    @staticmethod
    def matrix_shape(shape, group):
        return (shape[-2] // 3 if len(shape) == 2 else shape[-2]), shape[-1]


@VIEWS.register("head_pairs")
class HeadPairs:
    """Record #80: q and k each orthogonalised per pair of adjacent heads (2·head_dim rows × d), v whole
    (inner × d). Head h owns rows h·head_dim … (h+1)·head_dim − 1 of q and of k."""

    @staticmethod
    def split(U, group):
        qkv = _qkv(U)
        k, _, inner, d = qkv.shape
        rows = 2 * group["head_dim"]
        if inner % rows:
            raise ValueError(f"head_pairs: {inner} rows of q do not split into pairs of heads of "
                             f"{group['head_dim']} (an even number of heads is needed)")
        return [qkv[:, :2].reshape(k, 2 * inner // rows, rows, d), qkv[:, 2]]

    @staticmethod
    def merge(blocks, shape, group):
        qk, v = blocks
        k, inner, d = v.shape
        return torch.cat([qk.reshape(k, 2, inner, d), v.unsqueeze(1)], 1).reshape(shape)

    @staticmethod
    def matrix_shape(shape, group):
        return QKVSplit.matrix_shape(shape, group)


# --- normalisers ----------------------------------------------------------------------------------
# state_shape(block shape, group) -> the shape of its state per parameter, or None;
# apply(O, S, group) -> V, with S (the state, stacked over the block's parameters) updated in place.

@NORMALISERS.register("none")
class NoNormaliser:
    @staticmethod
    def state_shape(shape, group):
        return None

    @staticmethod
    def apply(O, S, group):
        return O


def normuon_axis(shape, group) -> int:
    """-1 (one value per row) for a tall matrix, -2 (per column) for a wide one; a square one by
    normuon_square_axis ("row": #48 on; "column": #41/#42, whose attention blocks were per column)."""
    rows, cols = shape[-2], shape[-1]
    per_row = rows > cols or (rows == cols and group["normuon_square_axis"] == "row")
    return -1 if per_row else -2


@NORMALISERS.register("normuon")
class NorMuon:
    """Records #41/#42/#48/#78 (arXiv 2510.05491). For each matrix V (R×C) out of the orthogonaliser:

        q = mean(V², along the shorter side)           one value per row (R > C) or per column
        S ← β₂·S + (1−β₂)·q                            no bias correction (the rescale cancels it)
        step = 1/√max(S, 1e-10)  (#41: 1/max(√S, 1e-10))
        V ← V·step·|V|_F / max(|V·step|_F, 1e-10)     the norm is kept, only its spread changes

    Both norms come from q (#48): |V|² = Σ n·q, |V·step|² = Σ n·q·step² (n = the reduced side's length).
    q in fp32 (normuon_square_dtype "float32", #48 on) or squared in V's dtype (#41's bf16 squares);
    the final factor is cast to V's dtype (bf16) and applied to V (#57)."""

    @staticmethod
    def state_shape(shape, group):
        shape = list(shape)
        shape[normuon_axis(shape, group)] = 1
        return shape

    @staticmethod
    def apply(O, S, group):
        axis = normuon_axis(O.shape, group)
        acc = _acc(O.dtype)
        if group["normuon_square_dtype"] == "float32":
            q = O.to(acc).square().mean(axis, keepdim=True)
        else:
            q = O.square().mean(axis, keepdim=True).to(acc)
        S.lerp_(q.to(S.dtype), 1 - group["normuon_beta2"])
        s = S.to(acc)
        if group["normuon_floor"] == "rsqrt":
            step = torch.rsqrt(s.clamp_min(1e-10))
        else:
            step = 1 / s.sqrt().clamp_min(1e-10)
        n = O.size(axis)
        norm = (q * n).sum((-2, -1), keepdim=True).sqrt()
        scaled = (q * n * step.square()).sum((-2, -1), keepdim=True).sqrt()
        return O * (step * norm / scaled.clamp_min(1e-10)).to(O.dtype)


# --- decay and update -----------------------------------------------------------------------------
# fn(params, updates, lr, eff, group): p ← p − eff·V with the decay; lr = η, eff = η·shape·lr_mul.

@DECAYS.register("decoupled")
def decoupled(params, updates, lr: float, eff: float, group) -> None:
    """p ← p·(1 − η·wd·wd_mul) − η_eff·V (#41's form; no decay at weight_decay 0, as in M)."""
    wd = group["weight_decay"]
    if wd:
        torch._foreach_mul_(params, 1 - lr * wd * group["wd_mul"])
    torch._foreach_add_(params, updates, alpha=-eff)


@DECAYS.register("cautious")
def cautious(params, updates, lr: float, eff: float, group) -> None:
    """Record #43: p ← p − η_eff·(V + λ·[V·p ≥ 0]·p), λ = η·wd·wd_mul: the decay (∝ η², so it
    follows the lr schedule squared) only where it pulls p the way the update already does. Computed in fp32
    and written back once."""
    lam = lr * group["weight_decay"] * group["wd_mul"]
    for p, u in zip(params, updates):
        acc = _acc(p.dtype)
        x, v = p.to(acc), u.to(acc)
        keep = (v * x >= 0).to(acc)
        p.copy_(x - eff * (v + lam * keep * x))


# --- master weights -------------------------------------------------------------------------------
# fn(state, params, updates, apply) calls apply(weights, updates) on the weights it updates (the
# parameters, or fp32 masters it keeps in the optimizer's state and writes back).

@MASTERS.register("none")
def no_master(state, params, updates, apply) -> None:
    apply(params, updates)


@MASTERS.register("mantissa")
def mantissa_master(state, params, updates, apply) -> None:
    """Record #57: a bf16 parameter plus a 16-bit mantissa kept by the optimizer are one fp32 master
    (bf16 bits high, mantissa low); the update is applied to the master in fp32 and the master is split
    back, so the forward sees the master truncated toward zero to bf16. The mantissa starts at 0: the
    first master equals the bf16 weight. An fp32 parameter is its own master (tiny scale computes in fp32):
    the update goes to it directly."""
    if any(p.dtype == torch.float32 for p in params):
        if all(p.dtype == torch.float32 for p in params):
            apply(params, updates)
            return
        raise ValueError("master 'mantissa': a group mixes fp32 and bf16 parameters")
    masters = []
    for p in params:
        if p.dtype != torch.bfloat16:
            raise ValueError(f"master 'mantissa' keeps fp32 masters of bf16 weights; got a {p.dtype} "
                             f"parameter of shape {tuple(p.shape)} (use bf16 parameters)")
        st = state[p]
        if "mantissa" not in st:
            st["mantissa"] = torch.zeros_like(p, dtype=torch.int16)
        masters.append(join_master(p, st["mantissa"]))
    apply(masters, [u.float() for u in updates])
    for p, master in zip(params, masters):
        split_master(master, p, state[p]["mantissa"])


def join_master(p: torch.Tensor, mantissa: torch.Tensor) -> torch.Tensor:
    """fp32 whose high 16 bits are p's bf16 bits and low 16 bits the mantissa (little-endian words)."""
    assert sys.byteorder == "little", "the fp32 master is assembled from its 16-bit words in memory order"
    return torch.stack([mantissa, p.view(torch.int16)], -1).view(torch.float32).squeeze(-1)


def split_master(master: torch.Tensor, p: torch.Tensor, mantissa: torch.Tensor) -> None:
    words = master.contiguous().view(torch.int16).unflatten(-1, (-1, 2))
    p.view(torch.int16).copy_(words[..., 1])
    mantissa.copy_(words[..., 0])

