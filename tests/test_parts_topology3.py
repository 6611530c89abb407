"""Topology set 3 (#73–#85): the lanes stream (partitioned hyper-connections, one-lane #77 form), the saved
activation, MUDD (and its gates), DC-MHA. Each is checked against a direct computation of the record's
formula on a tiny M in float64, plus inits, roles, optimizer groups and options."""

import functools
import math

import pytest
import torch
import torch.nn.functional as F

from remix.model import build_model
from remix.model.parts import Context
from remix.optim import partition
from remix.recipe import RecipeError, load_recipe
from remix.runner import RunOptions, resolve_spec
from remix.spec import C

from conftest import RECIPES

BOS = 256


# --- helpers ----------------------------------------------------------------------------------------

@functools.cache
def _tiny(*ingredients):
    recipe = load_recipe(RECIPES / "muon_baseline.toml")
    for name, options in ingredients:
        recipe = recipe.add(name, options=dict(options))
    return resolve_spec(recipe, RunOptions(device="cpu", scale="tiny"))[0].set("model.param_dtype", "float32")


def tiny(*ingredients):
    """M at tiny scale (12 layers, width 64, 2 heads of 32) plus ingredients (name or (name, options))."""
    items = [item if isinstance(item, tuple) else (item, {}) for item in ingredients]
    return _tiny(*((name, tuple(sorted(options.items()))) for name, options in items))


def build(spec, seed=0):
    torch.manual_seed(seed)
    return build_model(spec.model, bos_id=BOS).double()


def jitter(model, scale=0.05, seed=1):
    """Moves every parameter off its init (zero heads, zero projections, zero MUDD W2 …) so each term counts."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)
    return model


def plain_twin(model):
    """M without the ingredients, holding the same weights: its layers run without any part's hooks."""
    ref = build(tiny())
    ref.load_state_dict(model.state_dict(), strict=False)
    return ref


def tokens(T=96, seed=3):
    idx = torch.randint(0, 257, (2, T), generator=torch.Generator().manual_seed(seed))
    idx[:, ::29] = BOS
    return idx


def begin(ref, idx):
    ctx = Context(idx, {}, masks=ref.core.prepare(idx, {}), bos_id=BOS)
    ctx.x0 = ref.embed_norm(ref.positions.embed(ref.embed(idx)))
    return ctx, ctx.x0


def finish(ref, x, idx, ctx):
    return ref.loss(ref.final_norm(x), ref.head, ref.logits, idx.roll(-1, 1), ctx)


def attention(layer, x, ctx, dv=None):
    """Layer's attention on its (normed) input x, no hooks: y per head before the out projection, and q, k, v."""
    a = layer.attn
    B, T, _ = x.shape
    q, k, v = a.project(x).view(B, T, 3, a.n_head, a.head_dim).unbind(2)
    if dv is not None:
        v = v + dv.view_as(v)
    q, k = a.qk_before_rope(q, k)
    q, k = a.positions.rotate(q, k)
    q, k = a.qk_after_rope(q, k)
    return a.core(q, k, v, ctx.masks, a.window, a.scale), (q, k, v)


def out(layer, y):
    return layer.attn.out(y.flatten(2))


def mlp(layer, x):
    return layer.mlp(layer.mlp_norm(x))


def rms(x):
    return x / x.pow(2).mean(-1, keepdim=True).add(torch.finfo(x.dtype).eps).sqrt()


def close(a, b, tol=1e-6):
    assert torch.allclose(a, b, rtol=tol, atol=tol), (a - b).abs().max().item()


def groups_of(model, spec):
    return {name: g for g, names in partition(model.param_roles(), spec.optim).items() for name in names}


# --- the lanes stream (#73, #74; #77's one lane) ------------------------------------------------------

