"""Topology-2 components against their formulas: RoPE pairing/precision/span, paired-head attention,
partial key offset, learnable XSA, bigram hash embedding, init changes, the asymmetric logit rescale,
the re-tied head, and the retune ingredients' spec paths and schedules."""

import math
from types import SimpleNamespace

import pytest
import torch

from remix.ingredient import catalogue
from remix.model import build_model
from remix.model.parts import Context
from remix.optim import partition
from remix.recipe import load_recipe
from remix.runner import RunOptions, resolve_spec
from remix.slots import LOGITS, LR_SCHEDULES, MOMENTUM_SCHEDULES, build
from remix.validate import load_components

from conftest import RECIPES

load_components()
M = load_recipe(RECIPES / "muon_baseline.toml")


def with_added(*names, options=None, recipe=M):
    for name in names:
        if name not in recipe.names:
            recipe = recipe.add(name, options=(options or {}).get(name))
    return recipe


def spec_of(recipe, scale="tiny"):
    return resolve_spec(recipe, RunOptions(device="cpu", scale=scale))[0]


def tiny_model(spec, seed=0):
    torch.manual_seed(seed)
    return build_model(spec.set("model.param_dtype", "float32").model, bos_id=256)


def groups_of(spec):
    model = build_model(spec.model, bos_id=0, device="meta")
    return model, {n: g for g, names in partition(model.param_roles(), spec.optim).items() for n in names}


# --- RoPE ------------------------------------------------------------------------------------------

def test_rope_defaults_keep_m_spec_and_tables():
    spec = spec_of(M, scale=None)
    assert spec.model.positions.args == {"frequencies": "truncated", "base": 10000.0}
    from ingredients.rope import Rotary, frequencies
    rot = Rotary(frequencies("truncated", 16, 1e4), 8)
    assert rot.cos.shape == (8, 8) and rot.cos.dtype == torch.float32


