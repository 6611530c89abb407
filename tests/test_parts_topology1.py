"""Topology parts (issue #12): each part's formula against a direct computation in float64, its init, its
roles and optimizer group, every option variant, the layer plan they follow, and record 21's form exactly."""

import math

import pytest
import torch

from remix.ingredient import catalogue
from remix.model import build_model
from remix.model.parts import Context, Hooks
from remix.model.stream import PreNorm
from remix.optim import partition
from remix.recipe import load_recipe
from remix.registry import RegistryError
from remix.runner import RunOptions, resolve_spec
from remix.slots import PARTS, build
from remix.spec import C, LayerPlan, ModelSpec, SpecError

from conftest import RECIPES

catalogue()   # registers the parts

B, T, H, D = 2, 5, 2, 8
W = H * D


def small(**plan) -> ModelSpec:
    return ModelSpec(n_layer=12, d_model=W, n_head=H, head_dim=D, vocab_size=11, vocab_multiple=8,
                     layers=LayerPlan(**plan))


def part(name, model=None, key="p", **args):
    p = build(PARTS, C(name, **args), model or small(), key)
    p.reset_parameters()
    return p.double()


def ctx(x0=None):
    torch.manual_seed(1)
    idx = torch.randint(0, 11, (B, T))
    return Context(idx, {}, x0=x0 if x0 is not None else torch.randn(B, T, W, dtype=torch.float64))


def rand(*shape):
    return torch.randn(*shape, dtype=torch.float64)


def m_recipe():
    return load_recipe(RECIPES / "muon_baseline.toml")


def spec_of(recipe, **kw):
    return resolve_spec(recipe, RunOptions(device="cpu", **kw))[0]


def groups_of(spec, model):
    """{parameter name: optimizer group} for a built model under the spec's partition."""
    return {n: g for g, names in partition(model.param_roles(), spec.optim).items() for n in names}


# --- x0 mixing -------------------------------------------------------------------------------------

def test_x0_mix_formula_init_and_plan():
    p = part("x0_mix", residual_init=1.1, x0_init=0.0)
    assert torch.all(p.residual == torch.tensor(1.1).double()) and torch.all(p.x0 == 0)
    with torch.no_grad():
        p.residual.copy_(rand(12)), p.x0.copy_(rand(12))
    c, x = ctx(), rand(B, T, W)
    torch.testing.assert_close(p.before_layer(3, x, c), p.residual[3] * x + p.x0[3] * c.x0)
    assert [i for i in range(12) if p.attaches("before_layer", i)] == list(range(12))
    empty0 = part("x0_mix", small(no_attention=(0, 7), no_mlp=(0,)))   # #35: layer 0 empty, 7 keeps its MLP
    assert [i for i in range(12) if empty0.attaches("before_layer", i)] == list(range(1, 12))
    assert [i for i in range(12) if part("x0_mix", layers=(2, -1)).attaches("before_layer", i)] == [2, 11]


# --- U-net skips -------------------------------------------------------------------------------------

def test_unet_pairs_follow_the_plan():
    assert part("unet").source_of == {6: 5, 7: 4, 8: 3, 9: 2, 10: 1, 11: 0}            # #11
    p35 = part("unet", small(no_attention=(0, 7), no_mlp=(0,)))                        # #35
    assert p35.source_of == {6: 5, 7: 4, 8: 3, 9: 2, 10: 1} and p35.lambdas.numel() == 5
    assert part("unet", small(no_attention=(0,))).source_of[11] == 0     # layer 0 keeps its MLP: still pushed
    single = part("unet", form="sigmoid", pairs=((4, 7),))                             # #45 / #49
    assert single.source_of == {7: 4} and single.lambdas.tolist() == [-1.5]
    assert [i for i in range(12) if single.attaches("after_layer", i)] == [4]
    assert [i for i in range(12) if single.attaches("before_layer", i)] == [7]
    with pytest.raises(ValueError, match="even number"):
        build(PARTS, C("unet"), ModelSpec(n_layer=11, d_model=W, n_head=H, head_dim=D), "u")
    with pytest.raises(RegistryError, match="source < destination"):
        build(PARTS, C("unet", pairs=((7, 4),)), small(), "u")