def hand_lanes(ref, params, idx, variant, start, big=None, over=None):
    """#73/#74/#77 written out from the records' formulas (see the ingredient's card)."""
    R, P, A, Bg = params
    ctx, x0 = begin(ref, idx)
    lane0 = x0 if big is None else x0 + Bg[0] * big
    lane1 = None
    over = over or {}
    for i, layer in enumerate(ref.blocks):
        if variant != "77" and i == start:
            lane1 = lane0
        o = over.get(i, {})
        inject = A[i] * x0 + (Bg[i] * big if big is not None and i > 0 else 0)
        inject = o.get("inject", inject)
        y, _ = attention(layer, layer.attn_norm(lane0), ctx)
        att = out(layer, y)
        r = o.get("resid_attn", R[i, 0])
        if variant == "73":
            lane0 = r * lane0 + P[i, 0, 0] * (att + inject)
            if lane1 is not None:
                lane1 = r * lane1 + P[i, 0, 1] * (att + inject)
        elif variant == "74" and lane1 is None:
            lane0 = r * lane0 + att + inject
        else:
            lane0 = r * lane0 + o.get("post_attn", P[i, 0, 0]) * att + inject
            if lane1 is not None:
                lane1 = r * lane1 + P[i, 0, 1] * att
        u = mlp(layer, lane0 if lane1 is None else lane1)
        r = o.get("resid_mlp", R[i, 1])
        lane0 = r * lane0 + o.get("post_mlp", P[i, 1, 0]) * u
        if lane1 is not None:
            lane1 = r * lane1 + P[i, 1, 1] * u
    return lane0 if lane1 is None else (lane0 + lane1) / 2


@pytest.mark.parametrize("variant,start", [("74", 8), ("73", 8), ("74", 3), ("77", None)])
def test_lanes_match_the_records_formulas(variant, start):
    spec = tiny(("partitioned_hyperconnections", {"variant": variant, "start": start}))
    model = jitter(build(spec))
    ref, s = plain_twin(model), model.stream
    idx = tokens()
    ctx, x0 = begin(ref, idx)
    got = s(x0, model.blocks, model.hooks, ctx)
    want = hand_lanes(ref, (s.resid, s.post, s.x0, None), idx, variant, start)
    close(got, want)
    close(model(idx, idx.roll(-1, 1)), finish(ref, want, idx, ctx))


def test_lanes_bigram_and_per_token_overrides():
    spec = tiny(("partitioned_hyperconnections", {"variant": "74", "bigram": True}))
    model = jitter(build(spec))
    ref, s = plain_twin(model), model.stream
    idx = tokens()
    ctx, x0 = begin(ref, idx)
    g = torch.Generator().manual_seed(7)
    narrow = torch.randn(2, idx.size(1), 16, generator=g, dtype=torch.float64)   # fills the first 16 channels
    big = F.pad(narrow, (0, 64 - 16))
    over = {3: {"resid_attn": torch.rand(2, idx.size(1), 1, generator=g, dtype=torch.float64),
                "inject": torch.randn(2, idx.size(1), 64, generator=g, dtype=torch.float64)},
            10: {"post_attn": torch.rand(2, idx.size(1), 1, generator=g, dtype=torch.float64),
                 "resid_mlp": torch.rand(2, idx.size(1), 1, generator=g, dtype=torch.float64),
                 "post_mlp": torch.rand(2, idx.size(1), 1, generator=g, dtype=torch.float64)}}
    ctx.saved["bigram"] = narrow
    ctx.saved.update({f"sublayer.{i}": o for i, o in over.items()})
    got = s(x0, model.blocks, model.hooks, ctx)
    close(got, hand_lanes(ref, (s.resid, s.post, s.x0, s.bigram), idx, "74", 8, big=big, over=over))
    with pytest.raises(KeyError, match="bigram"):
        s(x0, model.blocks, model.hooks, begin(ref, idx)[0])