def test_interleaved_rotation_formula():
    from ingredients.rope import Rotary, frequencies
    D, T = 16, 12
    omega = frequencies("truncated", D, 1e4)
    rot = Rotary(omega, T, pairing="interleaved")
    x = torch.randn(1, T, 3, D, dtype=torch.float64)
    y, _ = rot.rotate(x, x)
    for t in (0, 5, 11):
        for j in range(D // 2):
            th = t * omega[j].item()
            a, b = x[0, t, :, 2 * j], x[0, t, :, 2 * j + 1]
            assert torch.allclose(y[0, t, :, 2 * j], a * math.cos(th) + b * math.sin(th), atol=1e-5)
            assert torch.allclose(y[0, t, :, 2 * j + 1], b * math.cos(th) - a * math.sin(th), atol=1e-5)
    assert torch.equal(y[..., D // 2:], x[..., D // 2:].float().double())   # truncated: the upper half is static


def test_interleaved_is_a_permutation_of_half_split():
    from ingredients.rope import Rotary, frequencies
    D, T = 16, 10
    omega = frequencies("truncated", D, 1e4)
    half, inter = Rotary(omega, T), Rotary(omega, T, pairing="interleaved")
    perm = torch.tensor([d for j in range(D // 2) for d in (j, j + D // 2)])   # pair j: (j, j+D/2) -> (2j, 2j+1)
    x = torch.randn(2, T, 3, D)
    assert torch.equal(half.rotate(x, x)[0][..., perm], inter.rotate(x[..., perm], x[..., perm])[0])


def test_bf16_rotation_rounds_tables_and_arithmetic():
    from ingredients.rope import Rotary, frequencies
    D, T = 16, 64
    omega = frequencies("standard", D, 1e4)
    rot = Rotary(omega, T, precision="bfloat16")
    assert rot.cos.dtype == torch.bfloat16
    x = torch.randn(1, T, 2, D)
    y, _ = rot.rotate(x, x)
    theta = torch.outer(torch.arange(T, dtype=torch.float32), omega)
    c, s = theta.cos().bfloat16()[None, :, None], theta.sin().bfloat16()[None, :, None]
    x1, x2 = x.bfloat16().chunk(2, dim=-1)
    expected = torch.cat((x1 * c + x2 * s, x2 * c - x1 * s), dim=-1).float()
    assert y.dtype == torch.float32 and torch.equal(y, expected)
    assert not torch.equal(y, Rotary(omega, T).rotate(x, x)[0])


def test_rotate_at_positions_and_span():
    from ingredients.rope import Rotary, frequencies
    from ingredients.paired_head_attention import head_positions
    D, T, H = 8, 6, 4
    omega = frequencies("standard", D, 1e4)
    rot = Rotary(omega, 2 * T)
    x = torch.randn(1, T, H, D)
    same = torch.arange(T)[:, None].expand(T, H)
    assert torch.equal(rot.rotate_at(x, x, same)[0], rot.rotate(x, x)[0])
    pos = head_positions(T, H, "cpu")
    assert pos[3].tolist() == [6, 7, 6, 7]
    y = rot.rotate_at(x, x, pos)[0]
    for h in range(H):
        p = 2 * 3 + h % 2
        th = p * omega[1].item()
        x1, x2 = x[0, 3, h, 1], x[0, 3, h, 1 + D // 2]
        assert y[0, 3, h, 1].item() == pytest.approx((x1 * math.cos(th) + x2 * math.sin(th)).item(), abs=1e-5)
    spec = spec_of(with_added("paired_head_attention"))
    assert spec.model.positions.args["span"] == 2
    assert tiny_model(spec).positions.cos.shape[0] == 2 * spec.model.max_len


# --- paired-head attention -----------------------------------------------------------------------

def brute_paired(q, k, v, docs, window, scale):
    """Attention over the doubled sequence, written per query: head h of token t is at slot 2t + (h ≥ H/2)
    in channel h mod H/2; a query sees keys of its channel at slots ≤ its own, in its document, fewer than
    `window` slots back."""
    B, T, H, D = q.shape
    half = H // 2
    y = torch.zeros_like(q)
    for b in range(B):
        for t in range(T):
            for h in range(H):
                c, slot = h % half, 2 * t + h // half
                keys, vals = [], []
                for s in range(T):
                    for j in (0, 1):
                        ks = 2 * s + j
                        if ks <= slot and slot - ks < window and docs[b, s] == docs[b, t]:
                            keys.append(k[b, s, c + j * half])
                            vals.append(v[b, s, c + j * half])
                w = torch.softmax(torch.stack(keys) @ q[b, t, h] * scale, dim=0)
                y[b, t, h] = w @ torch.stack(vals)
    return y


@pytest.mark.parametrize("window", [64, 5])
def test_paired_heads_attend_as_the_record_code(window):
    from ingredients.document_mask import DocumentCore
    from ingredients.paired_head_attention import PairedHeads, PairedHeadsConfig
    from remix.model.positions import Positions
    torch.manual_seed(0)
    B, T, H, D = 1, 9, 6, 4
    idx = torch.tensor([[7, 3, 0, 5, 6, 0, 2, 2, 1]])   # BOS = 0: three documents
    q, k, v = (torch.randn(B, T, H, D, dtype=torch.float64) for _ in range(3))
    core = DocumentCore({"long": window}, bos_id=0)
    attn = SimpleNamespace(positions=Positions(), core=core, window="long", scale=0.3,
                           rotated=lambda q, k, v, ctx: (q, k, v))
    model = SimpleNamespace(n_head=H, n_layer=2)
    part = PairedHeads(PairedHeadsConfig(layers=(1,)), model)
    y = part.attend(1, q, k, v, attn, Context(idx, {}))
    docs = core.documents(idx)
    assert torch.allclose(y, brute_paired(q, k, v, docs, window, 0.3), atol=1e-12)


def test_paired_heads_share_softmax_within_pairs_only():
    from remix.model.attention import CausalCore
    from ingredients.paired_head_attention import PairedHeads, PairedHeadsConfig
    from remix.model.positions import Positions
    torch.manual_seed(1)
    B, T, H, D = 1, 5, 6, 4
    q, k, v = (torch.randn(B, T, H, D, dtype=torch.float64) for _ in range(3))
    attn = SimpleNamespace(positions=Positions(), core=CausalCore(), window="long", scale=0.5,
                           rotated=lambda q, k, v, ctx: (q, k, v))
    part = PairedHeads(PairedHeadsConfig(layers=(0,)), SimpleNamespace(n_head=H, n_layer=1))
    ctx = lambda: Context(torch.ones(B, T, dtype=torch.long), {})   # noqa: E731
    y = part.attend(0, q, k, v, attn, ctx())
    assert torch.allclose(y, brute_paired(q, k, v, torch.zeros(B, T), 10 ** 6, 0.5), atol=1e-12)
    k2, v2 = k.clone(), v.clone()
    k2[0, 2, 4] += 1.0
    v2[0, 2, 4] += 1.0
    changed = (part.attend(0, q, k2, v2, attn, ctx()) - y).abs().amax(dim=(0, 1, 3))
    assert changed[1] > 0 and changed[4] > 0                       # heads 1 and 4 form a pair
    assert torch.all(changed[[0, 2, 3, 5]] == 0)
    k3 = k.clone()
    k3[0, 2, 3] += 1.0                                               # head 3 of token 2 ...
    d = (part.attend(0, q, k3, v, attn, ctx()) - y).abs()
    assert torch.all(d[0, 2, 0] == 0) and d[0, 2, 3].max() > 0     # ... is unseen by head 0 at token 2, seen by head 3
    assert d[0, 3, 0].max() > 0                                      # and seen by head 0 from token 3 on


def test_document_core_slot_masks():
    from ingredients.document_mask import DocumentCore
    idx = torch.tensor([[0, 4, 5, 0, 6, 7]])
    core = DocumentCore({"long": 3}, bos_id=0)
    mask = core.prepare(idx, {}, slots=2)["long"][0, 0]
    docs = core.documents(idx)[0]
    assert mask.shape == (12, 12)
    for qs in range(12):
        for ks in range(12):
            assert bool(mask[qs, ks]) == (ks <= qs and qs - ks < 3 and docs[qs // 2] == docs[ks // 2])
    assert torch.equal(core.prepare(idx, {})["long"], core.prepare(idx, {}, slots=1)["long"])


def test_paired_heads_in_m_and_its_limits():
    spec = spec_of(with_added("paired_head_attention", options={"paired_head_attention": {"layers": [1, 6]}}))
    model = tiny_model(spec)
    assert [i for i, b in enumerate(model.blocks) if b.attn.attend is not None] == [1, 6]
    assert sum(p.numel() for p in model.parts.parameters()) == 0
    idx = torch.randint(0, 257, (2, spec.train.seq_len))
    assert torch.isfinite(model(idx, idx.roll(-1, 1)))
    assert catalogue()["paired_head_attention"].requires == ("rope",)
    with pytest.raises(Exception, match="even number of heads"):
        tiny_model(spec.set("model.n_head", 3).set("model.head_dim", 8).set("model.d_model", 24))


def test_one_attend_per_layer():
    spec = spec_of(with_added("paired_head_attention"))
    from remix.spec import C
    spec = spec.set("model.parts.second", C("paired_heads", layers=(1,)))
    with pytest.raises(ValueError, match="at most one"):
        tiny_model(spec)


# --- partial key offset --------------------------------------------------------------------------

def test_key_offset_dims():
    from ingredients.partial_key_offset import offset_dims
    from remix.spec import ModelSpec, C
    m = ModelSpec(head_dim=128, positions=C("rope", frequencies="truncated"))
    quarters = set(range(32, 64)) | set(range(96, 128))
    assert set(torch.nonzero(offset_dims("static", m)).flatten().tolist()) == quarters
    assert set(torch.nonzero(offset_dims("quarters", m)).flatten().tolist()) == quarters
    assert set(torch.nonzero(offset_dims("upper_half", m)).flatten().tolist()) == set(range(64, 128))
    inter = ModelSpec(head_dim=128, positions=C("rope", frequencies="truncated", pairing="interleaved"))
    assert set(torch.nonzero(offset_dims("static", inter)).flatten().tolist()) == set(range(64, 128))
    with pytest.raises(ValueError, match="truncated"):
        offset_dims("static", ModelSpec(positions=C("rope", frequencies="standard")))


def test_key_offset_shifts_static_dims_from_previous_token():
    from ingredients.partial_key_offset import KeyOffset, KeyOffsetConfig
    from remix.spec import ModelSpec, LayerPlan, C
    m = ModelSpec(n_layer=4, head_dim=16, positions=C("rope"), layers=LayerPlan(short_window=(0, 2)))
    part = KeyOffset(KeyOffsetConfig(), m)
    assert [i for i in range(4) if part.attaches("rotated", i)] == [1, 3]   # the long-window layers
    q, k, v = (torch.randn(2, 7, 3, 16, dtype=torch.float64) for _ in range(3))
    q2, k2, v2 = part.rotated(1, q, k, v, None)
    static = list(range(4, 8)) + list(range(12, 16))
    moving = [d for d in range(16) if d not in static]
    assert q2 is q and v2 is v
    assert torch.equal(k2[:, 1:, :, static], k[:, :-1, :, static])
    assert torch.equal(k2[:, 0], k[:, 0]) and torch.equal(k2[..., moving], k[..., moving])
    paired = ModelSpec(n_layer=4, head_dim=16, positions=C("rope"),
                       parts={"paired_heads": C("paired_heads", layers=(3,))})
    assert [i for i in range(4) if KeyOffset(KeyOffsetConfig(), paired).attaches("rotated", i)] == [0, 1, 2]
    assert [i for i in range(4) if KeyOffset(KeyOffsetConfig(layers=(-1,)), m).attaches("rotated", i)] == [3]


def logits_of(spec, idx):
    model = tiny_model(spec)
    with torch.no_grad():   # M starts with zero projections and head: give attention something to say
        g = torch.Generator().manual_seed(3)
        for p in (*(b.attn.out.weight for b in model.blocks), *(b.mlp.down.weight for b in model.blocks),
                  model.head.weight):
            p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    out = {}
    model.head.register_forward_hook(lambda m, i, o: out.setdefault("z", o))
    model(idx, idx.roll(-1, 1))
    return out["z"]


def test_key_offset_in_m_changes_only_later_tokens():
    idx = torch.randint(1, 256, (1, 32))
    a = logits_of(spec_of(M), idx)
    b = logits_of(spec_of(with_added("partial_key_offset", options={"partial_key_offset": {"layers": [0]}})), idx)
    assert torch.equal(a[:, 0], b[:, 0]) and not torch.allclose(a[:, 1:], b[:, 1:])


# --- learnable XSA -------------------------------------------------------------------------------

def test_xsa_formula_and_identity_at_init():
    from ingredients.learnable_xsa import XSA, XSAConfig
    from remix.spec import ModelSpec
    part = XSA(XSAConfig(), ModelSpec(n_layer=2, n_head=3)).double()
    q = k = None
    v = torch.randn(2, 5, 3, 8, dtype=torch.float64)
    v[0, 0, 1] = 1e-6                                   # ‖v‖ below 1e-4: divided by 1e-4
    y = torch.randn(2, 5, 3, 8, dtype=torch.float64)
    ctx = Context(torch.zeros(2, 5, dtype=torch.long), {})
    part.rotated(1, q, k, v, ctx)
    assert torch.equal(part.heads(1, y, ctx), y)       # α = 0
    with torch.no_grad():
        part.alpha[1] = torch.tensor([0.3, -1.2, 2.0])
    out = part.heads(1, y, ctx)
    a = torch.tanh(torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)).view(1, 1, 3, 1)
    vhat = v / v.norm(dim=-1, keepdim=True).clamp_min(1e-4)
    assert torch.allclose(out, y - a * (y * vhat).sum(-1, keepdim=True) * vhat, atol=1e-12)
    rewrite = y - a * ((y * v).sum(-1, keepdim=True) / (v * v).sum(-1, keepdim=True).clamp_min(1e-8)) * v   # #86
    assert torch.allclose(out, rewrite, atol=1e-12)
    full = XSA(XSAConfig(), ModelSpec(n_layer=2, n_head=3)).double()
    with torch.no_grad():
        full.alpha.fill_(100.0)                         # tanh → 1: y loses all of its component along v
    full.rotated(0, q, k, v, ctx)
    assert torch.allclose((full.heads(0, y, ctx) * v).sum(-1)[1:], torch.zeros(1, 5, 3, dtype=torch.float64), atol=1e-9)


def test_xsa_role_group_and_layers_in_m():
    spec = spec_of(with_added("paired_head_attention", "learnable_xsa"))
    model, group = groups_of(spec)
    assert model.param_roles()["parts.xsa.alpha"] == "scalar.xsa" and group["parts.xsa.alpha"] == "xsa"
    g = spec.optim["xsa"]
    assert (g.optimizer, g.lr, g.args["betas"], g.args["weight_decay"], g.args["eps"]) == ("adam", 0.008, (0.9, 0.95), 0.0, 1e-10)
    assert tuple(model.parts["xsa"].alpha.shape) == (12, spec.model.n_head)
    on = [i for i in range(12) if model.parts["xsa"].attaches("heads", i)]
    assert on == [0, 2, 4, 5, 7, 8, 9, 11]                  # not the paired layers 1, 3, 6, 10
    assert model.parts["xsa"].order < 50


# --- bigram hash embedding -----------------------------------------------------------------------

def test_bigram_hash_ids_and_signs():
    from ingredients.bigram_hash_embed import bigram_ids, sign_rows
    x = torch.tensor([[50256, 13, 50303, 0, 262, 262]])
    rows = 5 * 50304
    ids = bigram_ids(x, rows)[0].tolist()
    assert ids[0] == rows - 1
    for t in range(1, 6):
        assert ids[t] == ((36313 * x[0, t].item()) ^ (27191 * x[0, t - 1].item())) % (rows - 1)
    s = sign_rows(x, 8192)[0].tolist()
    assert s[0] == 0 and all(s[t] == (x[0, t - 1].item() ^ x[0, t].item()) % 8192 for t in range(1, 6))


def test_bigram_part_injects_lambda_times_rows():
    from ingredients.bigram_hash_embed import BigramHash, BigramConfig, bigram_ids, sign_rows, BIGRAM
    from remix.spec import ModelSpec
    m = ModelSpec(n_layer=3, d_model=8, vocab_size=50, vocab_multiple=8)
    part = BigramHash(BigramConfig(size=2.0, width=0.625, signs=16, inject="attention_output"), m).double()
    part.reset_parameters()
    assert part.table.shape == (112, 5) and torch.all(part.table == 0) and torch.all(part.lambdas == 0.1)
    assert set(part.signs.unique().tolist()) == {-1.0, 1.0}
    with torch.no_grad():
        part.table.normal_()
        part.lambdas.copy_(torch.tensor([0.5, -2.0, 3.0]))
    idx = torch.randint(0, 50, (2, 7))
    ctx = Context(idx, {})
    e = torch.randn(2, 7, 8, dtype=torch.float64)
    assert part.embed(e, ctx) is e
    rows = part.table[bigram_ids(idx, 112)] * part.signs[sign_rows(idx, 16)]
    assert torch.equal(ctx.saved[BIGRAM][..., :5], rows) and torch.all(ctx.saved[BIGRAM][..., 5:] == 0)
    x = torch.randn(2, 7, 8, dtype=torch.float64)
    assert torch.allclose(part.before_layer(0, x, ctx) - x, 0.5 * ctx.saved[BIGRAM])
    assert torch.allclose(part.attn_out(2, x, ctx) - x, 3.0 * ctx.saved[BIGRAM])
    hooks = {(h, i) for h in ("before_layer", "attn_out") for i in range(3) if part.attaches(h, i)}
    assert hooks == {("before_layer", 0), ("attn_out", 1), ("attn_out", 2)} and part.order < 20
    later = BigramHash(BigramConfig(inject="attention_output", layers=(1, 2)), m)
    assert {(h, i) for h in ("before_layer", "attn_out") for i in range(3) if later.attaches(h, i)} == \
        {("before_layer", 1), ("attn_out", 2)}
    plain = BigramHash(BigramConfig(), m)
    assert plain.order > 20 and not hasattr(plain, "signs")
    assert {(h, i) for h in ("before_layer", "attn_out") for i in range(3) if plain.attaches(h, i)} == \
        {("before_layer", i) for i in range(3)}


def test_bigram_in_m_starts_as_without_it_and_routes_its_parameters():
    base, spec = spec_of(M), spec_of(with_added("bigram_hash_embed"))
    idx = torch.randint(0, 257, (2, spec.train.seq_len))
    a, b = tiny_model(base), tiny_model(spec)
    assert torch.equal(a(idx, idx.roll(-1, 1)), b(idx, idx.roll(-1, 1)))   # zero table
    _, group = groups_of(spec)
    assert group["parts.bigram.table"] == "bigram" and group["parts.bigram.lambdas"] == "scalar"
    g = spec.optim["bigram"]
    assert (g.lr, g.args["betas"], g.args["eps"]) == (0.6, (0.75, 0.95), 1e-10)
    full, _ = groups_of(spec_of(with_added("bigram_hash_embed"), scale=None))
    assert tuple(full.parts["bigram"].table.shape) == (5 * 50304, 768)
    signed = {"size": 15.0, "width": 0.25, "signs": 8192, "inject": "attention_output", "lambda_init": 0.05,
              "lambda_lr": 0.008}
    s83 = spec_of(with_added("bigram_hash_embed", options={"bigram_hash_embed": signed}), scale=None)
    model, group = groups_of(s83)
    assert tuple(model.parts["bigram"].table.shape) == (15 * 50304, 192)
    assert tuple(model.parts["bigram"].signs.shape) == (8192, 192)
    assert group["parts.bigram.lambdas"] == "bigram_lambda"
    lam = s83.optim["bigram_lambda"]
    assert (lam.lr, lam.args["betas"], lam.args["weight_decay"]) == (0.008, (0.9, 0.95), 0.0)


# --- inits ---------------------------------------------------------------------------------------

def init_spec(*names, layout=None):
    spec = spec_of(with_added(*names))
    spec = spec.set("model.d_model", 256).set("model.mlp_hidden", 1024).set("model.n_head", 256 // spec.model.head_dim)
    return spec.set("model.qkv_layout", layout) if layout else spec


def bound(gain, fan_in):
    return math.sqrt(3) * gain / math.sqrt(fan_in)


def within(w, b):
    return w.abs().max() <= b and w.abs().max() > 0.95 * b


def test_smaller_linear_init_and_larger_qkv_init():
    blk = tiny_model(init_spec("smaller_linear_init")).blocks[0]
    assert within(blk.mlp.up.weight, bound(0.5, 256)) and within(blk.attn.qkv_w, bound(0.5, 256))
    assert blk.attn.out.weight.abs().max() == 0 and blk.mlp.down.weight.abs().max() == 0
    blk = tiny_model(init_spec("larger_qkv_init")).blocks[0]
    assert within(blk.attn.qkv_w, bound(1.0, 256)) and blk.attn.out.weight.abs().max() == 0


def test_nonzero_attn_out_init():
    blk = tiny_model(init_spec("nonzero_attn_out_init")).blocks[0]
    inner = blk.attn.n_head * blk.attn.head_dim
    assert within(blk.attn.out.weight, bound(0.5, inner)) and within(blk.attn.qkv_w, bound(0.5, 256))
    assert within(blk.mlp.up.weight, bound(0.5, 256)) and blk.mlp.down.weight.abs().max() == 0


@pytest.mark.parametrize("layout", ["stacked", "linear"])
def test_mimetic_value_output_init(layout):
    model = tiny_model(init_spec("mimetic_value_output_init", layout=layout))
    attn = model.blocks[0].attn
    w = (attn.qkv_w if layout == "stacked" else attn.qkv.weight).view(3, -1, 256)
    eye = torch.eye(256)
    r = math.sqrt(0.05)
    assert within(w[0], bound(1.0, 256)) and within(w[1], bound(1.0, 256))
    assert abs((w[2] - r * eye).std().item() - 0.01) < 1e-3 and abs((w[2] - r * eye).mean().item()) < 1e-3
    o = attn.out.weight
    assert abs((o + r * eye).std().item() - 0.01) < 1e-3
    assert (o @ w[2]).diagonal().mean().item() == pytest.approx(-0.05, abs=3e-3)   # W_O·W_V ≈ −β·I


# --- logits and the re-tied head ------------------------------------------------------------------

def test_asymmetric_logit_rescale():
    spec = spec_of(with_added("asymmetric_logit_rescale"))
    assert spec.model.logits.name == "asymmetric_softcap" and spec.model.logits.args["width_scaled"] is True
    f = build(LOGITS, spec.model.logits, spec.model)
    d = spec.model.d_model
    z = torch.tensor([-400.0, -5 * math.sqrt(d), 0.0, 3.0, 1e4], dtype=torch.float64)
    expected = 23 * torch.sigmoid((z / math.sqrt(d) + 5) / 7.5)
    assert torch.allclose(f(z), expected) and f(torch.zeros(1)).item() == pytest.approx(15.2, abs=0.01)
    assert f(z)[1].item() == pytest.approx(11.5)
    a = spec_of(with_added("asymmetric_logit_rescale", recipe=load_recipe(RECIPES / "adamw_baseline.toml")))
    assert a.model.logits.args["width_scaled"] is False
    g = build(LOGITS, a.model.logits, a.model)
    assert torch.allclose(g(z), 23 * torch.sigmoid((z + 5) / 7.5))


def test_retied_head():
    spec = spec_of(with_added("retie_embed_lm_head"))
    model = tiny_model(spec)
    assert model.head.weight is model.embed.weight and model.embed.weight.shape == (264, spec.model.d_model)
    assert model.embed.weight.std().item() == pytest.approx(0.005 * math.sqrt(spec.model.d_model), rel=0.1)
    _, group = groups_of(spec)
    assert group["embed.weight"] == "head" and spec.optim["head"].lr == 0.22
    full, _ = groups_of(spec_of(with_added("retie_embed_lm_head"), scale=None))
    assert sum(p.numel() for p in full.parameters()) == 162_165_504 - 50257 * 768
    plain = spec_of(with_added("untied_head", "retie_embed_lm_head", recipe=M.prefixes()[0]))
    assert tiny_model(plain).embed.weight.std().item() == pytest.approx(0.005, rel=0.1)   # no width-scaled logits


# --- retunes -------------------------------------------------------------------------------------

def test_learning_rate_retunes():
    s = spec_of(with_added("double_lr"), scale=None)
    assert [s.optim[g].lr for g in ("hidden", "embed", "head", "scalar")] == [0.04, 0.6, 0.22, 0.04]
    s = spec_of(with_added("higher_muon_lr"), scale=None)
    assert s.optim["hidden"].lr == 0.06
    s = spec_of(with_added("lower_adam_beta1", options={"lower_adam_beta1": {"beta1": 0.7}}), scale=None)
    assert {g.args["betas"] for g in s.optim.values() if g.optimizer == "adam"} == {(0.7, 0.95)}
    s = spec_of(with_added("bigram_hash_embed", "lower_adam_beta1"), scale=None)
    assert s.optim["bigram"].args["betas"] == (0.65, 0.95)


def test_cooldown_floor_and_extension():
    s = spec_of(with_added("longer_cooldown", "higher_lr_floor", "extension_steps"), scale=None)
    lr = s.schedule.lr
    assert lr.name == "stable_cooldown" and (lr.args["cooldown_frac"], lr.args["floor"]) == (0.55, 0.15)
    assert s.train.extension_steps == 40
    f = LR_SCHEDULES.get(lr.name)(LR_SCHEDULES.config(lr.name, lr.args), 1000)
    assert f(449) == 1.0 and f(500) == pytest.approx(0.15 + 0.85 * (1 - 500 / 1000) / 0.55)
    assert all(f(s) == pytest.approx(0.15) for s in (1000, 1020, 1039))   # the extension stays at the floor
    assert spec_of(with_added("extension_steps")).train.extension_steps == 2   # --scale tiny: 40 · 120/2500


def test_momentum_cooldown():
    s = spec_of(with_added("momentum_cooldown"), scale=None)
    c = s.schedule.momentum
    assert c.name == "warmup_cooldown" and c.args == {"start": 0.85, "end": 0.95, "steps": 300, "cooldown": 50}
    m = MOMENTUM_SCHEDULES.get(c.name)(MOMENTUM_SCHEDULES.config(c.name, c.args), 2500)
    warm = MOMENTUM_SCHEDULES.get("linear_warmup")(MOMENTUM_SCHEDULES.config("linear_warmup", {}), 2500)
    assert all(m(t) == warm(t) for t in range(0, 2451, 10))
    assert m(2450) == 0.95 and m(2475) == pytest.approx(0.90) and m(2499) == pytest.approx(0.852)


def test_smaller_batch():
    s = spec_of(with_added("smaller_batch"), scale=None)
    assert (s.train.tokens_per_step, s.train.seq_len, s.train.device_batch) == (262144, 32768, 1)
    assert (s.eval.seq_len, s.eval.device_batch) == (65536, 1)


def test_everything_together_is_one_model():
    names = ("paired_head_attention", "partial_key_offset", "learnable_xsa", "bigram_hash_embed",
             "asymmetric_logit_rescale", "nonzero_attn_out_init")
    opts = {"rope": None, "bigram_hash_embed": {"inject": "attention_output", "signs": 64, "width": 0.25}}
    recipe = with_added(*names, options=opts)
    spec = spec_of(recipe).set("model.positions.pairing", "interleaved").set("model.positions.precision", "bfloat16")
    model = tiny_model(spec)
    idx = torch.randint(0, 257, (2, spec.train.seq_len))
    idx[:, ::37] = 256
    loss = model(idx, idx.roll(-1, 1))
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.parameters())