@pytest.mark.parametrize("form", ["weight", "sigmoid", "input_gated"])
def test_unet_forms(form):
    p = part("unet", form=form)
    assert p.lambdas.tolist() == ([1.0] * 6 if form == "weight" else [-1.5] * 6)
    with torch.no_grad():
        p.lambdas.copy_(rand(6))
        if form == "input_gated":
            assert torch.all(p.gate == 0) and p.gate.shape == (6, 12)
    c, h4, x = ctx(), rand(B, T, W), rand(B, T, W)
    p.after_layer(4, h4, c)
    out = p.before_layer(7, x, c)   # pair 4 → 7 is slot 1
    w = p.lambdas[1]
    if form == "weight":
        want = x + w * h4
    elif form == "sigmoid":
        want = x + torch.sigmoid(w) * h4
    else:
        torch.testing.assert_close(out, x + torch.sigmoid(w) * h4)   # zero gate: factor 2σ(0) = 1
        with torch.no_grad():
            p.gate.copy_(rand(6, 12))
        out = p.before_layer(7, x, c)
        want = x + torch.sigmoid(w) * 2 * torch.sigmoid(c.x0[..., :12] @ p.gate[1])[..., None] * h4
    torch.testing.assert_close(out, want)


def test_unet_gate_width_and_its_adam_group():
    p = part("unet", form="input_gated", gate_width=4)
    assert p.gate.shape == (6, 4)
    narrow = ModelSpec(n_layer=12, d_model=8, n_head=2, head_dim=4)
    with pytest.raises(ValueError, match="reads 12 channels"):
        build(PARTS, C("unet", form="input_gated"), narrow, "u")
    spec = spec_of(m_recipe().add("unet_skips", options={"form": "input_gated"}), scale="tiny")
    g = spec.optim["skip_gate"]
    assert (g.optimizer, g.roles, g.lr, g.args["betas"], g.args["weight_decay"]) == \
        ("adam", ("gate.skip",), pytest.approx(0.0004), (0.65, 0.95), 0.0)
    model = build_model(spec.model, bos_id=256, device="meta")
    where = groups_of(spec, model)
    assert where["parts.unet_skips.gate"] == "skip_gate" and where["parts.unet_skips.lambdas"] == "scalar"


def test_skip_comes_before_x0_mix_on_the_stream():
    """A decoder layer starts from a·(x + w·skip) + b·x0 (records #11+), whatever the spec's order."""
    model = small()
    parts = {"x0": part("x0_mix", model), "unet": part("unet", model)}   # spec order: x0 first
    with torch.no_grad():
        parts["x0"].residual.copy_(rand(12)), parts["x0"].x0.copy_(rand(12)), parts["unet"].lambdas.copy_(rand(6))
    hooks = Hooks(parts, 12)
    assert [h.__self__ for h in hooks.at("before_layer", 6)] == [parts["unet"], parts["x0"]]

    class Add(torch.nn.Module):
        def __init__(self, i):
            super().__init__()
            self.i = i

        def forward(self, x, c):
            return x * 0.5 + self.i

    c = ctx()
    out = PreNorm()(c.x0, [Add(i) for i in range(12)], hooks, c)
    a, b, w = parts["x0"].residual, parts["x0"].x0, parts["unet"].lambdas
    x, outs = c.x0, {}
    for i in range(12):
        if i >= 6:
            x = x + w[i - 6] * outs[11 - i]
        x = a[i] * x + b[i] * c.x0
        x = outs[i] = x * 0.5 + i
    torch.testing.assert_close(out, x)


# --- value residual ----------------------------------------------------------------------------------

