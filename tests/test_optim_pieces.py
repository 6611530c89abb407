"""Muon's pieces, remix_adam and the losses, each against a float64 evaluation of its formula on fixed
inputs; and the optimizer/loss ingredients' groups, roles and options in M."""

from __future__ import annotations

import math
from dataclasses import asdict
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

import remix.optim.orthogonalise as orth
from remix.ingredient import catalogue
from remix.model.head import CrossEntropy, CrossEntropyConfig, mtp_weights_at
from remix.model.parts import Context
from remix.optim import build_optimizers, from_model, partition
from remix.optim.muon import Muon, MuonConfig, update_scale
from remix.optim.muon_parts import NORMALISERS, VIEWS, join_master, split_master
from remix.optim.remix_adam import RemixAdam, adam_step
from remix.registry import RegistryError
from remix.slots import LOSSES, OPTIMIZERS

from test_muon import ns_float64

torch.set_num_threads(1)


# ==================================================================================================
# float64 references, written from the formulas
# ==================================================================================================

PE_A = [8.156554524902461, 4.042929935166739, 3.8916678022926607, 3.285753657755655, 2.3465413258596377]
PE_B = [-22.48329292557795, -2.808917465908714, -2.772484153217685, -2.3681294933425376, -1.7097828382687081]
PE_C = [15.878769915207462, 0.5000178451051316, 0.5060648178503393, 0.46449024233003106, 0.42323551169305323]
PE_TABLE = list(zip(PE_A, PE_B, PE_C))   # record #38's coefficients, retyped from the notes, per iteration


def pe_float64(G: torch.Tensor, steps: int = 5) -> torch.Tensor:
    X = G.double()
    tall = X.shape[-2] > X.shape[-1]
    if tall:
        X = X.transpose(-2, -1)
    X = X / (1.02 * torch.linalg.matrix_norm(X, keepdim=True) + 1e-6)
    for a, b, c in PE_TABLE[:steps]:
        A = X @ X.transpose(-2, -1)
        X = a * X + (b * A + c * A @ A) @ X
    return X.transpose(-2, -1) if tall else X


def normuon_ref(V, S, *, beta2, floor="rsqrt", square="row"):
    """One matrix V (r, c), state S; returns (V', S')."""
    r, c = V.shape
    per_row = r > c or (r == c and square == "row")
    q = (V * V).mean(dim=1 if per_row else 0, keepdim=True)
    S = beta2 * S + (1 - beta2) * q
    step = 1 / torch.sqrt(torch.clamp(S, min=1e-10)) if floor == "rsqrt" else 1 / torch.clamp(torch.sqrt(S), min=1e-10)
    W = V * step
    return W * (torch.linalg.norm(V) / max(torch.linalg.norm(W), torch.tensor(1e-10, dtype=V.dtype))), S


def whole_split(u):
    r, c = u.shape[-2:]
    return list(u.reshape(-1, r, c)), lambda ms: torch.stack(ms).reshape(u.shape)


def qkv_split_ref(u):
    n = u.shape[0] // 3
    return [u[:n], u[n:2 * n], u[2 * n:]], lambda ms: torch.cat(ms)


def head_pairs_ref(hd):
    def split(u):
        qkv = u if u.ndim == 3 else u.reshape(3, -1, u.shape[-1])
        inner = qkv.shape[1]
        pairs = [qkv[j, i:i + 2 * hd] for j in (0, 1) for i in range(0, inner, 2 * hd)]
        n = inner // (2 * hd)

        def merge(ms):
            q, k = torch.cat(ms[:n]), torch.cat(ms[n:2 * n])
            return torch.stack([q, k, ms[2 * n]]).reshape(u.shape)
        return pairs + [qkv[2]], merge
    return split


def ref_muon(p0, grads, momenta, *, lr=0.05, form="ema", nesterov=True, ortho=ns_float64, split=whole_split,
             normuon=None, decay="decoupled", wd=0.0, wd_mul=1.0, lr_mul=1.0, scale=None):
    """Muon on one parameter in float64: the parameter after each step."""
    p = p0.double().clone()
    buf = torch.zeros_like(p)
    S: dict[int, torch.Tensor] = {}
    scale = math.sqrt(max(1, p.shape[-2] / p.shape[-1])) if scale is None else scale
    out = []
    for g, m in zip(grads, momenta):
        g = g.double()
        if form == "ema":
            buf = m * buf + (1 - m) * g
            u = (1 - m) * g + m * buf if nesterov else buf
        else:
            buf = m * buf + g
            u = g + m * buf if nesterov else buf
        mats, merge = split(u)
        vs = []
        for i, M in enumerate(mats):
            O = ortho(M)
            if normuon is not None:
                r, c = O.shape
                axis = 1 if (r > c or (r == c and normuon.get("square", "row") == "row")) else 0
                S.setdefault(i, torch.zeros_like(O.mean(dim=axis, keepdim=True)))
                O, S[i] = normuon_ref(O, S[i], **normuon)
            vs.append(O)
        V = merge(vs)
        eff = lr * scale * lr_mul
        if decay == "cautious":
            lam = lr * wd * wd_mul
            mask = (V * p >= 0).double()
            p = p - eff * (V + lam * mask * p)
        else:
            p = p * (1 - lr * wd * wd_mul) - eff * V
        out.append(p.clone())
    return out


REAL_PE = orth.polar_express


@pytest.fixture
def float64_orthogonalisers(monkeypatch):
    """The registered orthogonalisers with their iteration run in float64 (the formula, no bf16)."""
    def ns(G, steps, a, b, c):
        assert (a, b, c) == (3.4445, -4.7750, 2.0315)
        return ns_float64(G, steps)
    monkeypatch.setattr(orth, "newton_schulz", ns)
    monkeypatch.setattr(orth, "polar_express", lambda G, steps: REAL_PE(G, steps, torch.float64))


def run_muon(p0, grads, momenta, lr=0.05, **args):
    p = p0.clone().requires_grad_()
    opt = Muon([{"params": [p], "lr": lr, "name": "hidden", **args}])
    out = []
    for g, m in zip(grads, momenta):
        p.grad = g.clone().to(p.dtype)
        opt.param_groups[0]["momentum"] = m
        opt.step()
        out.append(p.detach().clone())
    return out, opt


def close(got, want, tol=1e-12):
    for g, w in zip(got, want):
        assert ((g.double() - w).norm() / w.norm()).item() < tol


