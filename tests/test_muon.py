"""Muon and its momentum warm-up: the update against the formulas, batching, ranks, the ingredients."""

from __future__ import annotations

import functools
import math
from dataclasses import asdict

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import remix.optim.orthogonalise as orthogonalise_module
from ingredients.muon import Muon, MuonConfig, build_muon, update_scale
from ingredients.muon import INGREDIENT as MUON
from ingredients.muon_momentum_warmup import INGREDIENT as WARMUP
from remix.slots import MOMENTUM_SCHEDULES, OPTIMIZERS
from remix.ingredient import catalogue
from remix.spec import Component, OptimGroup, Spec

COEFFS = (3.4445, -4.7750, 2.0315)


# --- a float64 reference, written from the formulas -----------------------------------------------

def ns_float64(u: torch.Tensor, steps: int = 5) -> torch.Tensor:
    a, b, c = COEFFS
    X = u.double()
    tall = X.shape[-2] > X.shape[-1]
    if tall:
        X = X.transpose(-2, -1)
    X = X / (torch.linalg.matrix_norm(X, keepdim=True) + 1e-7)
    for _ in range(steps):
        A = X @ X.transpose(-2, -1)
        X = a * X + (b * A + c * A @ A) @ X
    return X.transpose(-2, -1) if tall else X


def reference_updates(grads, momenta, lr, nesterov):
    """The change Muon makes to one parameter at each step, for gradients grads[t] and momenta[t]."""
    buf = torch.zeros_like(grads[0], dtype=torch.float64)
    rows, cols = grads[0].shape[-2:]
    out = []
    for g, m in zip(grads, momenta):
        g = g.double()
        buf = m * buf + (1 - m) * g
        u = (1 - m) * g + m * buf if nesterov else buf
        out.append(-lr * math.sqrt(max(1, rows / cols)) * ns_float64(u))
    return out


def rel_err(x: torch.Tensor, ref: torch.Tensor) -> float:
    return ((x.double() - ref).norm() / ref.norm()).item()


def muon_updates(p0, grads, momenta, lr, **config):
    p = p0.clone().requires_grad_()
    opt = Muon([{"params": [p], "lr": lr, "name": "hidden"}], **config)
    out = []
    for g, m in zip(grads, momenta):
        p.grad = g.to(p.dtype)
        opt.param_groups[0]["momentum"] = m     # as the trainer does from the schedule
        before = p.detach().clone()
        opt.step()
        out.append(p.detach().double() - before.double())
    return out, opt


# 2-D square, tall with the (3072 x 768) aspect ratio (scale 2), wide (768 x 3072), 3-D like qkv
SHAPES = [(32, 32), (64, 16), (16, 64), (3, 24, 24)]


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
def test_update_matches_float64_formulas(shape, nesterov, monkeypatch):
    """Momentum, Nesterov, transposition, shape scale and lr exactly: Newton–Schulz run in float64."""
    def float64_ns(G, steps, a, b, c):
        assert (steps, (a, b, c)) == (5, COEFFS)
        return ns_float64(G, steps)
    monkeypatch.setattr(orthogonalise_module, "newton_schulz", float64_ns)
    torch.manual_seed(0)
    grads = [torch.randn(shape, dtype=torch.float64) for _ in range(3)]
    momenta = [0.85, 0.9, 0.95]
    got, _ = muon_updates(torch.randn(shape, dtype=torch.float64), grads, momenta, lr=0.05, nesterov=nesterov)
    want = reference_updates(grads, momenta, lr=0.05, nesterov=nesterov)
    for g, w in zip(got, want):
        assert rel_err(g, w) < 1e-12


# Five Newton–Schulz iterations in bf16 land about 3e-2 (relative, Frobenius) from the float64 result:
# the (a, b, c) terms nearly cancel, which amplifies the 4e-3 rounding of each product.
BF16_NS_TOL = 5e-2


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
def test_update_matches_float64_within_bf16_tolerance(shape, nesterov):
    torch.manual_seed(0)
    grads = [torch.randn(shape) for _ in range(3)]
    momenta = [0.85, 0.9, 0.95]
    got, _ = muon_updates(torch.randn(shape), grads, momenta, lr=0.05, nesterov=nesterov)
    want = reference_updates(grads, momenta, lr=0.05, nesterov=nesterov)
    for g, w in zip(got, want):
        assert rel_err(g, w) < BF16_NS_TOL