def test_lanes_init_roles_and_groups():
    spec = tiny(("partitioned_hyperconnections", {"bigram": True}))
    model = build(spec)
    s = model.stream
    close(s.resid, torch.full((12, 2), math.sqrt(1.1), dtype=torch.float64))   # fp32 parameters, then float64
    want_post = torch.ones(12, 2, 2, dtype=torch.float64)
    want_post[8:, 0, 1] = 1.5
    assert torch.equal(s.post, want_post) and s.x0.abs().max() == 0
    close(s.bigram, torch.full_like(s.bigram, 0.05))
    roles = model.param_roles()
    assert (roles["stream.resid"], roles["stream.post"], roles["stream.x0"], roles["stream.bigram"]) == \
        ("scalar.sublayer.resid", "scalar.sublayer.post", "scalar.sublayer.x0", "scalar.sublayer.bigram")
    group = groups_of(model, spec)
    assert group["stream.resid"] == "sublayer_resid"
    assert {group[f"stream.{n}"] for n in ("post", "x0", "bigram")} == {"sublayer"}
    lr, resid_lr = spec.optim["sublayer"], spec.optim["sublayer_resid"]
    assert (lr.optimizer, lr.lr, lr.args) == ("adam", pytest.approx(0.008),
                                              {"betas": (0.9, 0.95), "eps": 1e-10, "weight_decay": 0.0})
    assert (resid_lr.lr, resid_lr.args["betas"]) == (pytest.approx(0.04), (0.9, 0.95))
    # the lane-1 weights exist only in the two-lane forms; #77's one lane has none
    one = build(tiny(("partitioned_hyperconnections", {"variant": "77"})))
    assert tuple(one.stream.post.shape) == (12, 2, 1)


def test_lanes_conflicts_with_x0_mixing():
    with pytest.raises(RecipeError, match="conflicts"):
        tiny("x0_mixing", "partitioned_hyperconnections")


# --- the single saved activation (#77) ------------------------------------------------------------------

def hand_saved(ref, idx, layer, backout):
    ctx, x = begin(ref, idx)
    xs = None
    for i, block in enumerate(ref.blocks):
        y, _ = attention(block, rms(xs) if xs is not None else block.attn_norm(x), ctx)
        x = x + out(block, y)
        x = x + mlp(block, x)
        if i == layer:
            xs = x
    if backout is not None:
        x = x - backout * xs
    return finish(ref, x, idx, ctx)


@pytest.mark.parametrize("layer,backout", [(8, True), (5, False)])
def test_saved_activation_matches_the_record(layer, backout):
    spec = tiny(("saved_activation", {"layer": layer, "backout": backout}))
    model = jitter(build(spec))
    part = model.parts["saved_activation"]
    idx = tokens()
    want = hand_saved(plain_twin(model), idx, layer, part.backout if backout else None)
    close(model(idx, idx.roll(-1, 1)), want)
    assert (part.backout is not None) == backout and part.attaches("end", None) == backout
    assert [i for i in range(12) if part.attaches("attn_in", i)] == list(range(layer + 1, 12))


def test_saved_activation_init_role_group_and_stream():
    spec = tiny("saved_activation")
    model = build(spec)
    part = model.parts["saved_activation"]
    assert part.backout.item() == 0.5 and model.param_roles()["parts.saved_activation.backout"] == "scalar.backout"
    assert groups_of(model, spec)["parts.saved_activation.backout"] == "scalar"   # #77's `scalars` ↔ M's
    assert spec.model.stream.name == "prenorm"
    on_lanes = tiny("partitioned_hyperconnections", "saved_activation")        # #77 replaced the lanes
    assert on_lanes.model.stream.name == "lanes" and on_lanes.model.stream.args["variant"] == "77"
    brought = tiny(("saved_activation", {"sublayer_lambdas": True}))
    assert brought.model.stream.args == {"variant": "77"} and "sublayer_resid" in brought.optim
    with pytest.raises(RecipeError, match="requires 'rmsnorm'"):
        load_recipe(RECIPES / "muon_baseline.toml").prefixes()[0].add("saved_activation")