def fixed(shape, n=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen, dtype=torch.float64), \
        [torch.randn(shape, generator=gen, dtype=torch.float64) for _ in range(n)]


MOMENTA = [0.85, 0.9, 0.95]
SHAPES = [(16, 16), (32, 8), (8, 32), (3, 8, 8)]


# ==================================================================================================
# orthogonalisers
# ==================================================================================================

def test_registry_holds_both_orthogonalisers():
    assert {"newton_schulz", "polar_express"} <= set(orth.ORTHOGONALISERS.names())
    with pytest.raises(ValueError, match="orthogonaliser"):
        MuonConfig(orthogonaliser="no_such")


@pytest.mark.parametrize("shape", [(16, 16), (24, 8), (8, 24), (2, 12, 6)])
def test_polar_express_is_its_formula_in_float64(shape):
    G = fixed(shape)[0]
    torch.testing.assert_close(orth.polar_express(G, 5, torch.float64), pe_float64(G), rtol=0, atol=1e-12)
    torch.testing.assert_close(orth.polar_express(G, 3, torch.float64), pe_float64(G, 3), rtol=0, atol=1e-12)


def test_polar_express_in_bf16_orthogonalises():
    G = fixed((32, 16))[0].float()
    O = orth.ORTHOGONALISERS.get("polar_express")(G, 5, ())
    assert O.dtype == torch.bfloat16 and O.shape == G.shape
    s = torch.linalg.svdvals(O.double())
    assert s.min() > 0.6 and s.max() < 1.25          # every singular value pushed near 1
    ref = pe_float64(G)        # the first step's large (a, b, c) amplify bf16 rounding more than NS5's: ~7e-2
    assert ((O.double() - ref).norm() / ref.norm()) < 0.1
    with pytest.raises(ValueError, match="1..5 steps"):
        orth.ORTHOGONALISERS.get("polar_express")(G, 6, ())


# ==================================================================================================
# Muon pieces, end to end in float64
# ==================================================================================================

@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
def test_sum_momentum(shape, nesterov, float64_orthogonalisers):
    p0, grads = fixed(shape)
    got, opt = run_muon(p0, grads, MOMENTA, momentum_form="sum", nesterov=nesterov)
    close(got, ref_muon(p0, grads, MOMENTA, form="sum", nesterov=nesterov))


def test_sum_and_ema_agree_at_constant_momentum(float64_orthogonalisers):
    p0, grads = fixed((32, 8))
    ema, _ = run_muon(p0, grads, [0.95] * 3)
    total, _ = run_muon(p0, grads, [0.95] * 3, momentum_form="sum")
    close(total, ema, tol=1e-6)                                    # equal up to NS's 1e-7 eps
    rising = [0.85, 0.9, 0.95]
    total, ema = run_muon(p0, grads, rising, momentum_form="sum")[0], run_muon(p0, grads, rising)[0]
    assert (total[-1] - ema[-1]).abs().max() > 1e-4


@pytest.mark.parametrize("shape", SHAPES)
def test_polar_express_in_muon(shape, float64_orthogonalisers):
    p0, grads = fixed(shape)
    got, _ = run_muon(p0, grads, MOMENTA, orthogonaliser="polar_express")
    close(got, ref_muon(p0, grads, MOMENTA, ortho=pe_float64))


NORMUON = {
    "41": dict(normuon_beta2=0.95, normuon_floor="sqrt", normuon_square_axis="column", normuon_square_dtype="param"),
    "48": dict(normuon_beta2=0.95, normuon_floor="rsqrt", normuon_square_axis="row", normuon_square_dtype="float32"),
    "78": dict(normuon_beta2=0.9, normuon_floor="rsqrt", normuon_square_axis="row", normuon_square_dtype="float32"),
}


def _ref_normuon_args(args):
    return {"beta2": args["normuon_beta2"], "floor": args["normuon_floor"], "square": args["normuon_square_axis"]}


@pytest.mark.parametrize("variant", sorted(NORMUON))
@pytest.mark.parametrize("shape", SHAPES)
def test_normuon_in_muon(shape, variant, float64_orthogonalisers):
    p0, grads = fixed(shape)
    args = NORMUON[variant]
    got, opt = run_muon(p0, grads, MOMENTA, orthogonaliser="polar_express", normaliser="normuon", **args)
    close(got, ref_muon(p0, grads, MOMENTA, ortho=pe_float64, normuon=_ref_normuon_args(args)))
    (state,) = opt.state.values()
    r, c = shape[-2:]
    per_row = r > c or (r == c and args["normuon_square_axis"] == "row")
    assert state["normuon0"].shape == (*shape[:-2], r, 1) if per_row else (*shape[:-2], 1, c)


def test_normuon_square_axis_and_norm():
    """The normaliser on its own: row vs column for a square matrix, and |V|_F kept."""
    O = fixed((3, 8, 8))[0]
    for axis, per_row in (("row", True), ("column", False)):
        group = {"normuon_square_axis": axis, "normuon_beta2": 0.95, "normuon_floor": "rsqrt",
                 "normuon_square_dtype": "float32"}
        shape = NORMALISERS.get("normuon").state_shape(O.shape, group)
        assert list(shape) == ([3, 8, 1] if per_row else [3, 1, 8])
        S = torch.zeros(shape, dtype=torch.float64)
        V = NORMALISERS.get("normuon").apply(O, S, group)
        torch.testing.assert_close(torch.linalg.matrix_norm(V), torch.linalg.matrix_norm(O))
        for i in range(3):
            ref, S_ref = normuon_ref(O[i], torch.zeros_like(S[i]), beta2=0.95, square=axis)
            torch.testing.assert_close(V[i], ref, rtol=0, atol=1e-13)
            torch.testing.assert_close(S[i], S_ref, rtol=0, atol=1e-15)


@pytest.mark.parametrize("normuon", [False, True])
@pytest.mark.parametrize("shape", [(32, 8), (8, 32), (3, 8, 8)])
def test_cautious_decay(shape, normuon, float64_orthogonalisers):
    p0, grads = fixed(shape)
    args = dict(decay="cautious", weight_decay=1.2, lr_mul=2.0, wd_mul=0.5)
    extra = NORMUON["78"] if normuon else {}
    got, _ = run_muon(p0, grads, MOMENTA, normaliser="normuon" if normuon else "none", **args, **extra)
    want = ref_muon(p0, grads, MOMENTA, decay="cautious", wd=1.2, lr_mul=2.0, wd_mul=0.5,
                    normuon=_ref_normuon_args(extra) if normuon else None)
    close(got, want)
    plain = ref_muon(p0, grads, MOMENTA, lr_mul=2.0, normuon=_ref_normuon_args(extra) if normuon else None)
    assert (want[-1] - plain[-1]).abs().max() > 1e-6                   # the decay did something