def test_value_residual():
    model = small(no_attention=(0,))
    p = part("value_residual", model)
    assert p.lambdas.shape == (11,) and torch.all(p.lambdas == 0.5) and p.first == 1
    with torch.no_grad():
        p.lambdas.copy_(rand(11))
    c, v1, v5, q, k = ctx(), rand(B, T, H, D), rand(B, T, H, D), rand(B, T, H, D), rand(B, T, H, D)
    _, _, out1 = p.qkv(1, q, k, v1, None, c)
    torch.testing.assert_close(out1, v1)                                  # the first layer: identity
    q5, k5, out5 = p.qkv(5, q, k, v5, None, c)
    lam = p.lambdas[4]   # layer 5 is the 5th attention layer
    torch.testing.assert_close(out5, (1 - lam) * v5 + lam * v1)
    assert q5 is q and k5 is k
    assert not p.attaches("qkv", 0)


# --- value embeddings ----------------------------------------------------------------------------------

def ve_of(p, t, c):
    return p.tables[t].weight[c.idx].view(B, T, H, D)


def test_value_embeds_record_21_defaults():
    p = part("value_embeds", small(no_attention=(7,)))
    assert len(p.tables) == 3 and p.tables[0].weight.shape == (11, W)          # the data's rows, not padded
    assert p.table_of == {0: 0, 1: 1, 2: 2, 9: 0, 10: 1, 11: 2}
    assert p.lambdas.shape == (11, 2) and torch.all(p.lambdas == 0.5)           # one (λ0, λ1) per attention layer
    assert not hasattr(p, "gate")
    assert [i for i in range(12) if p.attaches("qkv", i)] == [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11]
    assert not any(p.attaches("heads", i) for i in range(12))
    with torch.no_grad():
        p.lambdas.copy_(rand(11, 2))
    c, q, k, v = ctx(), rand(B, T, H, D), rand(B, T, H, D), rand(B, T, H, D)
    _, _, out = p.qkv(10, q, k, v, rand(B, T, W), c)
    lam = p.lambdas[9]   # layer 10 is the 10th attention layer (7 has none)
    torch.testing.assert_close(out, lam[0] * v + lam[1] * ve_of(p, 1, c))
    q3, k3, out3 = p.qkv(3, q, k, v, rand(B, T, W), c)                         # no table: v ← λ0·v
    torch.testing.assert_close(out3, p.lambdas[3, 0] * v)
    assert q3 is q and k3 is k


def test_value_embeds_init_std_and_rows():
    torch.manual_seed(0)
    wide = ModelSpec(n_layer=12, d_model=64, n_head=4, head_dim=16, vocab_size=2000, vocab_multiple=128)
    assert abs(part("value_embeds", wide).tables[0].weight.std().item() - 1.0) < 0.02
    assert abs(part("value_embeds", wide, init_std=0.01).tables[0].weight.std().item() - 0.01) < 2e-4   # #70
    assert torch.all(part("value_embeds", wide, init_std=0.0).tables[2].weight == 0)                     # #49
    assert part("value_embeds", wide, padded=True).tables[0].weight.shape == (2048, 64)                   # #26+


@pytest.mark.parametrize("layers,tables,n", [
    (tuple(range(12)), tuple(range(12)), 12),                        # #14
    (tuple(range(12)), (0, 1, 2, 3, 4, 5, 5, 4, 3, 2, 1, 0), 6),     # #15/#16
    ((1, 2, 9, 10, 11), (1, 2, 0, 1, 2), 3),                         # #36-#62
    ((1, 2, 9, 10, 11), (0, 1, 2, 3, 4), 5),                         # #63
    ((2, 3, 9, 10, 11), (0, 1, 2, 3, 4), 5),                         # #70
])
def test_value_embeds_layouts(layers, tables, n):
    p = part("value_embeds", layers=layers, tables=tables)
    assert len(p.tables) == n and p.table_of == dict(zip(layers, tables))