def test_saved_activation_refuses_a_norm_with_a_gain():
    spec = tiny("saved_activation").set("model.norm", C("layernorm"))
    with pytest.raises(ValueError, match="parameter-free"):
        build_model(spec.model, bos_id=BOS, device="meta")


def test_one_lane_stream_with_saved_activation():
    """#77 in full: one lane with per-sublayer factors, attention after layer 8 reads norm(x_s), backout."""
    spec = tiny("partitioned_hyperconnections", "saved_activation")
    model = jitter(build(spec))
    ref, s, lam = plain_twin(model), model.stream, model.parts["saved_activation"].backout
    idx = tokens()
    ctx, x0 = begin(ref, idx)
    x, xs = x0, None
    for i, block in enumerate(ref.blocks):
        y, _ = attention(block, rms(xs) if xs is not None else block.attn_norm(x), ctx)
        x = s.resid[i, 0] * x + s.post[i, 0, 0] * out(block, y) + s.x0[i] * x0
        x = s.resid[i, 1] * x + s.post[i, 1, 0] * mlp(block, x)
        xs = x if i == 8 else xs
    close(model(idx, idx.roll(-1, 1)), finish(ref, x - lam * xs, idx, ctx))


# --- MUDD (#81, #85) -----------------------------------------------------------------------------------

def mudd_mlp(p, u, j):
    return F.linear(F.gelu(F.linear(u, p.w1[j])), p.w2[j]) + p.b[j]


def hand_mudd(model, idx, variant, ve=None):
    """#85's refactor (variant 85) or #81's two-channel form (81) on M's plain stream, from the records."""
    p, ref = model.parts["mudd"], plain_twin(model)
    ctx, x0 = begin(ref, idx)
    x, x0p, h, s = x0, x0, None, None
    for i, block in enumerate(ref.blocks):
        dv = None
        if i == 11:
            x_in = x
            if variant == "85":
                mu = mudd_mlp(p, x, 0) * 0.1
                dv = mu[..., 0:1] * x0p + mu[..., 1:2] * h + mu[..., 2:3] * x
                x = (1 + mu[..., 5:6]) * x + mu[..., 3:4] * x0p + mu[..., 4:5] * h
            else:
                D = (mudd_mlp(p, x, 0) * (0.2 / math.sqrt(3))).unflatten(-1, (2, 8))   # [channel, column]
                dv = 1.15 * (D[..., 0, 0:1] * x0p + D[..., 0, 1:2] * h + D[..., 0, 2:3] * x)
                x = (1 + D[..., 1, 2:3]) * x + D[..., 1, 0:1] * x0p + D[..., 1, 1:2] * h
        y, _ = attention(block, block.attn_norm(x), ctx, dv=dv)
        x = x + out(block, y)
        x = x + mlp(block, x)
        h = x if i == 8 else h
        s = x if i == 4 else s
    if variant == "85":
        m = (mudd_mlp(p, x, 1) * 0.1)[..., :5]
    else:
        m = (mudd_mlp(p, x, 1) * (0.2 / math.sqrt(3))).unflatten(-1, (2, 8))[..., 1, :5]
    x = x + m[..., 0:1] * x0p + m[..., 1:2] * h + m[..., 2:3] * x_in + m[..., 4:5] * s
    if ve is not None:
        x = x + m[..., 3:4] * ve
    return finish(ref, x, idx, ctx)


@pytest.mark.parametrize("variant", ["85", "81"])
def test_mudd_matches_the_records_on_m(variant):
    spec = tiny(("mudd", {"variant": variant}))
    model = jitter(build(spec))
    idx = tokens()
    close(model(idx, idx.roll(-1, 1)), hand_mudd(model, idx, variant))


