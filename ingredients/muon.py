"""Muon: train the hidden matrices with momentum followed by Newton–Schulz orthogonalisation.

What it does
    Every >=2-D parameter inside the transformer blocks (role "matrix") leaves the group that held it
    and joins a new group "hidden" trained by Muon (lr 0.05, momentum 0.95, Nesterov, 5 Newton–Schulz
    steps). Embedding, positions, head and vectors stay with their Adam/AdamW groups. One Muon step:

        buf <- m*buf + (1-m)*g                      EMA momentum, in the parameter's dtype
        u   <- (1-m)*g + m*buf                      Nesterov direction (buf without Nesterov)
        O   <- NS5(u)                               quintic Newton–Schulz in bf16, per matrix
        p   <- p - lr * sqrt(max(1, rows/cols)) * O

    NS5: X <- u/(|u|_F + 1e-7), work on X^T when rows > cols, then 5 times
    A = X X^T, B = b A + c A^2, X <- a X + B X with (a, b, c) = (3.4445, -4.7750, 2.0315).
    A 3-D parameter (the (3, d, d) qkv weight) is a batch of independent matrices.

Where it came from
    Record #3 (10/04/24, 24.9 min) introduced it ("OrthogonalNesterov": sum-form momentum, no shape
    scale); #4 (10/11/24, 22.3 min, 2024-10-10_Muon) named it Muon and scaled updates by
    sqrt(max(rows, cols)); #6 spread the work over ranks; #8 changed the scale to sqrt(max(1, rows/cols));
    #11/#13 raised the lr to 0.04/0.05; #15 switched to EMA momentum, grouped parameters by size and
    all-gathered the updates; #20 orthogonalised the stacked qkv as a batch. The defaults here are the
    forms the remixed M baseline uses (those of record #21).

What it requires
    A spec whose parameters carry the "matrix" role (the base trainer's partition). The trainer sets
    each group's "lr" and "momentum" from the schedules before every step and hands Muon gradients
    already averaged across ranks. Runs on any device count: on N ranks each rank orthogonalises a
    share of every shape group and an all-gather hands every rank all the updates (the per-matrix math
    does not depend on N).

Does it change the math
    Yes (math_equivalent=False): the hidden matrices follow Muon's update instead of Adam's.

Speed
    Parameters of one shape are stacked and orthogonalised in one batched call (compiled on CUDA), so
    a step costs a handful of large matrix products per shape instead of dozens of small ones.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.distributed as dist

from remix.slots import OPTIMIZERS
from ingredients._records import R3, R4, R8, R13, R15, R20
from remix.ingredient import ingredient
from remix.spec import OptimGroup, Spec, SpecError

SHAPE_SCALES = ("rows_over_cols", "max_dim")


@dataclass
class MuonConfig:
    momentum: float = 0.95
    nesterov: bool = True
    ns_steps: int = 5
    ns_coefficients: tuple[float, ...] = (3.4445, -4.7750, 2.0315)
    weight_decay: float = 0.0
    shape_scale: str = "rows_over_cols"   # sqrt(max(1, rows/cols)); "max_dim": sqrt(max(rows, cols)) (#4)

    def __post_init__(self):
        if self.shape_scale not in SHAPE_SCALES:
            raise ValueError(f"shape_scale must be one of {', '.join(SHAPE_SCALES)}, got {self.shape_scale!r}")
        if len(self.ns_coefficients) != 3:
            raise ValueError(f"ns_coefficients must be (a, b, c), got {self.ns_coefficients!r}")
        if self.ns_steps < 1 or not 0 <= self.momentum < 1 or self.weight_decay < 0:
            raise ValueError(f"expected ns_steps ≥ 1, 0 ≤ momentum < 1, weight_decay ≥ 0; got {self.ns_steps}, "
                             f"{self.momentum}, {self.weight_decay}")


# --- the orthogonalisation ------------------------------------------------------------------------

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


def update_scale(shape: torch.Size, rule: str) -> float:
    """How much larger the update of a (rows, cols) matrix is made, so its size suits the layer's shape."""
    rows, cols = shape[-2], shape[-1]
    if rule == "rows_over_cols":
        return math.sqrt(max(1.0, rows / cols))
    if rule == "max_dim":
        return math.sqrt(max(rows, cols))
    raise ValueError(f"Muon shape_scale must be one of {SHAPE_SCALES}, got {rule!r}")


# --- the optimizer --------------------------------------------------------------------------------

@dataclass
class _Bucket:
    """The parameters of one group that share shape, dtype and device: one batched orthogonalisation."""
    params: list[torch.Tensor]   # in group order; rank r owns params[r*per_rank : (r+1)*per_rank]
    per_rank: int                # how many each rank orthogonalises (the last ranks pad with zeros)