def test_decoupled_decay_and_multipliers(float64_orthogonalisers):
    p0, grads = fixed((32, 8))
    got, _ = run_muon(p0, grads, MOMENTA, weight_decay=0.1, wd_mul=2.0, lr_mul=3.0)
    close(got, ref_muon(p0, grads, MOMENTA, wd=0.1, wd_mul=2.0, lr_mul=3.0))


def test_shape_scale_rules():
    assert update_scale((3072, 768), "rows_over_cols") == 2.0 and update_scale((768, 3072), "rows_over_cols") == 1.0
    assert update_scale((768, 3072), "cols_over_rows") == 2.0 and update_scale((3072, 768), "cols_over_rows") == 1.0
    assert update_scale((3072, 768), "one") == 1.0 and update_scale((768, 3072), "max_dim") == math.sqrt(3072)


def test_qkv_split_view_on_a_linear_layout(float64_orthogonalisers):
    p0, grads = fixed((3 * 8, 8))                                   # GPT-2's c_attn (3·inner, d)
    got, _ = run_muon(p0, grads, MOMENTA, view="qkv_split")
    close(got, ref_muon(p0, grads, MOMENTA, split=qkv_split_ref, scale=1.0))
    whole, _ = run_muon(p0, grads, MOMENTA)                         # one 24×8 matrix, scale √3
    assert (whole[-1] - got[-1]).abs().max() > 1e-3


@pytest.mark.parametrize("layout", ["stacked", "linear"])
@pytest.mark.parametrize("normuon", [False, True])
def test_head_pairs_view(layout, normuon, float64_orthogonalisers):
    hd, heads, d = 2, 4, 8                                          # 2 pairs of (4 × 8) blocks in q and in k
    shape = (3, heads * hd, d) if layout == "stacked" else (3 * heads * hd, d)
    p0, grads = fixed(shape)
    extra = NORMUON["78"] if normuon else {}
    got, opt = run_muon(p0, grads, MOMENTA, view="head_pairs", head_dim=hd,
                        normaliser="normuon" if normuon else "none", **extra)
    want = ref_muon(p0, grads, MOMENTA, split=head_pairs_ref(hd), scale=1.0,
                    normuon=_ref_normuon_args(extra) if normuon else None)
    close(got, want)
    if normuon:
        (state,) = opt.state.values()
        assert state["normuon0"].shape == (4, 1, d) and state["normuon1"].shape == (heads * hd, 1)


def test_views_round_trip():
    U = torch.randn(2, 3, 8, 4)
    group = {"head_dim": 2}
    for name in ("whole", "qkv_split", "head_pairs"):
        view = VIEWS.get(name)
        torch.testing.assert_close(view.merge(view.split(U, group), U.shape, group), U, rtol=0, atol=0)
    blocks = VIEWS.get("head_pairs").split(U, group)
    assert [tuple(b.shape) for b in blocks] == [(2, 4, 4, 4), (2, 8, 4)]
    torch.testing.assert_close(blocks[0][0, 1], U[0, 0, 4:8])       # q's second pair of heads
    with pytest.raises(ValueError, match="pairs of heads"):
        VIEWS.get("head_pairs").split(U, {"head_dim": 3})
    assert VIEWS.get("qkv_split").matrix_shape((24, 8), {}) == (8, 8)


def test_fp32_state_for_bf16_parameters():
    p0, grads = fixed((32, 8))
    _, opt = run_muon(p0.bfloat16(), grads[:1], MOMENTA[:1], state_dtype="float32", normaliser="normuon")
    (state,) = opt.state.values()
    assert state["momentum"].dtype == torch.float32 and state["normuon0"].dtype == torch.float32
    g = grads[0].bfloat16().double()                                # the bf16 gradient, cast on arrival
    torch.testing.assert_close(state["momentum"].double(), 0.15 * g, rtol=1e-6, atol=1e-7)
    _, opt = run_muon(p0.bfloat16(), grads[:1], MOMENTA[:1])
    assert next(iter(opt.state.values()))["momentum"].dtype == torch.bfloat16    # M: the param's dtype


def test_master_words_round_trip():
    x = torch.randn(5, 7)
    p = torch.empty(5, 7, dtype=torch.bfloat16)
    m = torch.empty(5, 7, dtype=torch.int16)
    split_master(x, p, m)
    torch.testing.assert_close(join_master(p, m), x, rtol=0, atol=0)
    assert torch.equal(p, x.view(torch.int32).bitwise_right_shift(16).to(torch.int16).view(torch.bfloat16))
    assert (p.float().abs() <= x.abs()).all()                       # truncated toward zero


def split_word(master):
    return master.view(torch.int32).bitwise_right_shift(16).to(torch.int16).view(torch.bfloat16)


def test_mantissa_master_is_an_fp32_weight(monkeypatch):
    monkeypatch.setattr(orth, "newton_schulz", lambda G, steps, a, b, c: ns_float64(G, steps).bfloat16())
    p0, grads = fixed((32, 8))
    p_bf16 = p0.bfloat16()
    got, opt = run_muon(p_bf16, grads, MOMENTA, master="mantissa", state_dtype="float32",
                        decay="cautious", weight_decay=1.2)
    (state,) = opt.state.values()
    master = join_master(got[-1], state["mantissa"])
    assert torch.equal(got[-1], split_word(master))                 # the weight is the master truncated
    # the same steps on an fp32 weight (same bf16 direction): the master is exactly that weight
    w = p_bf16.float().requires_grad_()
    ref = Muon([{"params": [w], "lr": 0.05, "state_dtype": "float32", "decay": "cautious", "weight_decay": 1.2}])
    for g, m in zip(grads, MOMENTA):
        w.grad = g.bfloat16().float()
        ref.param_groups[0]["momentum"] = m
        ref.step()
    assert torch.equal(master, w.detach())
    # an fp32 weight (tiny scale) is its own master: the same steps as no master at all
    own, _ = run_muon(p0.float(), grads, MOMENTA, master="mantissa", decay="cautious", weight_decay=1.2)
    plain, _ = run_muon(p0.float(), grads, MOMENTA, master="none", decay="cautious", weight_decay=1.2)
    assert torch.equal(own[-1], plain[-1])
    with pytest.raises(ValueError, match="bf16 weights"):
        run_muon(p0.half(), grads[:1], MOMENTA[:1], master="mantissa")