def test_mudd_reads_a_value_embedding_when_one_is_saved():
    model = jitter(build(tiny("mudd")))
    idx = tokens()
    ve = torch.randn(2, idx.size(1), 64, dtype=torch.float64, generator=torch.Generator().manual_seed(5))

    def put(e, ctx):   # stands in for a value-embedding part: ctx.saved["value_embed.2"]
        ctx.saved["value_embed.2"] = ve
        return e
    model.hooks.outside["embed"].append(put)
    close(model(idx, idx.roll(-1, 1)), hand_mudd(model, idx, "85", ve=ve))


@pytest.mark.parametrize("variant,scale,final_h", [("85", 0.1, -0.5),
                                                   ("81", 0.2 / math.sqrt(3), -4.34 * 0.2 / math.sqrt(3))])
def test_mudd_init_starts_at_the_static_values(variant, scale, final_h):
    model = build(tiny(("mudd", {"variant": variant})))
    p = model.parts["mudd"]
    assert p.w2.abs().max() == 0 and p.w1.abs().max() <= 64 ** -0.5 and p.w1.abs().max() > 0.9 * 64 ** -0.5
    u = torch.randn(3, 64, dtype=torch.float64)
    pre = p.coefficients(u, 0, 0, p.L.n)[0]
    r, one = math.sqrt(1.1), 1.0
    if variant == "85":   # v 0–2, residual 3–5, VE gates 6–7, attention r, p, x0, bigram 8–11, MLP r, p
        want = [0, 0, 0, 0, 0, 0, 2, 2, r, one, 0, 0.05, r, one]
    else:                 # channel 0: v, VE gate, attention r, p, x0, bigram; channel 1: residual, VE gate, MLP r, p
        want = [0, 0, 0, 0, r, one, 0, 0.05, 0, 0, 0, 0, r, one, 0, 0]
    close(pre, torch.tensor(want, dtype=torch.float64))
    final = p.coefficients(u, 1, p.L.final[0], p.L.final[-1] + 1)[0]
    close(final, torch.tensor([0, final_h, 0, 0, 0], dtype=torch.float64))
    assert p.L.scale == pytest.approx(scale)
    # at init the VE gate is 2 for every head (#81: coefficient + 2; #85: bias 2/0.1)
    ctx, x = Context(torch.zeros(3, 1, dtype=torch.long), {}, x0=u[:, None]), u[:, None]
    p.before_layer(0, x, ctx)
    p.after_layer(4, x, ctx)
    p.after_layer(8, x, ctx)
    p.before_layer(11, x, ctx)
    assert torch.allclose(ctx.saved["ve_gate.11"], torch.full((3, 1, 2, 1), 2.0, dtype=torch.float64))


def test_mudd_with_the_one_lane_stream_and_saved_activation():
    """#81's setting: #77's stream; the last layer's factors come from MUDD; MUDD replaces the backout."""
    spec = tiny("partitioned_hyperconnections", "saved_activation", "mudd")
    assert spec.model.parts["saved_activation"].args["backout"] is False
    model = jitter(build(spec))
    p, s, ref = model.parts["mudd"], model.stream, plain_twin(model)
    idx = tokens()
    ctx, x0 = begin(ref, idx)
    x, h, sk = x0, None, None
    for i, block in enumerate(ref.blocks):
        src = rms(h) if h is not None else block.attn_norm(x)
        if i < 11:
            y, _ = attention(block, src, ctx)
            x = s.resid[i, 0] * x + s.post[i, 0, 0] * out(block, y) + s.x0[i] * x0
            x = s.resid[i, 1] * x + s.post[i, 1, 0] * mlp(block, x)
        else:
            mu = mudd_mlp(p, x, 0) * 0.1
            x_in = x
            dv = mu[..., 0:1] * x0 + mu[..., 1:2] * h + mu[..., 2:3] * x
            x = (1 + mu[..., 5:6]) * x + mu[..., 3:4] * x0 + mu[..., 4:5] * h
            y, _ = attention(block, src, ctx, dv=dv)
            x = mu[..., 8:9] * x + mu[..., 9:10] * out(block, y) + mu[..., 10:11] * x0
            x = mu[..., 12:13] * x + mu[..., 13:14] * mlp(block, x)
        h = x if i == 8 else h
        sk = x if i == 4 else sk
    m = mudd_mlp(p, x, 1)[..., :5] * 0.1
    x = x + m[..., 0:1] * x0 + m[..., 1:2] * h + m[..., 2:3] * x_in + m[..., 4:5] * sk
    close(model(idx, idx.roll(-1, 1)), finish(ref, x, idx, ctx))