def test_value_embeds_layout_errors():
    with pytest.raises(RegistryError, match="without gaps"):
        build(PARTS, C("value_embeds", layers=(0, 1), tables=(0, 2)), small(), "v")
    with pytest.raises(RegistryError, match="same number"):
        build(PARTS, C("value_embeds", layers=(0, 1), tables=(0,)), small(), "v")
    with pytest.raises(ValueError, match="only by layers without attention"):
        build(PARTS, C("value_embeds", layers=(0, 1), tables=(0, 1)), small(no_attention=(0,)), "v")


@pytest.mark.parametrize("mix", ["interpolate", "lambdas", "weights", "output"])
def test_value_embed_mixes(mix):
    p = part("value_embeds", mix=mix)
    width = 1 if mix == "interpolate" else 2
    assert p.lambdas.shape == (12, width)
    assert p.lambdas[0].tolist() == ([0.5] if mix == "interpolate" else [0.5, 1.0] if mix == "output" else [0.5, 0.5])
    with torch.no_grad():
        p.lambdas.copy_(rand(12, width))
    c, q, k, v, x = ctx(), rand(B, T, H, D), rand(B, T, H, D), rand(B, T, H, D), rand(B, T, W)
    q1, k1, v1 = p.qkv(9, q, k, v, x, c)
    lam, ve = p.lambdas[9], ve_of(p, 0, c)
    if mix == "interpolate":
        want_q, want_k, want_v = q, k, (1 - lam[0]) * v + lam[0] * ve
    elif mix == "lambdas":
        want_q, want_k, want_v = q, k, lam[0] * v + lam[1] * ve
    elif mix == "weights":   # #47: λ0·W_qkv
        want_q, want_k, want_v = lam[0] * q, lam[0] * k, lam[0] * v + lam[1] * ve
    else:                    # #48: ve without λ; λ1 on W_O
        want_q, want_k, want_v = lam[0] * q, lam[0] * k, lam[0] * v + ve
    for got, want in ((q1, want_q), (k1, want_k), (v1, want_v)):
        torch.testing.assert_close(got, want)
    if mix == "output":
        y = rand(B, T, H, D)
        assert all(p.attaches("heads", i) for i in range(12))
        torch.testing.assert_close(p.heads(4, y, c), p.lambdas[4, 1] * y)
        out = torch.nn.Linear(W, W, bias=False).double()
        torch.testing.assert_close(out(p.heads(4, y, c).reshape(B, T, W)),   # y·(λ1·W_O)ᵀ
                                   torch.nn.functional.linear(y.reshape(B, T, W), p.lambdas[4, 1] * out.weight))
    if mix == "interpolate":
        assert not p.attaches("qkv", 3)   # no table at layer 3: nothing to interpolate


def test_value_embeds_weights_equal_lambdas_under_qk_norm():
    """#47 moved λ0 onto W_qkv: with QK-norm right after, the same math as #15's λ0·v (up to the norm's eps)."""
    a, b = part("value_embeds", mix="lambdas"), part("value_embeds", mix="weights")
    with torch.no_grad():
        b.load_state_dict(a.state_dict())
    c, q, k, v, x = ctx(), rand(B, T, H, D), rand(B, T, H, D), rand(B, T, H, D), rand(B, T, W)
    qa, ka, va = a.qkv(1, q, k, v, x, c)
    qb, kb, vb = b.qkv(1, q, k, v, x, c)
    norm = torch.nn.functional.rms_norm
    torch.testing.assert_close(norm(qb, (D,), eps=1e-30), norm(qa, (D,), eps=1e-30))
    torch.testing.assert_close(norm(kb, (D,), eps=1e-30), norm(ka, (D,), eps=1e-30))
    torch.testing.assert_close(vb, va)