def test_group_arguments_are_checked():
    p = torch.zeros(4, 4, requires_grad=True)
    with pytest.raises(ValueError, match="normaliser"):
        Muon([{"params": [p], "lr": 0.1, "normaliser": "bogus"}])
    with pytest.raises(ValueError, match="head_dim"):
        Muon([{"params": [p], "lr": 0.1, "view": "head_pairs"}])
    with pytest.raises(RegistryError, match="normuon_beta2"):
        OPTIMIZERS.config("muon", {"normuon_beta2": 1.5})


# --- two ranks: NorMuon's state lives on the owner, the result is the one-rank result -------------

def _pieces_params():
    gen = torch.Generator().manual_seed(7)
    return [torch.randn(s, generator=gen) for s in [(3, 8, 8), (16, 8), (3, 8, 8), (8, 16), (3, 8, 8)]]


def _pieces_groups(params):
    return [{"params": [params[i] for i in (0, 2, 4)], "lr": 0.05, "view": "head_pairs", "head_dim": 2,
             "normaliser": "normuon", "decay": "cautious", "weight_decay": 1.2},
            {"params": [params[1], params[3]], "lr": 0.05, "normaliser": "normuon", "orthogonaliser": "polar_express",
             "momentum_form": "sum", "lr_mul": 2.0}]


def _pieces_run(opt, params):
    gen = torch.Generator().manual_seed(8)
    for m in MOMENTA:
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen)
        for group in opt.param_groups:
            group["momentum"] = m
        opt.step()