def test_mudd_roles_and_groups():
    spec = tiny(("mudd", {"gates": True}))
    model = build(spec)
    roles, group = model.param_roles(), groups_of(model, spec)
    assert {roles[f"parts.mudd.{n}"] for n in ("w1", "w2", "b")} == {"gate.mudd.w1", "gate.mudd.w2", "gate.mudd.bias"}
    assert {group[f"parts.mudd.{n}"] for n in ("w1", "w2", "b")} == {"mudd"}
    assert {group[f"parts.mudd.{n}"] for n in ("gate_w1", "gate_w2", "gate_b", "gate_scale")} == {"mudd_gate"}
    assert (spec.optim["mudd"].lr, spec.optim["mudd"].args["betas"]) == (pytest.approx(0.002), (0.9, 0.99))
    assert (spec.optim["mudd_gate"].lr, spec.optim["mudd_gate"].args["betas"]) == (pytest.approx(0.0008), (0.9, 0.99))
    assert "mudd_gate" not in tiny("mudd").optim


def test_mudd_gates_layout_and_init():
    """#85 v3's pre gate (from x0, at layer 0) and post gate (from layer 5's input), H = 2 heads here."""
    model = build(tiny(("mudd", {"gates": True})))
    p, H = model.parts["mudd"], 2
    assert (p.pre_n, p.post_n) == (3 * H + 8, 5 * H + 11)
    g = torch.Generator().manual_seed(2)
    x0, x5 = (torch.randn(2, 5, 64, generator=g, dtype=torch.float64) for _ in range(2))
    ctx = Context(torch.zeros(2, 5, dtype=torch.long), {}, x0=x0)
    ctx.saved["bigram"] = torch.randn(2, 5, 64, generator=g, dtype=torch.float64)
    p.before_layer(0, x0, ctx)
    p.before_layer(5, x5, ctx)
    # at init every output is its bias · γ: attention gates 0.25, bigram gates 0.05, skip 0.5, DC w1 1, else 0
    full = lambda v: torch.full((2, 5, H), v, dtype=torch.float64)   # noqa: E731
    for key in ("xsa_alpha.2", "xsa_alpha.4", "xsa_alpha.5", "xsa_alpha.8"):
        assert torch.equal(ctx.saved[key], full(0.0))
    close(ctx.saved["mudd_gate.attn.4"], full(0.25))
    close(ctx.saved["mudd_gate.attn.11"], full(0.25))
    close(ctx.saved["skip_gate"], full(0.5)[..., :1])
    close(ctx.saved["dc_weights.11"][0], full(1.0))
    assert torch.equal(ctx.saved["dc_weights.11"][1], full(0.0))
    for layer in (1, 2, 3, 4, 5, 6, 8, 9, 10):   # x0 gate 0; bigram gate 0.05 (layer 1: the records' first layer)
        want = (0.0 if layer == 1 else 0.05) * ctx.saved["bigram"]
        close(ctx.saved[f"sublayer.{layer}"]["inject"], want)
    # away from init: the slices of the formula gate(u) = (W2·GELU(W1·u) + B)·γ
    jitter(model)
    ctx = Context(torch.zeros(2, 5, dtype=torch.long), {}, x0=x0)
    p.before_layer(0, x0, ctx)
    p.before_layer(5, x5, ctx)
    pre = (F.linear(F.gelu(F.linear(x0, p.gate_w1[0])), p.gate_w2[0, :p.pre_n]) + p.gate_b[0, :p.pre_n]) * p.gate_scale
    post = (F.linear(F.gelu(F.linear(x5, p.gate_w1[1])), p.gate_w2[1]) + p.gate_b[1]) * p.gate_scale
    close(ctx.saved["xsa_alpha.4"], pre[..., H:2 * H])
    close(ctx.saved["sublayer.3"]["inject"], pre[..., 3 * H + 4:3 * H + 5] * x0)       # third pair: layer 3
    close(ctx.saved["xsa_alpha.8"], post[..., H:2 * H])
    close(ctx.saved["sublayer.9"]["inject"], post[..., 3 * H + 6:3 * H + 7] * x0)      # fourth pair: layer 9
    close(ctx.saved["dc_weights.11"][1], post[..., 4 * H + 11:5 * H + 11])
    y = torch.randn(2, 5, H, 32, dtype=torch.float64)
    close(p.heads(4, y, ctx), y * pre[..., 2 * H:3 * H, None])
    assert [i for i in range(12) if p.attaches("heads", i)] == [4, 11]