@pytest.mark.parametrize("gate", ["x", "x_ve"])
def test_value_embed_gates(gate):
    wide = ModelSpec(n_layer=12, d_model=16, n_head=2, head_dim=8, vocab_size=11)
    layers, tables = (2, 3, 9, 10, 11), (0, 1, 2, 3, 4)
    p = part("value_embeds", wide, mix="output", layers=layers, tables=tables, gate=gate, gate_x_layers=(3, 10))
    assert p.gate.shape == (5, 2, 12) and torch.all(p.gate == 0)
    c = ctx(rand(B, T, 16))
    q, k, v, x = rand(B, T, 2, 8), rand(B, T, 2, 8), rand(B, T, 2, 8), rand(B, T, 16)
    _, _, v0 = p.qkv(9, q, k, v, x, c)
    ve9 = p.tables[2].weight[c.idx]
    torch.testing.assert_close(v0, p.lambdas[9, 0] * v + ve9.view(B, T, 2, 8))   # zero gate: 2σ(0) = 1
    with torch.no_grad():
        p.gate.copy_(rand(5, 2, 12))
    for layer, slot, table in ((9, 2, 2), (10, 3, 3)):
        _, _, out = p.qkv(layer, q, k, v, x, c)
        ve = p.tables[table].weight[c.idx]
        u = torch.cat((x[..., :6], ve[..., :6]), -1) if gate == "x_ve" and layer not in (3, 10) else x[..., :12]
        g = 2 * torch.sigmoid(u @ p.gate[slot].T)                                   # (B, T, heads)
        torch.testing.assert_close(out, p.lambdas[layer, 0] * v + g[..., None] * ve.view(B, T, 2, 8))


@pytest.mark.parametrize("optimizer,group", [("adam", "value_gate"), ("muon", "hidden")])
def test_value_embed_roles_and_groups(optimizer, group):
    spec = spec_of(m_recipe().add("value_embeds", options={"gate": "x", "gate_optimizer": optimizer}), scale="tiny")
    model = build_model(spec.model, bos_id=256, device="meta")
    roles, where = model.param_roles(), groups_of(spec, model)
    assert roles["parts.value_embeds.tables.0.weight"] == "embed.value"
    assert where["parts.value_embeds.tables.0.weight"] == "embed" and spec.optim["embed"].lr == 0.6
    assert where["parts.value_embeds.lambdas"] == "scalar" and spec.optim["scalar"].lr == 0.04
    assert where["parts.value_embeds.gate"] == group
    if optimizer == "adam":
        g = spec.optim["value_gate"]
        assert (g.optimizer, g.lr, g.args["betas"], g.args["eps"]) == ("adam", 0.008, (0.65, 0.95), 1e-8)


# --- dropped layers and the window pattern ---------------------------------------------------------------

def test_dropped_layers_add_to_the_plan():
    r = m_recipe()
    for names, attn, mlp in ((["skip_attention_7"], (7,), ()),
                             (["skip_attention_7", "drop_first_mlp"], (7,), (0,)),
                             (["skip_attention_7", "drop_first_mlp", "drop_first_attention"], (0, 7), (0,)),
                             (["drop_first_attention", "skip_attention_7"], (0, 7), ())):
        recipe = r
        for n in names:
            recipe = recipe.add(n)
        plan = spec_of(recipe).model.layers
        assert (plan.no_attention, plan.no_mlp) == (attn, mlp)
    spec = spec_of(r.add("skip_attention_7").add("drop_first_mlp").add("drop_first_attention"), scale="tiny")
    model = build_model(spec.set("model.param_dtype", "float32").model, bos_id=256)
    assert model.blocks[0].attn is None and model.blocks[0].mlp is None and model.blocks[7].attn is None
    assert model.blocks[7].mlp is not None and model.blocks[1].attn is not None


def test_dropped_layer_beyond_the_model_is_an_error():
    from remix.ingredient import get
    with pytest.raises(SpecError, match="layer 7 does not exist"):
        get("skip_attention_7").apply(spec_of(m_recipe()).set("model.n_layer", 6))