def _pieces_worker(rank, world, init_file, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        params = [p.requires_grad_() for p in _pieces_params()]
        opt = Muon(_pieces_groups(params), world=world, rank=rank)
        _pieces_run(opt, params)
        torch.save([p.detach() for p in params], f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_pieces_on_two_gloo_ranks_equal_one(tmp_path):
    mp.spawn(_pieces_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2)
    params = [p.requires_grad_() for p in _pieces_params()]
    _pieces_run(Muon(_pieces_groups(params)), params)
    for r in range(2):
        for got, want in zip(torch.load(tmp_path / f"rank{r}.pt"), params):
            torch.testing.assert_close(got, want.detach(), rtol=1e-5, atol=1e-6)


# ==================================================================================================
# remix_adam
# ==================================================================================================

def ref_adam(p0, grads, *, lr=0.01, betas=(0.8, 0.95), eps=1e-8, decay="decoupled", wd=0.0, wd_mul=1.0,
             strict=True, coptim=0.0, floor=1e-3):
    p = p0.double().clone()
    m, v = torch.zeros_like(p), torch.zeros_like(p)
    b1, b2 = betas
    for t, g in enumerate(grads, 1):
        g = g.double()
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        u = lr / (1 - b1 ** t) * m / (torch.sqrt(v) / math.sqrt(1 - b2 ** t) + eps)
        if coptim:
            keep = (u * g > 0).double()
            u = u + coptim * (u * keep / max(keep.mean().item(), floor) - u)
        if decay == "cautious":
            mask = ((u * p > 0) if strict else (u * p >= 0)).double()
            p = p - (u + lr * lr * wd * wd_mul * mask * p)
        else:
            p = p * (1 - lr * wd * wd_mul) - u
    return p


def run_adam(p0, grads, lr=0.01, **args):
    p = p0.clone().requires_grad_()
    opt = RemixAdam([{"params": [p], "lr": lr, "betas": (0.8, 0.95), **args}])
    for g in grads:
        p.grad = g.clone().to(p.dtype)
        opt.step()
    return p.detach(), opt


ADAM_CASES = {
    "plain": {},
    "decoupled": dict(weight_decay=0.1, wd_mul=2.0),
    "cautious_strict": dict(decay="cautious", weight_decay=0.5, wd_mul=3.0, cautious_strict=True),
    "cautious_50": dict(decay="cautious", weight_decay=0.5, wd_mul=3.0, cautious_strict=False),
    "coptim": dict(coptim=0.5),
    "coptim_cautious": dict(coptim=0.5, decay="cautious", weight_decay=0.5, wd_mul=5.0),
}


@pytest.mark.parametrize("case", sorted(ADAM_CASES))
def test_remix_adam_is_its_formula_in_float64(case):
    args = ADAM_CASES[case]
    p0, grads = fixed((16, 8), n=4)
    grads[2][:4] = 0                                   # rows this step did not touch (coptim's keep = 0)
    got, _ = run_adam(p0, grads, **args)
    want = ref_adam(p0, grads, decay=args.get("decay", "decoupled"), wd=args.get("weight_decay", 0.0),
                    wd_mul=args.get("wd_mul", 1.0), strict=args.get("cautious_strict", True),
                    coptim=args.get("coptim", 0.0))
    assert ((got - want).norm() / (want - p0).norm()).item() < 1e-12


def test_cautious_mask_strictness_matters_at_zero():
    p0 = torch.ones(4, 4, dtype=torch.float64)
    grads = [torch.ones(4, 4, dtype=torch.float64)] * 2
    for g in grads:
        g[:2] = 0                                                 # rows with u = 0: u·p = 0, decayed only by ≥
    strict, _ = run_adam(p0, grads, decay="cautious", weight_decay=1.0, cautious_strict=True)
    loose, _ = run_adam(p0, grads, decay="cautious", weight_decay=1.0, cautious_strict=False)
    assert not torch.equal(strict, loose)


def test_remix_adam_matches_torch_adam():
    p0, grads = fixed((16, 8), n=5)
    got, _ = run_adam(p0.float(), grads, lr=0.01)
    w = p0.float().clone().requires_grad_()
    opt = torch.optim.Adam([w], lr=0.01, betas=(0.8, 0.95), foreach=False)
    for g in grads:
        w.grad = g.float()
        opt.step()
    torch.testing.assert_close(got, w.detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("state_dtype, want", [("param", torch.bfloat16), ("float32", torch.float32),
                                                ("bfloat16", torch.bfloat16)])
def test_remix_adam_state_dtype(state_dtype, want):
    _, grads = fixed((16, 8), n=3)
    p0 = torch.zeros(16, 8, dtype=torch.bfloat16)                 # from zero: no rounding of a large weight
    got, opt = run_adam(p0, grads, state_dtype=state_dtype)
    (state,) = opt.state.values()
    assert state["exp_avg"].dtype == want and state["exp_avg_sq"].dtype == want and got.dtype == torch.bfloat16
    ref = ref_adam(p0, [g.bfloat16() for g in grads])
    assert ((got.double() - ref).norm() / ref.norm()) < (1e-2 if want == torch.float32 else 5e-2)


def test_fp32_state_is_closer_than_bf16_state():
    _, grads = fixed((64, 32), n=8)
    p0 = torch.zeros(64, 32, dtype=torch.float32)                 # fp32 weights: the state's rounding shows
    ref = ref_adam(p0, grads)
    errs = {d: (run_adam(p0, grads, state_dtype=d)[0].double() - ref).norm().item() for d in ("float32", "bfloat16")}
    assert errs["float32"] < 1e-3 * errs["bfloat16"]


def test_adam_step_is_one_graph():
    params = [torch.randn(8, 4), torch.randn(3)]
    grads = [torch.randn(8, 4), torch.randn(3)]
    state = [[torch.zeros_like(p) for p in params] for _ in range(2)]
    hp = torch.tensor([0.01, 0.5, 1e-4])
    torch._dynamo.reset()
    out = torch._dynamo.explain(adam_step)(params, grads, *state, hp, beta1=0.8, beta2=0.95, eps=1e-8,
                                            decay="cautious", strict=True, coptim=0.5, floor=1e-3)
    assert (out.graph_count, out.graph_break_count) == (1, 0), out.break_reasons


# ==================================================================================================
# losses
# ==================================================================================================

class _Head(torch.nn.Module):
    def __init__(self, V, d, dtype=torch.float32):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(V, d, dtype=dtype) * 0.5)

    def forward(self, x):
        return x @ self.weight.t()


def _loss_inputs(B=2, T=9, d=6, V=11, dtype=torch.float32):
    torch.manual_seed(0)
    x = torch.randn(B, T, d, dtype=dtype)
    targets = torch.randint(0, V, (B, T))
    targets[0, 3] = -1
    return x, _Head(V, d, dtype), targets


def ref_weighted(logits, targets, weights, extra=()):
    """Σ_k w_k Σ_t [target_{t+k} valid] (lse_t − ℓ_t[target_{t+k}]) in float64, per row."""
    lp = torch.log_softmax(logits.double(), -1)
    B, T = targets.shape
    total = torch.zeros((), dtype=torch.float64)
    for k, w in enumerate(weights):
        for b in range(B):
            for t in range(T - k):
                y = targets[b, t + k]
                if y >= 0:
                    total = total - w * lp[b, t, y]
    for w, tg in extra:
        for b in range(B):
            for t in range(T):
                if tg[b, t] >= 0:
                    total = total - w * lp[b, t, tg[b, t]]
    return total


def _ctx(state=None):
    return Context(torch.zeros(1), state or {})


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_plain_ce_is_f_cross_entropy(reduction):
    x, head, targets = _loss_inputs()
    loss = CrossEntropy(CrossEntropyConfig(reduction=reduction)).train()
    assert loss.plain
    got = loss(x, head, torch.nn.Identity(), targets, _ctx())
    want = F.cross_entropy(head(x).float().view(-1, 11), targets.view(-1), ignore_index=-1, reduction=reduction)
    assert torch.equal(got, want)
    ev = loss.eval()(x, head, torch.nn.Identity(), targets, _ctx())
    assert torch.equal(ev, F.cross_entropy(head(x).view(-1, 11), targets.view(-1), ignore_index=-1))


def test_bf16_ce_keeps_bf16_logits():
    x, head, targets = _loss_inputs(dtype=torch.bfloat16)
    loss = CrossEntropy(CrossEntropyConfig(reduction="sum", precision="bfloat16")).train()
    got = loss(x, head, torch.nn.Identity(), targets, _ctx())
    assert got.dtype == torch.bfloat16
    assert torch.equal(got, F.cross_entropy(head(x).view(-1, 11), targets.view(-1), ignore_index=-1, reduction="sum"))
    ev = loss.eval()(x, head, torch.nn.Identity(), targets, _ctx())
    assert ev.dtype == torch.float32
    assert torch.equal(ev, F.cross_entropy(head(x).float().view(-1, 11), targets.view(-1), ignore_index=-1))
    fp32 = CrossEntropy(CrossEntropyConfig(reduction="sum")).train()(x, head, torch.nn.Identity(), targets, _ctx())
    assert fp32.dtype == torch.float32 and abs(fp32.item() - got.item()) / fp32.item() < 2e-2


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_multi_token_loss_is_its_formula(reduction):
    x, head, targets = _loss_inputs()
    weights = (1.0, 0.5, 0.25)
    loss = CrossEntropy(CrossEntropyConfig(reduction=reduction, mtp_weights=weights)).train()
    assert not loss.plain
    got = loss(x, head, torch.nn.Identity(), targets, _ctx())
    want = ref_weighted(head(x), targets, weights)
    if reduction == "mean":
        want = want / (targets >= 0).sum()
    assert abs(got.item() - want.item()) / want.item() < 1e-6
    # the step's weights from ctx.state replace the config's (same shape; a dropped one is 0)
    w = torch.tensor([1.0, 0.3, 0.0])
    got = loss(x, head, torch.nn.Identity(), targets, _ctx({"mtp_weights": w}))
    want = ref_weighted(head(x), targets, (1.0, 0.3, 0.0))
    if reduction == "mean":
        want = want / (targets >= 0).sum()
    assert abs(got.item() - want.item()) / want.item() < 1e-6
    # evaluation: mean next-token CE only
    ev = loss.eval()(x, head, torch.nn.Identity(), targets, _ctx())
    assert torch.equal(ev, F.cross_entropy(head(x).view(-1, 11), targets.view(-1), ignore_index=-1))


def test_multi_token_with_one_weight_is_the_plain_sum():
    x, head, targets = _loss_inputs()
    plain = CrossEntropy(CrossEntropyConfig(reduction="sum")).train()
    one = CrossEntropy(CrossEntropyConfig(reduction="sum", mtp_weights=(1.0, 0.0))).train()
    torch.testing.assert_close(one(x, head, torch.nn.Identity(), targets, _ctx()),
                               plain(x, head, torch.nn.Identity(), targets, _ctx()))


def test_mtp_schedule():
    cfg = CrossEntropyConfig(mtp_weights=(1.0, 0.5, 0.25), mtp_schedule="thirds")
    N = 1200
    for step, want in ((0, (1, 0.5, 0.25)), (200, (1, 0.5, 0.25 * (1 - 3 * 200 / N))),
                       (400, (1, 0.5, 0.0)), (600, (1, 0.5 * (2 - 3 * 600 / N), 0.0)),
                       (800, (1, 0.0, 0.0)), (1200, (1, 0.0, 0.0))):
        assert mtp_weights_at(cfg, step, N) == pytest.approx(list(want), abs=1e-12)
    assert mtp_weights_at(CrossEntropyConfig(mtp_weights=(1.0, 0.5)), 900, N) == [1.0, 0.5]
    loss = CrossEntropy(cfg)
    assert loss.step_state(600, N) == {"mtp_weights": pytest.approx([1, 0.25, 0.0])}
    assert CrossEntropy(CrossEntropyConfig(mtp_weights=(1.0, 0.5))).step_state(600, N) == {}


# --- the prefix-token loss -------------------------------------------------------------------------

import ingredients.prefix_token_loss as ptl  # noqa: E402


def test_prefix_table_from_ranks():
    ranks = {b"a": 0, b"b": 1, b"c": 2, b"ab": 3, b"abc": 4, b"bca": 5, b"abca": 6}
    table = ptl.prefix_table_from_ranks(ranks, 9)
    # abc -> ab; bca -> b (bc is not a token); abca -> abc (the longest); single bytes and padding -> −1
    assert table.tolist() == [-1, -1, -1, 0, 3, 1, 4, -1, -1]


def _model(vocab, multiple=8):
    return SimpleNamespace(vocab_size=vocab, vocab_multiple=multiple)


def test_prefix_table_byte_level_and_refusals():
    table = ptl.prefix_table(_model(257))
    assert table.shape == (264,) and (table == -1).all()          # no byte has a proper prefix token
    with pytest.raises(ValueError, match="vocab_size 1000"):
        ptl.prefix_table(_model(1000))
    with torch.device("meta"):                                     # validation builds on meta: no tiktoken
        assert ptl.prefix_table(_model(50257, 64)).device.type == "meta"


def test_prefix_table_without_gpt2_files_says_where_to_put_them(tmp_path, monkeypatch):
    import remix.data.tokenize_text as tokenize_text
    from remix.data.errors import DataError

    def offline(directory):
        raise DataError("tiktoken could not load the GPT-2 encoding (no network)")

    monkeypatch.setenv("REMIX_GPT2_DIR", str(tmp_path))              # a folder without the two files
    monkeypatch.setattr(ptl, "__file__", str(tmp_path / "a" / "b" / "prefix_token_loss.py"))   # no ../shared
    monkeypatch.setattr(tokenize_text, "gpt2_encoding", offline)
    with pytest.raises(DataError, match="prefix_token_loss .* REMIX_GPT2_DIR .*encoder.json and vocab.bpe"):
        ptl._gpt2_ranks()


def test_prefix_loss_is_its_formula():
    x, head, targets = _loss_inputs()
    cfg = ptl.PrefixTokenConfig(reduction="sum", mtp_weights=(1.0, 0.5), prefix_weight=0.25, prefix_schedule="fixed")
    loss = ptl.PrefixTokenCE(cfg, _model(257, 1)).train()
    table = torch.tensor([-1, -1, 0, 0, 2, -1, 3, 1, -1, 4, 5])
    loss.prefix_of = table
    got = loss(x, head, torch.nn.Identity(), targets, _ctx())
    prefix = torch.where(targets >= 0, table[targets.clamp_min(0)], -1)
    want = ref_weighted(head(x), targets, (1.0, 0.5), extra=[(0.25, prefix)])
    assert abs(got.item() - want.item()) / want.item() < 1e-6
    got = loss(x, head, torch.nn.Identity(), targets, _ctx({"prefix_weight": torch.tensor(0.0)}))
    assert abs(got.item() - ref_weighted(head(x), targets, (1.0, 0.5)).item()) < 1e-3


def test_prefix_schedule_and_state():
    cfg = ptl.PrefixTokenConfig(mtp_weights=(1.0, 0.5, 0.25), mtp_schedule="thirds")
    N = 1365
    assert [round(ptl.prefix_weight_at(cfg, s, N), 6) for s in (0, 454, 455, 682, 910, 1364)] == \
        [0.25, 0.25, round(0.25 * (2 - 3 * 455 / N), 6), round(0.25 * (2 - 3 * 682 / N), 6), 0.0, 0.0]
    loss = ptl.PrefixTokenCE(cfg, _model(257))
    assert set(loss.step_state(0, N)) == {"mtp_weights", "prefix_weight"}


GPT2_DIR = ptl.Path(ptl.__file__).resolve().parents[2] / "shared" / "data" / "gpt2"


@pytest.mark.skipif(not (GPT2_DIR / "encoder.json").is_file(), reason="no GPT-2 BPE files beside the repository")
def test_gpt2_prefix_table_is_built_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("REMIX_CACHE", str(tmp_path))
    table = ptl.prefix_table(_model(50257, 128))
    assert table.shape == (50304,) and int((table >= 0).sum()) == 50000
    assert table[262] == 294 and table[15496] == 28254              # " the" -> " th", "Hello" -> "Hell"
    assert table[50256] == -1 and (table[:256] == -1).all() and (table[50257:] == -1).all()
    assert ptl.cache_path().is_file()
    monkeypatch.setattr(ptl, "_gpt2_ranks", lambda: pytest.fail("the cached table should be used"))
    assert torch.equal(ptl.prefix_table(_model(50257, 128)), table)


# ==================================================================================================
# the ingredients in M: groups, roles, options
# ==================================================================================================

from remix.model import build_model  # noqa: E402
from remix.recipe import load_recipe  # noqa: E402
from remix.runner import RunOptions, resolve_spec  # noqa: E402
from conftest import RECIPES, without_kernels  # noqa: E402


def m_with(*names, options=None, scale=None):
    recipe = without_kernels()
    for name in names:
        recipe = recipe.add(name, options=(options or {}).get(name))
    return resolve_spec(recipe, RunOptions(device="cpu", scale=scale))[0]


def groups_of_params(spec):
    model = build_model(spec.model, bos_id=0, device="meta")
    return partition(model.param_roles(), spec.optim)


def test_m_alone_keeps_its_groups():
    spec = m_with()
    assert list(spec.optim) == ["hidden", "head", "embed", "scalar"]
    assert spec.optim["hidden"].args == {"momentum": 0.95, "nesterov": True, "ns_steps": 5}
    assert spec.model.loss.name == "cross_entropy" and spec.model.loss.args == {}


def test_muon_piece_ingredients_set_the_hidden_group():
    cases = {"muon_sum_momentum": {"momentum_form": "sum"},
             "polar_express": {"orthogonaliser": "polar_express"},
             "normuon": {"normaliser": "normuon", "normuon_beta2": 0.9, "normuon_square_axis": "row"},
             "cautious_wd_muon": {"decay": "cautious", "weight_decay": 1.2},
             "muon_mixed_precision": {"state_dtype": "float32", "master": "mantissa"}}
    for name, want in cases.items():
        args = m_with(name).optim["hidden"].args
        assert {k: args[k] for k in want} == want, name
        assert catalogue()[name].requires == ("muon",)


def test_normuon_variants_and_lr():
    for variant, want in (("41", ("sqrt", "column", "param", 0.95)), ("42", ("rsqrt", "column", "param", 0.95)),
                          ("48", ("rsqrt", "row", "float32", 0.95)), ("78", ("rsqrt", "row", "float32", 0.9))):
        g = m_with("normuon", options={"normuon": {"variant": variant, "lr": 0.023}}).optim["hidden"]
        assert (g.args["normuon_floor"], g.args["normuon_square_axis"], g.args["normuon_square_dtype"],
                g.args["normuon_beta2"]) == want and g.lr == 0.023
    with pytest.raises(Exception, match="variant"):
        m_with("normuon", options={"normuon": {"variant": "99"}})


def test_mlp_lr_multiplier_groups():
    spec = m_with("mlp_lr_multiplier")
    assert spec.optim["matrix_mlp_down"].roles == ("matrix.mlp.down",)
    assert spec.optim["matrix_mlp_down"].args["lr_mul"] == 2.0 and spec.optim["matrix_mlp_down"].lr == 0.05
    names = groups_of_params(spec)
    assert len(names["matrix_mlp_down"]) == 12 and all(n.endswith("mlp.down.weight") for n in names["matrix_mlp_down"])
    assert len(names["hidden"]) == 36
    up = m_with("mlp_lr_multiplier", options={"mlp_lr_multiplier": {"variant": "42"}})
    assert up.optim["matrix_mlp_up"].args["lr_mul"] == 2.0


def test_qkvo_split_shapes():
    s27 = m_with("muon_qkvo_split")
    assert s27.optim["matrix_mlp_up"].args["shape_scale"] == "one"
    assert s27.optim["matrix_attn_qkv"].args["view"] == "qkv_split"
    s48 = m_with("muon_qkvo_split", "mlp_lr_multiplier", options={"muon_qkvo_split": {"shapes": "48"}})
    o = s48.optim
    assert (o["matrix_attn"].args["lr_mul"], o["matrix_attn"].args["shape_scale"]) == (2.0, "one")
    assert o["matrix_attn_qkv"].args["lr_mul"] == 2.0 and o["matrix_attn_qkv"].args["view"] == "qkv_split"
    assert (o["matrix_mlp_down"].args["shape_scale"], o["matrix_mlp_down"].args["lr_mul"]) == ("cols_over_rows", 2.0)
    # effective factors attn / up / down = 2 / 2 / 4 (#48)
    eff = {n: update_scale((768, 3072) if n == "matrix_mlp_down" else (3072, 768) if n == "hidden" else (768, 768),
                           o[n].args.get("shape_scale", "rows_over_cols")) * o[n].args.get("lr_mul", 1.0)
           for n in ("matrix_attn", "hidden", "matrix_mlp_down")}
    assert eff == {"matrix_attn": 2.0, "hidden": 2.0, "matrix_mlp_down": 4.0}
    names = groups_of_params(s48)
    assert all(".attn.out." in n for n in names["matrix_attn"]) and all("qkv_w" in n for n in names["matrix_attn_qkv"])


def test_paired_head_muon_reads_head_dim_from_the_model():
    spec = m_with("paired_head_muon", scale="tiny")
    g = spec.optim["matrix_attn_qkv"]
    assert g.args["view"] == "head_pairs" and "head_dim" not in g.args
    cfg = from_model(asdict(OPTIMIZERS.config("muon", g.args)), spec.model)
    assert cfg["head_dim"] == spec.model.head_dim == 32


def test_adam_ingredients_groups():
    spec = m_with("cautious_wd_adam", options={"cautious_wd_adam": {"variant": "55"}})
    o = spec.optim
    assert {n: (o[n].optimizer, o[n].args["wd_mul"]) for n in ("head", "embed", "scalar", "embed_value")} == \
        {"head": ("remix_adam", 150.0), "embed": ("remix_adam", 150.0), "scalar": ("remix_adam", 0.0),
         "embed_value": ("remix_adam", 5.0)}
    assert o["head"].args["decay"] == "cautious" and o["head"].args["cautious_strict"] is True
    assert o["head"].args["betas"] == (0.8, 0.95) and o["head"].args["eps"] == 1e-10     # kept from M
    assert o["hidden"].optimizer == "muon"
    loose = m_with("cautious_wd_adam", options={"cautious_wd_adam": {"variant": "50"}}).optim
    assert loose["head"].args["cautious_strict"] is False and loose["head"].args["wd_mul"] == 1.0
    default = m_with("cautious_wd_adam").optim                       # "53": #50's multipliers, strict mask
    assert {n: default[n].args["wd_mul"] for n in ("head", "embed", "scalar")} == {"head": 1.0, "embed": 1.0,
                                                                                  "scalar": 0.0}
    assert default["head"].args["cautious_strict"] is True and "embed_value" not in default

    spec = m_with("adam_state_precision")
    assert all(spec.optim[n].optimizer == "remix_adam" and spec.optim[n].args["state_dtype"] == "float32"
               for n in ("head", "embed", "scalar"))
    spec = m_with("adam_state_precision", options={"adam_state_precision": {"state_dtype": "bfloat16", "eps": 1e-8}})
    assert spec.optim["head"].args["state_dtype"] == "bfloat16" and spec.optim["head"].args["eps"] == 1e-8

    spec = m_with("adam_coptim")
    assert spec.optim["embed_value"].args["coptim"] == 0.5 and spec.optim["embed_bigram"].args["coptim"] == 0.5
    assert spec.optim["embed"].optimizer == "adam"                   # the token embedding keeps torch's Adam
    assert groups_of_params(spec)["embed_value"] == []               # M has no value embeddings


def test_per_label_betas():
    o = m_with("per_label_betas").optim
    assert o["head"].args["betas"] == (0.5, 0.95) and o["embed"].args["betas"] == (0.5, 0.95)
    assert o["embed_value"].args["betas"] == (0.75, 0.95) and o["scalar"].args["betas"] == (0.9, 0.99)
    assert o["scalar_lambda_x0"].args["betas"] == (0.65, 0.95) and o["scalar_lambda_x0"].optimizer == "adam"
    assert o["head"].lr == 0.22 and o["embed_value"].lr == 0.6                            # lrs kept
    o = m_with("per_label_betas", options={"per_label_betas": {"variant": "52"}}).optim
    by_role = {r: g.args["betas"] for g in o.values() if g.optimizer == "adam" for r in g.roles}
    assert by_role == {"head": (0.65, 0.95), "embed": (0.65, 0.95), "gate": (0.65, 0.95), "vector": (0.9, 0.99),
                       "scalar": (0.9, 0.99), "scalar.lambda.x0": (0.65, 0.95)}


def test_loss_ingredients():
    assert m_with("ce_sum").model.loss.args == {"reduction": "sum"}
    assert m_with("bf16_ce").model.loss.args == {"precision": "bfloat16"}
    assert m_with("multi_token_prediction").model.loss.args == {"mtp_weights": (1.0, 0.5, 0.25),
                                                                "mtp_schedule": "thirds"}
    spec = m_with("ce_sum", "multi_token_prediction", "prefix_token_loss")
    assert spec.model.loss.name == "prefix_token_ce"
    assert spec.model.loss.args == {"reduction": "sum", "mtp_weights": (1.0, 0.5, 0.25), "mtp_schedule": "thirds",
                                    "prefix_weight": 0.25, "prefix_schedule": "thirds"}
    assert {"cross_entropy", "prefix_token_ce"} <= set(LOSSES.names())


def test_m_with_everything_trains_two_steps():
    """Every piece at once on tiny M: the optimizers build from the spec and two steps change every weight."""
    spec = m_with("polar_express", "normuon", "cautious_wd_muon", "muon_mixed_precision", "muon_qkvo_split",
                  "paired_head_muon", "mlp_lr_multiplier", "muon_sum_momentum", "cautious_wd_adam",
                  "adam_state_precision", "per_label_betas", "ce_sum", "bf16_ce", "multi_token_prediction",
                  "prefix_token_loss", scale="tiny")
    torch.manual_seed(0)
    model = build_model(spec.model, bos_id=256)
    opts = build_optimizers(model, spec)
    assert {type(o).__name__ for o in opts.optimizers} == {"Muon", "RemixAdam"}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    idx = torch.randint(0, 257, (2, 64))
    for step in range(2):
        loss = model(idx, idx.roll(-1, 1))
        assert torch.isfinite(loss)          # the weighted terms are summed in fp32 (#53: fp32 weights)
        loss.backward()
        opts.set_step(step)
        opts.step(step)
    for n, p in model.named_parameters():
        if "head" not in n:                 # the zero-init head moves from zero too, but check the rest strictly
            assert not torch.equal(p, before[n]), n
    muon = opts.optimizers[0]
    views = {g["name"]: g["view"] for g in muon.param_groups}
    assert views["matrix_attn_qkv"] == "head_pairs" and muon.param_groups[0]["head_dim"] == spec.model.head_dim


def test_state_dicts_keep_their_dtypes():
    """torch would cast state to the parameter's dtype on load (the mantissa words into bf16 numbers)."""
    p0, grads = fixed((32, 8))
    _, muon = run_muon(p0.bfloat16(), grads[:2], MOMENTA[:2], master="mantissa", state_dtype="float32",
                       normaliser="normuon")
    _, adam = run_adam(p0.bfloat16(), grads[:2], state_dtype="float32")
    for opt in (muon, adam):
        saved = {k: v.clone() if isinstance(v, torch.Tensor) else v
                 for k, v in next(iter(opt.state.values())).items()}
        opt.load_state_dict(opt.state_dict())
        restored = next(iter(opt.state.values()))
        for key, value in saved.items():
            if isinstance(value, torch.Tensor):
                assert restored[key].dtype == value.dtype and torch.equal(restored[key], value), key
            else:
                assert restored[key] == value
    assert next(iter(muon.state.values()))["mantissa"].dtype == torch.int16


def test_loss_step_state_is_one_graph():
    """With the step's weights in ctx.state (device tensors) M + MTP + prefix traces to one graph, and
    new values of the weights are new inputs, not new graphs."""
    spec = m_with("ce_sum", "multi_token_prediction", "prefix_token_loss", scale="tiny")
    spec = spec.set("model.param_dtype", "float32")
    model = build_model(spec.model, bos_id=256)
    idx = torch.randint(0, 257, (2, 64))
    state = {k: torch.tensor(v, dtype=torch.float32) for k, v in model.loss.step_state(0, 120).items()}
    assert state["mtp_weights"].shape == (3,) and state["prefix_weight"].shape == ()
    torch._dynamo.reset()
    out = torch._dynamo.explain(model)(idx, idx.roll(-1, 1), state)
    assert (out.graph_count, out.graph_break_count) == (1, 0), out.break_reasons
    a = model(idx, idx.roll(-1, 1), state)
    later = {k: torch.tensor(v, dtype=torch.float32) for k, v in model.loss.step_state(100, 120).items()}
    b = model(idx, idx.roll(-1, 1), later)
    model.loss = CrossEntropy(CrossEntropyConfig(reduction="sum"))
    plain = model(idx, idx.roll(-1, 1))
    assert later["mtp_weights"].tolist() == [1.0, 0.0, 0.0] and later["prefix_weight"].item() == 0.0
    assert a.item() > b.item() and b.item() == pytest.approx(plain.item(), rel=1e-5)   # only the next token left


def test_piece_modules_name_the_code_a_group_runs():
    from remix.optim.muon import piece_modules
    assert piece_modules({}) == {"remix.optim.orthogonalise", "remix.optim.muon_parts"}