class Muon(torch.optim.Optimizer):
    """Muon (see the module's docstring). Same-shaped parameters are orthogonalised as one batch;
    with world > 1 each rank does a contiguous share of each batch and all-gathers the updates,
    so momentum state lives only on the rank that owns a parameter."""

    def __init__(self, params, lr: float = 0.05, *, world: int = 1, rank: int = 0, **config):
        if world > 1 and not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError(f"Muon with world={world} needs torch.distributed initialised")
        if not 0 <= rank < world:
            raise ValueError(f"Muon: rank {rank} is not in 0..{world - 1}")
        self.world, self.rank = world, rank
        self._buckets: list[list[_Bucket]] = []   # filled by add_param_group, one list per group
        defaults = {"lr": lr, **asdict(MuonConfig(**config))}   # a group may override any of them
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        if group["shape_scale"] not in SHAPE_SCALES:
            raise ValueError(f"Muon group {group.get('name', len(self.param_groups) - 1)!r}: shape_scale "
                             f"must be one of {SHAPE_SCALES}, got {group['shape_scale']!r}")
        if len(group["ns_coefficients"]) != 3:
            raise ValueError(f"Muon ns_coefficients must be (a, b, c), got {group['ns_coefficients']!r}")
        by_kind: dict[tuple, list[torch.Tensor]] = {}
        for p in group["params"]:
            if p.ndim < 2:
                raise ValueError(f"Muon trains matrices only; group {group.get('name', '?')!r} has a "
                                 f"parameter of shape {tuple(p.shape)} (give vectors to Adam)")
            by_kind.setdefault((tuple(p.shape), p.dtype, p.device), []).append(p)
        self._buckets.append([_Bucket(ps, -(-len(ps) // self.world)) for ps in by_kind.values()])

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # Launch every shape group's orthogonalisation (and gather) first, then apply: on N ranks the
        # all-gather of one group overlaps with the Newton–Schulz of the next.
        launched = [(group, bucket, *self._orthogonalise(group, bucket))
                    for group, buckets in zip(self.param_groups, self._buckets) for bucket in buckets]
        for group, bucket, work, updates in launched:
            if work is not None:
                work.wait()
            self._apply(group, bucket, updates)
        return loss

    def _orthogonalise(self, group: dict, bucket: _Bucket):
        """This rank's share of the bucket: momentum, Newton–Schulz, then the gather of all shares."""
        k, like = bucket.per_rank, bucket.params[0]
        mine = bucket.params[self.rank * k:(self.rank + 1) * k]
        directions = self._directions(group, mine) if mine else []
        directions += [torch.zeros_like(like)] * (k - len(mine))   # padding rows orthogonalise to 0
        ortho = orthogonalise(torch.stack(directions), group["ns_steps"], group["ns_coefficients"])
        if self.world == 1:
            return None, ortho
        gathered = ortho.new_empty((self.world * k, *like.shape))
        if dist.get_backend() == "nccl":
            work = dist.all_gather_into_tensor(gathered, ortho, async_op=True)
        else:  # gloo has no all_gather_into_tensor on some versions; the chunks are views of `gathered`
            work = dist.all_gather(list(gathered.chunk(self.world)), ortho, async_op=True)
        return work, gathered

    def _directions(self, group: dict, params: list[torch.Tensor]) -> list[torch.Tensor]:
        m = group["momentum"]
        grads = []
        for p in params:
            if p.grad is None:
                raise RuntimeError(f"Muon group {group.get('name', '?')!r}: a parameter of shape "
                                   f"{tuple(p.shape)} has no gradient (every rank must own the same set)")
            grads.append(p.grad)
        bufs = [self._momentum_buffer(p) for p in params]
        torch._foreach_lerp_(bufs, grads, 1 - m)            # buf <- m*buf + (1-m)*g
        if group["nesterov"]:
            return list(torch._foreach_lerp(grads, bufs, m))   # u <- (1-m)*g + m*buf
        return list(bufs)

    def _momentum_buffer(self, p: torch.Tensor) -> torch.Tensor:
        state = self.state[p]
        if "momentum" not in state:   # created on first use, so a restored empty state starts from zero
            state["momentum"] = torch.zeros_like(p)
        return state["momentum"]

    def _apply(self, group: dict, bucket: _Bucket, updates: torch.Tensor) -> None:
        params, like = bucket.params, bucket.params[0]
        lr = group["lr"]
        if group["weight_decay"]:
            torch._foreach_mul_(params, 1 - lr * group["weight_decay"])   # decoupled decay
        updates = updates[:len(params)].to(like.dtype)
        torch._foreach_add_(params, list(updates.unbind(0)),
                            alpha=-lr * update_scale(like.shape, group["shape_scale"]))


def build_muon(param_groups: list[dict], *, world: int, rank: int) -> torch.optim.Optimizer:
    """The trainer's entry point: groups carry params, lr, name and MuonConfig's fields."""
    return Muon(param_groups, world=world, rank=rank)


build_muon.spans_groups = True   # one Muon batches same-shaped matrices across its groups
OPTIMIZERS.register("muon", config=MuonConfig)(build_muon)


# --- the ingredient -------------------------------------------------------------------------------

@ingredient(
    name="muon",
    summary="Train the hidden matrices with Muon (momentum + Newton–Schulz orthogonalisation)",
    category="optimizer",
    provenance=(R3, R4, R8, R13, R15, R20),
    options={"lr": 0.05, "momentum": 0.95, "nesterov": True, "ns_steps": 5},
    math_equivalent=False,
    doc=__doc__,
)
def apply(spec: Spec, *, lr: float, momentum: float, nesterov: bool, ns_steps: int) -> Spec:
    groups: dict[str, OptimGroup] = {}
    for name, group in spec.optim.items():
        roles = tuple(r for r in group.roles if r != "matrix")
        if roles:                       # a group left with no roles is dropped
            groups[name] = group if roles == group.roles else replace(group, roles=roles)
    if "hidden" in groups:
        raise SpecError("optim.hidden", "muon adds the group 'optim.hidden', but the spec already has one "
                                        f"holding roles {groups['hidden'].roles}")
    groups["hidden"] = OptimGroup("muon", ("matrix",), float(lr),
                                  {"momentum": float(momentum), "nesterov": nesterov, "ns_steps": ns_steps})
    return replace(spec, optim=groups)


INGREDIENT = apply