def test_long_short_patterns():
    r = m_recipe()
    for pattern in ("LSSSLSSLSSSL", "-SSSLSS-SSSL"):   # #20, #35: the same short layers
        spec = spec_of(r.add("long_short_windows", options={"pattern": pattern}))
        assert spec.model.layers.short_window == (1, 2, 3, 5, 6, 8, 9, 10)
    with pytest.raises(Exception, match="letters for a model of 12 layers"):
        spec_of(r.add("long_short_windows", options={"pattern": "LSSL"}))
    spec = spec_of(r.add("long_short_windows"), scale="tiny")
    model = build_model(spec.model, bos_id=256, device="meta")
    windows = [b.attn.window for b in model.blocks]
    assert windows == ["long", "short", "short", "short", "long", "short", "short", "long", "short", "short",
                       "short", "long"]
    assert spec.model.attention.name == "document"


# --- sparse attention gate ----------------------------------------------------------------------------

def test_sparse_attn_gate_formula():
    model = ModelSpec(n_layer=12, d_model=16, n_head=2, head_dim=8, vocab_size=11, layers=LayerPlan(no_attention=(7,)))
    p = part("attn_gate", model)
    assert p.weight.shape == (11, 2, 12) and torch.all(p.weight == 0)
    c, x, y = ctx(rand(B, T, 16)), rand(B, T, 16), rand(B, T, 2, 8)
    assert p.attn_in(8, x, c) is x
    torch.testing.assert_close(p.heads(8, y, c), 0.5 * y)                      # zero init: every gate 1/2
    with torch.no_grad():
        p.weight.copy_(rand(11, 2, 12))
    p.attn_in(8, x, c)
    g = torch.sigmoid(x[..., :12] @ p.weight[7].T)                              # layer 8 is the 8th attention layer
    torch.testing.assert_close(p.heads(8, y, c), g[..., None] * y)
    assert [i for i in range(12) if p.attaches("heads", i)] == [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11]


@pytest.mark.parametrize("optimizer,group", [("adam", "attn_gate"), ("muon", "hidden")])
def test_sparse_attn_gate_groups(optimizer, group):
    spec = spec_of(m_recipe().add("sparse_attn_gate", options={"optimizer": optimizer}), scale="tiny")
    model = build_model(spec.model, bos_id=256, device="meta")
    assert model.param_roles()["parts.sparse_attn_gate.weight"] == "gate.attn"
    assert groups_of(spec, model)["parts.sparse_attn_gate.weight"] == group
    if optimizer == "adam":
        g = spec.optim["attn_gate"]
        assert (g.optimizer, g.lr, g.args["betas"], g.args["weight_decay"]) == ("adam", 0.008, (0.65, 0.95), 0.0)
    else:
        assert spec.optim["hidden"].roles == ("matrix", "gate.attn") and "attn_gate" not in spec.optim
    order = [h.__self__.order for h in model.hooks.at("attn_in", 0)]
    assert order == sorted(order)


# --- backout and smear -----------------------------------------------------------------------------

def test_backout():
    p = part("backout")
    assert p.lam.item() == 0.5 and p.attaches("end", None) and p.attaches("after_layer", 8)
    assert not p.attaches("after_layer", 7)
    c, h, x = ctx(), rand(B, T, W), rand(B, T, W)
    assert p.after_layer(8, h, c) is h
    torch.testing.assert_close(p.end(x, c), x - 0.5 * h)
    spec = spec_of(m_recipe().add("backout"), scale="tiny")
    model = build_model(spec.model, bos_id=256, device="meta")
    assert groups_of(spec, model)["parts.backout.lam"] == "scalar"
    assert model.param_roles()["parts.backout.lam"] == "scalar.backout"