def test_mudd_gates_need_twelve_layers():
    spec = tiny(("mudd", {"gates": True})).set("model.n_layer", 13)
    with pytest.raises(ValueError, match="12-layer"):
        build_model(spec.model, bos_id=BOS, device="meta")


# --- DC-MHA (#85) --------------------------------------------------------------------------------------

def dense_dc(q, k, v, w1, w2, docs, window, scale):
    """The correction written densely: P_h = local softmax; A = Σ_h w1_h P_h; Σ_s w2_h A v_h."""
    B, T, H, D = q.shape
    t = torch.arange(T)
    visible = (t[:, None] >= t[None, :]) & (t[:, None] - t[None, :] < window)
    visible = visible & (docs[:, :, None] == docs[:, None, :])
    P = (torch.einsum("bthd,bshd->bhts", q, k) * scale).masked_fill(~visible[:, None], float("-inf")).softmax(-1)
    A = torch.einsum("bth,bhts->bts", w1, P)
    return torch.einsum("bth,bts,bshd->bthd", w2, A, v)


@pytest.mark.parametrize("T,window", [(50, 7), (64, 16), (20, 112), (33, 1)])
def test_local_composed_attention_matches_the_dense_formula(T, window):
    from ingredients.dc_mha import local_composed_attention
    g = torch.Generator().manual_seed(T)
    q, k, v = (torch.randn(2, T, 3, 8, generator=g, dtype=torch.float64) for _ in range(3))
    w1, w2 = (torch.randn(2, T, 3, generator=g, dtype=torch.float64) for _ in range(2))
    idx = torch.randint(0, 5, (2, T), generator=g)
    docs = (idx == 0).cumsum(-1)
    got = local_composed_attention(q, k, v, w1, w2, docs, window, 0.3)
    close(got, dense_dc(q, k, v, w1, w2, docs, window, 0.3), tol=1e-12)
    close(local_composed_attention(q, k, v, w1, w2, None, window, 0.3),
          dense_dc(q, k, v, w1, w2, torch.zeros_like(docs), window, 0.3), tol=1e-12)


@pytest.mark.parametrize("documents", [True, False])
def test_dc_mha_in_the_model_matches_the_record(documents):
    spec = tiny(("dc_mha", {"documents": documents}))
    model = jitter(build(spec))
    p, ref = model.parts["dc_mha"], plain_twin(model)
    idx = tokens()
    ctx, x = begin(ref, idx)
    for i, block in enumerate(ref.blocks):
        xin = block.attn_norm(x)
        y, (q, k, v) = attention(block, xin, ctx)
        if i == 11:
            raw = F.linear(F.gelu(F.linear(xin, p.w1), approximate="tanh"), p.w2)
            w1 = raw[..., :2] / raw[..., :2].pow(2).mean(-1, keepdim=True).add(1e-6).sqrt()
            docs = (idx == BOS).cumsum(-1) if documents else torch.zeros_like(idx)
            y = y + dense_dc(q, k, v, w1, raw[..., 2:], docs, 112, block.attn.scale)
        x = x + out(block, y)
        x = x + mlp(block, x)
    close(model(idx, idx.roll(-1, 1)), finish(ref, x, idx, ctx))