def test_bf16_parameters_keep_bf16_state():
    torch.manual_seed(1)
    shape = (64, 16)
    grads = [torch.randn(shape) for _ in range(2)]
    got, opt = muon_updates(torch.zeros(shape, dtype=torch.bfloat16), grads, [0.95, 0.95], lr=0.05)
    want = reference_updates(grads, [0.95, 0.95], lr=0.05, nesterov=True)
    assert rel_err(got[0], want[0]) < BF16_NS_TOL                 # from zero weights: no rounding of p + dp
    (state,) = opt.state.values()
    assert state["momentum"].dtype == torch.bfloat16


def test_shape_scale():
    assert update_scale(torch.Size([3072, 768]), "rows_over_cols") == 2.0
    assert update_scale(torch.Size([768, 3072]), "rows_over_cols") == 1.0
    assert update_scale(torch.Size([3, 768, 768]), "rows_over_cols") == 1.0
    assert update_scale(torch.Size([768, 3072]), "max_dim") == math.sqrt(3072)


def test_max_dim_scale_changes_only_the_size():
    torch.manual_seed(2)
    grads = [torch.randn(64, 16)]
    rows_over_cols, _ = muon_updates(torch.zeros(64, 16), grads, [0.95], lr=0.05)
    max_dim, _ = muon_updates(torch.zeros(64, 16), grads, [0.95], lr=0.05, shape_scale="max_dim")
    torch.testing.assert_close(max_dim[0], rows_over_cols[0] * math.sqrt(64) / 2)


def model_like_params(dtype=torch.float32):
    """Several parameters per shape, in an interleaved order, as the blocks of a model give them."""
    torch.manual_seed(3)
    shapes = [(3, 16, 16), (16, 16), (64, 16), (16, 64)] * 3 + [(16, 16), (64, 16)]
    return [torch.randn(s, dtype=dtype) for s in shapes]


def fixed_grads(params, steps=3):
    g = torch.Generator().manual_seed(4)
    return [[torch.randn(p.shape, generator=g).to(p.dtype) for p in params] for _ in range(steps)]


def run_steps(opt, params, grads, momenta=(0.85, 0.9, 0.95)):
    for step_grads, m in zip(grads, momenta):
        for p, g in zip(params, step_grads):
            p.grad = g.clone()
        for group in opt.param_groups:
            group["momentum"] = m
        opt.step()


def test_batched_by_shape_equals_one_at_a_time():
    init = model_like_params()
    grads = fixed_grads(init)
    batched = [p.clone().requires_grad_() for p in init]
    run_steps(Muon([{"params": batched, "lr": 0.05}]), batched, grads)
    assert len(Muon([{"params": batched, "lr": 0.05}])._buckets[0]) == 4   # one batch per shape
    for i, p0 in enumerate(init):
        single = p0.clone().requires_grad_()
        run_steps(Muon([{"params": [single], "lr": 0.05}]), [single], [[g[i]] for g in grads])
        torch.testing.assert_close(batched[i], single, rtol=1e-5, atol=1e-6)


def test_builder_takes_the_trainers_groups():
    p = torch.randn(32, 16, requires_grad=True)
    cfg = OPTIMIZERS.config("muon", {"momentum": 0.95, "nesterov": True, "ns_steps": 5})
    opt = OPTIMIZERS.get("muon")([{"params": [p], "lr": 0.05, "name": "hidden", **asdict(cfg)}],
                                 world=1, rank=0)
    assert opt.param_groups[0]["name"] == "hidden" and opt.param_groups[0]["ns_steps"] == 5
    with pytest.raises(ValueError, match="matrices only"):
        build_muon([{"params": [torch.zeros(4, requires_grad=True)], "lr": 0.1}], world=1, rank=0)


# --- two ranks over gloo give the one-rank result -------------------------------------------------