def test_smear_formula():
    model = ModelSpec(n_layer=12, d_model=16, n_head=2, head_dim=8, vocab_size=11)
    p = part("smear", model)
    assert p.lam.item() == 0 and torch.all(p.gate == 0) and p.gate.shape == (1, 12)
    e = rand(B, T, 16)
    torch.testing.assert_close(p.embed(e, ctx()), e)                            # λ = 0: off at init
    with torch.no_grad():
        p.lam.fill_(0.7), p.gate.copy_(rand(1, 12))
    out = p.embed(e, ctx())
    want = e.clone()
    for t in range(1, T):
        want[:, t] = e[:, t] + 0.7 * torch.sigmoid(e[:, t, :12] @ p.gate[0])[:, None] * e[:, t - 1]
    torch.testing.assert_close(out, want)


@pytest.mark.parametrize("optimizer,group", [("adam", "smear_gate"), ("muon", "hidden")])
def test_smear_groups_and_x0(optimizer, group):
    spec = spec_of(m_recipe().add("smear", options={"optimizer": optimizer}), scale="tiny")
    model = build_model(spec.model, bos_id=256, device="meta")
    where = groups_of(spec, model)
    assert where["parts.smear.gate"] == group and where["parts.smear.lam"] == "scalar"
    if optimizer == "adam":
        assert spec.optim["smear_gate"].lr == pytest.approx(8e-5)
    # the smear runs on the raw embedding: x0 is the norm of the smeared embedding
    spec = spec.set("model.param_dtype", "float32")
    torch.manual_seed(0)
    model = build_model(spec.model, bos_id=256)
    with torch.no_grad():
        model.parts.smear.lam.fill_(0.5)
    seen = {}
    idx = torch.randint(0, 257, (1, 16))
    original = model.stream.forward

    def spy(x, layers, hooks, c):
        seen["x0"] = c.x0
        return original(x, layers, hooks, c)
    model.stream.forward = spy
    model(idx, idx)
    e = model.parts.smear.embed(model.embed(idx), None)
    torch.testing.assert_close(seen["x0"], model.embed_norm(e))


# --- record 21 -----------------------------------------------------------------------------------

def wake(model):
    """Random head and output projections: M's zero-init ones leave the stream without gradient at init."""
    with torch.no_grad():
        model.head.weight.normal_(0, 0.02)
        for b in model.blocks:
            for linear in ((b.attn.out,) if b.attn is not None else ()) + ((b.mlp.down,) if b.mlp is not None else ()):
                linear.weight.normal_(0, 0.02)


def record_21(recipe=None):
    r = recipe or m_recipe()
    for name in ("x0_mixing", "unet_skips", "value_embeds", "skip_attention_7", "long_short_windows"):
        if name not in r.names:
            r = r.add(name)
    return r


def test_record_21_form_exactly():
    """M + the topology of record 21 (3.014): 275,598,388 parameters, 4 tables at lr 0.6, 52 scalars at 0.04,
    46 Muon matrices (facts: notes/record21.md §3)."""
    spec = spec_of(record_21())
    model = build_model(spec.model, bos_id=50256, device="meta")
    assert sum(p.numel() for p in model.parameters()) == 275_598_388
    params, names = dict(model.named_parameters()), partition(model.param_roles(), spec.optim)
    assert sorted(names["embed"]) == ["embed.weight"] + [f"parts.value_embeds.tables.{t}.weight" for t in range(3)]
    assert all(params[n].shape == (50257, 768) for n in names["embed"])
    assert sum(params[n].numel() for n in names["scalar"]) == 52
    assert len(names["hidden"]) == 46
    assert (spec.optim["embed"].lr, spec.optim["scalar"].lr) == (0.6, 0.04)
    assert spec.model.layers == LayerPlan(no_attention=(7,), short_window=(1, 2, 3, 5, 6, 8, 9, 10))
    before = {i: [type(h.__self__).__name__ for h in model.hooks.at("before_layer", i)] for i in range(12)}
    assert before[0] == ["X0Mix"] and before[6] == ["UNetSkips", "X0Mix"]