def test_dc_mha_init_role_group_and_zero_start():
    spec = tiny("dc_mha")
    model = build(spec)
    p, H = model.parts["dc_mha"], 2
    assert p.w2[H:].abs().max() == 0   # w2 rows: the correction starts at zero
    assert 0 < p.w2[:H].abs().max() < 6 * math.sqrt(1 / (2 * H)) * 2 / (H + 2) * 0.01
    assert abs(p.w1.std().item() - math.sqrt(2 / (64 + 2 * H))) < 0.02
    roles, group = model.param_roles(), groups_of(model, spec)
    assert (roles["parts.dc_mha.w1"], roles["parts.dc_mha.w2"]) == ("gate.dc_mha.w1", "gate.dc_mha.w2")
    assert group["parts.dc_mha.w1"] == group["parts.dc_mha.w2"] == "dc_mha"
    assert (spec.optim["dc_mha"].lr, spec.optim["dc_mha"].args["betas"]) == (pytest.approx(0.002), (0.9, 0.99))
    with torch.no_grad():   # w2 = 0 at init: the model computes what M computes
        for b in model.blocks:
            b.attn.out.weight.normal_(0, 0.1)
        model.head.weight.normal_(0, 0.1)
    idx = tokens()
    close(model(idx, idx.roll(-1, 1)), plain_twin(model)(idx, idx.roll(-1, 1)), tol=1e-12)


def test_dc_mha_with_the_mudd_gates_weights():
    with pytest.raises(RecipeError, match="needs mudd with gates"):
        tiny(("dc_mha", {"weights": "mudd_gate"}))
    spec = tiny(("mudd", {"gates": True}), ("dc_mha", {"weights": "mudd_gate"}))
    model = build(spec)
    dc = model.parts["dc_mha"]
    assert list(dc.parameters()) == [] and "dc_mha" not in spec.optim
    assert not dc.attaches("qkv", 11) and dc.attaches("heads", 11)
    g = torch.Generator().manual_seed(4)
    idx = tokens(40)
    ctx = Context(idx, {}, bos_id=BOS)
    q, k, v, y = (torch.randn(2, 40, 2, 32, generator=g, dtype=torch.float64) for _ in range(4))
    w1, w2 = (torch.randn(2, 40, 2, generator=g, dtype=torch.float64) for _ in range(2))
    ctx.saved["dc_weights.11"], ctx.saved["dc_mha.qkv.11"] = (w1, w2), (q, k, v)
    w1n = w1 / w1.pow(2).mean(-1, keepdim=True).add(1e-6).sqrt()
    want = y + dense_dc(q, k, v, w1n, w2, (idx == BOS).cumsum(-1), 112, dc.scale)
    close(dc.heads(11, y, ctx), want)
    jitter(model)
    loss = model(tokens(), tokens().roll(-1, 1))
    loss.backward()
    assert torch.isfinite(loss) and model.parts["mudd"].gate_w2.grad[1].abs().max() > 0


# --- the whole set in one compiled graph ----------------------------------------------------------------

def test_the_full_set_on_m_is_one_graph():
    spec = tiny(("partitioned_hyperconnections", {"bigram": False}), "saved_activation", ("mudd", {"gates": True}),
                ("dc_mha", {"weights": "mudd_gate"}))
    model = build_model(spec.model, bos_id=BOS)
    idx = tokens(spec.train.seq_len)
    torch._dynamo.reset()
    explained = torch._dynamo.explain(model)(idx, idx.roll(-1, 1))
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained.break_reasons
