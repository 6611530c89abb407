"""Muon, assembled from registered pieces (remix.optim.muon_parts, remix.optim.orthogonalise).

A group's arguments (MuonConfig) name its pieces. The defaults are remix's M, records #15–#37:

    momentum_form "ema"            buf ← lerp(buf, g, 1−m); u = lerp(g, buf, m) (Nesterov)
    view "whole"                   the parameter's last two dims; leading dims are a batch
    orthogonaliser "newton_schulz" NS5 in bf16, coefficients (3.4445, −4.7750, 2.0315)
    normaliser "none"
    decay "decoupled"              weight_decay 0: none
    state_dtype "param"            momentum (and NorMuon's) state in the parameter's dtype
    master "none"                  the update is added to the parameter
    p ← p − η·√max(1, rows/cols)·lr_mul·O

Same-shaped parameters of a group are stacked and orthogonalised as one batch; on N ranks each rank
does a contiguous share of each batch (momentum and NorMuon state live on the rank that owns a
parameter) and all-gathers the directions, and every rank applies every update.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.distributed as dist

from remix.optim.muon_parts import DECAYS, MASTERS, MOMENTA, NORMALISERS, VIEWS
from remix.optim.orthogonalise import ORTHOGONALISERS
from remix.optim.state import KeepsStateDtypes
from remix.slots import OPTIMIZERS

SHAPE_SCALES = ("rows_over_cols", "cols_over_rows", "max_dim", "one")
STATE_DTYPES = {"param": None, "float32": torch.float32}
CHOICES = {"normuon_floor": ("rsqrt", "sqrt"), "normuon_square_axis": ("row", "column"),
           "normuon_square_dtype": ("float32", "param"), "state_dtype": tuple(STATE_DTYPES),
           "shape_scale": SHAPE_SCALES}
PIECES = {"orthogonaliser": ORTHOGONALISERS, "momentum_form": MOMENTA, "normaliser": NORMALISERS,
          "decay": DECAYS, "view": VIEWS, "master": MASTERS}


@dataclass
class MuonConfig:
    momentum: float = 0.95
    nesterov: bool = True
    ns_steps: int = 5
    ns_coefficients: tuple[float, ...] = (3.4445, -4.7750, 2.0315)
    weight_decay: float = 0.0
    shape_scale: str = "rows_over_cols"   # √max(1, rows/cols) | cols_over_rows (a transposed storage) | max_dim:
                                          # √max(rows, cols) (#4) | one
    lr_mul: float = 1.0                   # η_eff = η·shape·lr_mul (#42/#48's per-matrix multipliers)
    wd_mul: float = 1.0
    orthogonaliser: str = "newton_schulz"  # newton_schulz | polar_express (#38) | any registered kernel
    momentum_form: str = "ema"            # ema (#15 on) | sum (#3–#14)
    view: str = "whole"                   # whole | qkv_split (#4, #27/#36) | head_pairs (#80)
    head_dim: int | None = None           # head_pairs: filled from the model when the optimizer is built
    normaliser: str = "none"              # none | normuon (#41 on)
    normuon_beta2: float = 0.95           # 0.9 from #78
    normuon_floor: str = "rsqrt"          # rsqrt: 1/√max(S, 1e-10) (#42 on) | sqrt: 1/max(√S, 1e-10) (#41)
    normuon_square_axis: str = "row"      # square matrices per row (#48 on) | per column (#41/#42)
    normuon_square_dtype: str = "float32"  # mean of squares in fp32 (#48 on) | in the direction's dtype (#41)
    decay: str = "decoupled"              # decoupled | cautious (#43 on)
    state_dtype: str = "param"            # param | float32 (#57): momentum and NorMuon state
    master: str = "none"                  # none | mantissa (#57: fp32 master of a bf16 weight)

    def __post_init__(self):
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        for name, registry in PIECES.items():
            if getattr(self, name) not in registry:
                raise ValueError(f"{name} must be one of {', '.join(registry.names())}, got {getattr(self, name)!r}")
        if len(self.ns_coefficients) != 3:
            raise ValueError(f"ns_coefficients must be (a, b, c), got {self.ns_coefficients!r}")
        if self.ns_steps < 1 or not 0 <= self.momentum < 1 or self.weight_decay < 0:
            raise ValueError(f"expected ns_steps ≥ 1, 0 ≤ momentum < 1, weight_decay ≥ 0; got {self.ns_steps}, "
                             f"{self.momentum}, {self.weight_decay}")
        if not 0 <= self.normuon_beta2 < 1 or self.lr_mul < 0 or self.wd_mul < 0:
            raise ValueError(f"expected 0 ≤ normuon_beta2 < 1, lr_mul ≥ 0, wd_mul ≥ 0; got {self.normuon_beta2}, "
                             f"{self.lr_mul}, {self.wd_mul}")
        if self.head_dim is not None and self.head_dim < 1:
            raise ValueError(f"head_dim must be ≥ 1, got {self.head_dim}")


def update_scale(shape, rule: str) -> float:
    """How much larger the update of a (rows, cols) matrix is made, so its size suits the layer's shape."""
    rows, cols = shape[-2], shape[-1]
    if rule == "rows_over_cols":
        return math.sqrt(max(1.0, rows / cols))
    if rule == "cols_over_rows":
        return math.sqrt(max(1.0, cols / rows))
    if rule == "max_dim":
        return math.sqrt(max(rows, cols))
    if rule == "one":
        return 1.0
    raise ValueError(f"Muon shape_scale must be one of {SHAPE_SCALES}, got {rule!r}")


@dataclass
class _Bucket:
    """The parameters of one group that share shape, dtype and device: one batched orthogonalisation."""
    params: list[torch.Tensor]   # in group order; rank r owns params[r*per_rank : (r+1)*per_rank]
    per_rank: int                # how many each rank orthogonalises (the last ranks pad with zeros)