def test_record_21_inits_and_a_finite_step():
    spec = spec_of(record_21(), scale="tiny").set("model.param_dtype", "float32")
    torch.manual_seed(0)
    model = build_model(spec.model, bos_id=256)
    ve, unet, x0 = model.parts.value_embeds, model.parts.unet_skips, model.parts.x0_mixing
    assert abs(torch.cat([t.weight.flatten() for t in ve.tables]).std().item() - 1.0) < 0.02
    assert torch.all(ve.lambdas == 0.5) and torch.all(unet.lambdas == 1.0)
    assert torch.all(x0.residual == 1.0) and torch.all(x0.x0 == 0.0)
    wake(model)
    idx = torch.randint(0, 257, (1, 64))
    loss = model(idx, idx.roll(-1, 1))
    loss.backward()
    assert math.isfinite(loss.item())
    assert torch.all(ve.lambdas.grad[:, 0] != 0)
    assert torch.all(ve.lambdas.grad[[3, 4, 5, 6, 7], 1] == 0)   # attention layers 3-6, 8 have no table


def test_an_empty_layer_is_skipped_by_the_parts():
    """#35: with layer 0 empty, its x0 factors get no gradient and layer 11 receives no skip."""
    r = m_recipe().add("skip_attention_7").add("drop_first_mlp").add("drop_first_attention")
    spec = spec_of(record_21(r), scale="tiny").set("model.param_dtype", "float32")
    torch.manual_seed(0)
    model = build_model(spec.model, bos_id=256)
    wake(model)
    with torch.no_grad():
        model.parts.x0_mixing.x0.fill_(0.3)
    idx = torch.randint(0, 257, (1, 64))
    model(idx, idx.roll(-1, 1)).backward()
    x0 = model.parts.x0_mixing
    assert x0.residual.grad[0] == 0 and x0.x0.grad[0] == 0 and torch.all(x0.x0.grad[1:] != 0)
    assert model.parts.unet_skips.source_of == {6: 5, 7: 4, 8: 3, 9: 2, 10: 1}


def test_late_record_topology_is_one_graph():
    """Every part of this file at once, in the later records' forms (#35 plan, #45 skip with #55's gate, #48 mix
    with #70's gates, #28 gate, #40 backout, #34 smear, value residual too): one graph, finite gradients."""
    r = m_recipe()
    for name, options in (("smear", {}), ("value_residual", {}), ("x0_mixing", {"residual_init": 1.1}),
                          ("unet_skips", {"form": "input_gated", "pairs": [[4, 7]]}),
                          ("value_embeds", {"layers": [2, 3, 9, 10, 11], "tables": [0, 1, 2, 3, 4], "init_std": 0.01,
                                            "padded": True, "mix": "output", "gate": "x_ve", "gate_x_layers": [3, 10]}),
                          ("skip_attention_7", {}), ("drop_first_mlp", {}), ("drop_first_attention", {}),
                          ("long_short_windows", {"pattern": "-SSSLSS-SSSL"}),
                          ("sparse_attn_gate", {"optimizer": "muon"}),
                          ("backout", {})):
        r = r.add(name, options=options)
    spec = spec_of(r, scale="tiny").set("model.param_dtype", "float32")
    torch.manual_seed(0)
    model = build_model(spec.model, bos_id=256)
    wake(model)
    idx = torch.randint(0, 257, (2, 64))
    idx[:, ::13] = 256
    loss = model(idx, idx.roll(-1, 1))
    loss.backward()
    assert math.isfinite(loss.item()) and all(p.grad is not None for p in model.parameters())
    torch._dynamo.reset()
    out = torch._dynamo.explain(model)(idx, idx.roll(-1, 1))
    assert (out.graph_count, out.graph_break_count) == (1, 0), out.break_reasons