def _gloo_worker(rank: int, world: int, init_file: str, out_dir: str):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        params = [p.requires_grad_() for p in model_like_params()]
        opt = build_muon([{"params": params, "lr": 0.05, "name": "hidden"}], world=world, rank=rank)
        run_steps(opt, params, fixed_grads(params))     # gradients already averaged: the same on each rank
        owned = [i for i, p in enumerate(params) if p in opt.state]
        torch.save({"params": [p.detach() for p in params], "owned": owned}, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_equal_one(tmp_path):
    world = 2
    mp.spawn(_gloo_worker, args=(world, str(tmp_path / "init"), str(tmp_path)), nprocs=world)
    params = [p.requires_grad_() for p in model_like_params()]
    run_steps(Muon([{"params": params, "lr": 0.05}]), params, fixed_grads(params))
    results = [torch.load(tmp_path / f"rank{r}.pt") for r in range(world)]
    for r in results:
        for got, want in zip(r["params"], params):
            torch.testing.assert_close(got, want.detach(), rtol=1e-5, atol=1e-6)
    owned = [set(r["owned"]) for r in results]
    assert owned[0].isdisjoint(owned[1]) and owned[0] | owned[1] == set(range(len(params)))


# --- the ingredients ------------------------------------------------------------------------------

def m_like_spec() -> Spec:
    return Spec(optim={
        "head": OptimGroup("adam", ("head",), 0.22),
        "embed": OptimGroup("adam", ("embed",), 0.6),
        "scalar": OptimGroup("adam", ("vector",), 0.04),
        "matrices": OptimGroup("adam", ("matrix",), 0.001),
    })


def test_muon_apply_is_pure_and_moves_the_matrices():
    spec = m_like_spec()
    before = spec.to_dict()
    out = MUON.apply(spec)
    assert spec.to_dict() == before
    assert list(out.optim) == ["head", "embed", "scalar", "hidden"]       # emptied group dropped
    assert out.optim["hidden"] == OptimGroup("muon", ("matrix",), 0.05,
                                             {"momentum": 0.95, "nesterov": True, "ns_steps": 5})
    OPTIMIZERS.config("muon", out.optim["hidden"].args)                   # args are Muon's config


def test_muon_apply_takes_matrix_out_of_a_shared_group():
    spec = Spec(optim={"all": OptimGroup("adamw", ("embed", "head", "matrix", "vector"), 0.0021)})
    out = MUON.apply(spec, {"lr": 0.02, "nesterov": False})
    assert out.optim["all"].roles == ("embed", "head", "vector")
    assert out.optim["hidden"].lr == 0.02 and out.optim["hidden"].args["nesterov"] is False


def test_ingredients_in_catalogue():
    cat = catalogue()
    assert cat["muon"] is MUON and cat["muon_momentum_warmup"] is WARMUP
    assert not MUON.math_equivalent and MUON.category == "optimizer"
    assert [p.record for p in MUON.provenance] == ["3", "4", "8", "13", "15", "20"]
    assert WARMUP.requires == ("muon",) and "Newton" in MUON.card


def test_momentum_warmup_schedule():
    spec = MUON.apply(m_like_spec())
    before = spec.to_dict()
    out = WARMUP.apply(spec)
    assert spec.to_dict() == before
    assert out.schedule.momentum == Component("linear_warmup", {"start": 0.85, "end": 0.95, "steps": 300})
    cfg = MOMENTUM_SCHEDULES.config("linear_warmup", out.schedule.momentum.args)
    momentum = MOMENTUM_SCHEDULES.get("linear_warmup")(cfg, 2500)
    assert [round(momentum(s), 12) for s in (0, 150, 300, 1000)] == [0.85, 0.9, 0.95, 0.95]


# --- M's update is bitwise what it was before Muon was assembled from pieces ----------------------
# A frozen copy of the step at commit 227d427 (ingredients/muon.py), one rank: EMA momentum in the
# parameter's dtype, parameters of one shape stacked, Newton–Schulz 5 in bf16, p ← p − lr·scale·O.

def _frozen_newton_schulz(G, steps, a, b, c):
    tall = G.size(-2) > G.size(-1)
    X = G.to(torch.bfloat16)
    if tall:
        X = X.transpose(-2, -1)
    X = X / (torch.linalg.matrix_norm(X, keepdim=True) + 1e-7)
    for _ in range(steps):
        A = X @ X.transpose(-2, -1)
        B = b * A + c * A @ A
        X = B @ X + a * X
    if tall:
        X = X.transpose(-2, -1)
    return X.contiguous()


class FrozenMuon:
    def __init__(self, params, lr=0.05, momentum=0.95, nesterov=True, ns_steps=5, coefficients=COEFFS):
        self.lr, self.momentum, self.nesterov = lr, momentum, nesterov
        self.ns_steps, self.coefficients = ns_steps, coefficients
        self.buckets = {}
        for p in params:
            self.buckets.setdefault((tuple(p.shape), p.dtype), []).append(p)
        self.bufs = {}

    @torch.no_grad()
    def step(self):
        m = self.momentum
        launched = []
        for params in self.buckets.values():
            grads = [p.grad for p in params]
            bufs = [self.bufs.setdefault(id(p), torch.zeros_like(p)) for p in params]
            torch._foreach_lerp_(bufs, grads, 1 - m)
            directions = list(torch._foreach_lerp(grads, bufs, m)) if self.nesterov else list(bufs)
            a, b, c = (float(x) for x in self.coefficients)
            launched.append((params, _frozen_newton_schulz(torch.stack(directions), int(self.ns_steps), a, b, c)))
        for params, updates in launched:
            like = params[0]
            updates = updates[:len(params)].to(like.dtype)
            rows, cols = like.shape[-2], like.shape[-1]
            torch._foreach_add_(params, list(updates.unbind(0)), alpha=-self.lr * math.sqrt(max(1.0, rows / cols)))


@functools.cache
def _m_hidden_group():
    """The M recipe's hidden group, as the trainer builds it from the resolved spec."""
    from remix.optim import from_model
    from remix.recipe import load_recipe
    from remix.runner import RunOptions, resolve_spec
    from conftest import RECIPES
    spec = resolve_spec(load_recipe(RECIPES / "muon_baseline.toml"), RunOptions(device="cpu"))[0]
    g = spec.optim["hidden"]
    cfg = OPTIMIZERS.config(g.optimizer, g.args)
    return g.lr, from_model(asdict(cfg), spec.model)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("nesterov", [True, False])
def test_m_update_is_bitwise_the_frozen_step(dtype, nesterov):
    lr, args = _m_hidden_group()
    assert (args["orthogonaliser"], args["momentum_form"], args["normaliser"], args["decay"], args["view"],
            args["state_dtype"], args["master"], args["lr_mul"], args["weight_decay"]) == \
        ("newton_schulz", "ema", "none", "decoupled", "whole", "param", "none", 1.0, 0.0)
    args = {**args, "nesterov": nesterov}
    init = model_like_params(dtype)
    grads = fixed_grads(init, steps=4)
    new = [p.clone().requires_grad_() for p in init]
    old = [p.clone() for p in init]
    opt = Muon([{"params": new, "lr": lr, "name": "hidden", **args}])
    frozen = FrozenMuon(old, lr=lr, nesterov=nesterov)
    for step_grads, m in zip(grads, (0.85, 0.875, 0.9, 0.95)):
        for p, q, g in zip(new, old, step_grads):
            p.grad, q.grad = g.clone(), g.clone()
        opt.param_groups[0]["momentum"] = frozen.momentum = m
        opt.step()
        frozen.step()
        for p, q in zip(new, old):
            assert torch.equal(p.detach(), q), "M's Muon update changed"
    # and the frozen step is Muon's formula: one step of it is within bf16 Newton–Schulz of the float64 one
    if dtype == torch.float32:
        p = init[0].clone()
        one = FrozenMuon([p], lr=lr, nesterov=nesterov)
        p.grad, one.momentum = grads[0][0].clone(), 0.85
        one.step()
        assert rel_err(p - init[0], reference_updates([grads[0][0]], [0.85], lr, nesterov)[0]) < BF16_NS_TOL