class Muon(KeepsStateDtypes, torch.optim.Optimizer):
    """Muon (see the module's docstring)."""

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
        name = group.get("name", len(self.param_groups) - 1)
        try:   # a group's own arguments get the same checks as the defaults
            MuonConfig(**{k: group[k] for k in MuonConfig.__dataclass_fields__})
        except ValueError as e:
            raise ValueError(f"Muon group {name!r}: {e}") from None
        if group["view"] == "head_pairs" and group["head_dim"] is None:
            raise ValueError(f"Muon group {name!r}: view 'head_pairs' needs head_dim")
        by_kind: dict[tuple, list[torch.Tensor]] = {}
        for p in group["params"]:
            if p.ndim < 2:
                raise ValueError(f"Muon trains matrices only; group {name!r} has a "
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
        # all-gather of one group overlaps with the orthogonalisation of the next.
        launched = [(group, bucket, *self._orthogonalise(group, bucket))
                    for group, buckets in zip(self.param_groups, self._buckets) for bucket in buckets]
        for group, bucket, work, updates in launched:
            if work is not None:
                work.wait()
            self._apply(group, bucket, updates)
        return loss

    def _orthogonalise(self, group: dict, bucket: _Bucket):
        """This rank's share of the bucket: momentum, view, orthogonaliser, normaliser; then the gather."""
        k, like = bucket.per_rank, bucket.params[0]
        mine = bucket.params[self.rank * k:(self.rank + 1) * k]
        directions = self._directions(group, mine) if mine else []
        directions += [torch.zeros_like(like, dtype=self._state_dtype(group, like))] * (k - len(mine))
        U = torch.stack(directions)            # padding rows orthogonalise to 0
        view, normaliser = VIEWS.get(group["view"]), NORMALISERS.get(group["normaliser"])
        orthogonalise = ORTHOGONALISERS.get(group["orthogonaliser"])
        blocks = []
        for i, block in enumerate(view.split(U, group)):
            O = orthogonalise(block, group["ns_steps"], group["ns_coefficients"])
            shape = normaliser.state_shape(O.shape[1:], group)
            if shape is not None:
                S = torch.stack([self._state(p, f"{group['normaliser']}{i}", shape, group) for p in mine] +
                                [O.new_zeros(shape, dtype=self._state_dtype(group, like))] * (k - len(mine)))
                O = normaliser.apply(O, S, group)
                for p, s in zip(mine, S):
                    self.state[p][f"{group['normaliser']}{i}"].copy_(s)
            blocks.append(O)
        ortho = view.merge(blocks, U.shape, group)
        if self.world == 1:
            return None, ortho
        gathered = ortho.new_empty((self.world * k, *like.shape))
        if dist.get_backend() == "nccl":
            work = dist.all_gather_into_tensor(gathered, ortho, async_op=True)
        else:  # gloo has no all_gather_into_tensor on some versions; the chunks are views of `gathered`
            work = dist.all_gather(list(gathered.chunk(self.world)), ortho, async_op=True)
        return work, gathered

    def _directions(self, group: dict, params: list[torch.Tensor]) -> list[torch.Tensor]:
        grads = []
        for p in params:
            if p.grad is None:
                raise RuntimeError(f"Muon group {group.get('name', '?')!r}: a parameter of shape "
                                   f"{tuple(p.shape)} has no gradient (every rank must own the same set)")
            grads.append(p.grad)
        dtype = self._state_dtype(group, params[0])
        bufs = [self._state(p, "momentum", p.shape, group) for p in params]
        if dtype != params[0].dtype:   # fp32 state: the gradient is cast on arrival (#57)
            grads = [g.to(dtype) for g in grads]
        return MOMENTA.get(group["momentum_form"])(bufs, grads, group["momentum"], group["nesterov"])

    @staticmethod
    def _state_dtype(group: dict, p: torch.Tensor) -> torch.dtype:
        return STATE_DTYPES[group["state_dtype"]] or p.dtype

    def _state(self, p: torch.Tensor, key: str, shape, group: dict) -> torch.Tensor:
        state = self.state[p]
        if key not in state:   # created on first use, so a restored empty state starts from zero
            state[key] = torch.zeros(shape, dtype=self._state_dtype(group, p), device=p.device)
        return state[key]

    def _apply(self, group: dict, bucket: _Bucket, updates: torch.Tensor) -> None:
        params, like = bucket.params, bucket.params[0]
        lr = group["lr"]
        shape = VIEWS.get(group["view"]).matrix_shape(like.shape, group)
        eff = lr * update_scale(shape, group["shape_scale"]) * group["lr_mul"]
        updates = list(updates[:len(params)].to(like.dtype).unbind(0))
        decay = DECAYS.get(group["decay"])
        MASTERS.get(group["master"])(self.state, params, updates,
                                     lambda targets, upd: decay(targets, upd, lr, eff, group))


def build_muon(param_groups: list[dict], *, world: int, rank: int) -> torch.optim.Optimizer:
    """The trainer's entry point: groups carry params, lr, name and MuonConfig's fields."""
    return Muon(param_groups, world=world, rank=rank)


build_muon.spans_groups = True   # one Muon batches same-shaped matrices across its groups
OPTIMIZERS.register("muon", config=MuonConfig)(build_muon)


def piece_modules(args: dict) -> set[str]:
    """The modules of the pieces a Muon group's arguments name (for a run's code identity: a piece that an
    ingredient module registers, such as a kernel orthogonaliser, is code the run executes)."""
    cfg = MuonConfig(**args)
    return {getattr(registry.get(getattr(cfg, name)), "__module__", "") for name, registry in PIECES.items()}
