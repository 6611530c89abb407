"""recipes/record_21.toml against the facts of record #21's script (the remixed train_gpt.py).

Every number here is from /work/notes/record21.md (the line-by-line diff of train_gpt_M.py against
train_gpt.py), cited by section. The model is built at full size on the meta device: shapes, dtypes,
roles and the optimizer partition without memory or time; the heads' eval path is checked on a tiny model.
"""

from __future__ import annotations

import math

import pytest
import torch

from remix.ingredient import catalogue
from remix.model import build_model
from remix.optim import partition
from remix.recipe import load_recipe
from remix.runner import RunOptions, resolve_spec
from remix.stages import StepPlan

from conftest import RECIPES, without_kernels

catalogue()   # registers every component the recipe names

BOS = 50256


@pytest.fixture(scope="module")
def spec():
    return resolve_spec(load_recipe(RECIPES / "record_21.toml"), RunOptions(device="cpu"))[0]


@pytest.fixture(scope="module")
def model(spec):
    return build_model(spec.model, bos_id=BOS, device="meta")


@pytest.fixture(scope="module")
def groups(spec, model):
    return partition(model.param_roles(), spec.optim)


def test_m_is_a_prefix():
    """M's math, unchanged and in M's order, comes first (so --prefixes prices each addition on it); M's
    closing kernels are not all in record 21 (block_mask_from_bounds is, at #15/#16; the fused loss is not)."""
    m = without_kernels()
    r21 = load_recipe(RECIPES / "record_21.toml")
    assert r21.names[:len(m.names)] == m.names
    assert all(not options for _, options in r21.ingredients[:len(m.names)])


def test_shapes_and_parameter_count(spec, model):
    m = spec.model
    assert (m.n_layer, m.d_model, m.n_head, m.head_dim, m.mlp_hidden) == (12, 768, 6, 128, 3072)   # §2
    params = dict(model.named_parameters())
    assert sum(p.numel() for p in params.values()) == 275_598_388          # §3 "Total parameters"
    shapes = sorted(tuple(p.shape) for p in params.values())
    assert shapes.count((50257, 768)) == 4                                  # embed + 3 value tables (§2.1)
    assert shapes.count((50304, 768)) == 1                                  # the padded untied head (§3)
    assert shapes.count((3, 768, 768)) == 11                                # qkv, no attention at 7 (§2.4)
    assert shapes.count((768, 768)) == 11 and shapes.count((3072, 768)) == 12 \
        and shapes.count((768, 3072)) == 12                                 # §3 Muon members


def test_optimizer_groups(spec, model, groups):
    params = dict(model.named_parameters())
    count = lambda g: sum(params[n].numel() for n in groups[g])   # noqa: E731
    hidden = groups["hidden"]
    assert spec.optim["hidden"].optimizer == "muon"
    assert len(hidden) == 46 and count("hidden") == 82_575_360             # §3: 46 matrices
    assert count("scalar") == 52                                            # §3: 6 skip + 12·2 x0 + 11·2 λ_v
    # the record's 52 0-dim/(2,) scalars, held here as one tensor per kind (same numbers, same Adam)
    assert {n: tuple(params[n].shape) for n in groups["scalar"]} == {
        "parts.x0_mixing.residual": (12,), "parts.x0_mixing.x0": (12,),       # §2.2: λ_x per block
        "parts.unet_skips.lambdas": (6,), "parts.value_embeds.lambdas": (11, 2)}   # §2.3, §2.1: λ_v
    assert len(groups["embed"]) == 4 and count("embed") == 4 * 38_597_376   # embed + the 3 value tables (§3)
    assert sum(1 for n in groups["embed"] if "value" in n) == 3
    assert len(groups["head"]) == 1 and count("head") == 38_633_472
    lr = {g: spec.optim[g].lr for g in ("hidden", "head", "embed", "scalar")}
    assert lr == {"hidden": 0.05, "head": 0.22, "embed": 0.6, "scalar": 0.04}   # §3
    for g in ("head", "embed", "scalar"):
        o = spec.optim[g]
        assert o.optimizer == "adam" and o.every == 1
        assert (tuple(o.args["betas"]), o.args["eps"], o.args["weight_decay"]) == ((0.8, 0.95), 1e-10, 0.0)
    muon = spec.optim["hidden"].args
    assert (muon["momentum"], muon["nesterov"], muon["ns_steps"]) == (0.95, True, 5)


def test_dtypes_fp32_masters_bf16_embeddings(spec, model):
    """§2.9: only the nn.Embedding tables are bf16; linears, head, scalars and the RoPE tables fp32."""
    roles = model.param_roles()
    for name, p in model.named_parameters():
        want = torch.bfloat16 if roles[name].startswith("embed") else torch.float32
        assert p.dtype == want, (name, roles[name], p.dtype)
    buffers = [b for b in model.buffers() if b.is_floating_point()]
    assert buffers and all(b.dtype == torch.float32 for b in buffers)
    assert spec.train.autocast == "none"
    assert spec.model.max_len == 262_144                                    # §1 row 18: RoPE table length


def test_inits_and_layers(spec):
    m = spec.model
    assert m.layers.no_attention == (7,)                                    # §2.4
    assert m.layers.short_window == (1, 2, 3, 5, 6, 8, 9, 10)               # §2.6: long at 0, 4, (7), 11
    ve = m.parts["value_embeds"]
    assert (ve.args["layers"], ve.args["tables"]) == ((0, 1, 2, 9, 10, 11), (0, 1, 2, 0, 1, 2))   # §2.1
    assert ve.args["init_std"] == 1.0 and ve.args["padded"] is False and ve.args["mix"] == "lambdas"
    assert m.init.mlp_up.name == "uniform" and m.init.mlp_up.args["gain"] == 0.5   # §2.10
    assert math.isclose(math.sqrt(3) * 0.5 / math.sqrt(768), 0.03125)       # U(±0.03125) at fan-in 768
    assert m.init.qkv.args["gain"] == 0.5
    assert {getattr(m.init, k).name for k in ("attn_out", "mlp_down", "head")} == {"zero"}   # §1 row 17
    assert (m.attn_scale, m.qk_norm) == (0.12, "before_rope")
    assert (m.logits.args["cap"], m.logits.args["temperature"]) == (30.0, 7.5)


@pytest.mark.parametrize("step, long, short", [
    # §2.6's table of transition steps (W_long blocks of 128 tokens; W_short = ⌊W_long/2⌋, 0 acting as 1)
    (0, 1, 1), (131, 1, 1), (132, 2, 1), (262, 2, 1), (263, 3, 1), (394, 4, 2), (1048, 8, 4),
    (1049, 9, 4), (1180, 9, 4), (1181, 10, 5), (1704, 13, 6), (1705, 14, 7), (1769, 14, 7), (1770, 14, 7),
])
def test_window_schedule(spec, step, long, short):
    dynamic, static = StepPlan(spec).state_values(step)
    assert {**dynamic, **static} == {"window": 128 * long, "window_short": 128 * short}
    assert spec.model.attention.name == "document" and spec.model.attention.args["block"] == 128   # §2.5


def test_training_protocol(spec):
    t = spec.train
    assert (t.steps, t.seq_len, t.tokens_per_step, t.device_batch) == (1770, 49_152, 393_216, 1)   # §2.11
    assert t.steps * t.tokens_per_step == 695_992_320                       # §1 row 10
    assert t.grad_clip is None and t.untimed_steps == 10                    # §4
    lr = spec.schedule.lr
    assert (lr.args["warmup"], lr.args["cooldown_frac"], lr.args["floor"]) == (0, 0.4, 0.1)   # §3 LR
    mom = spec.schedule.momentum
    assert (mom.args["start"], mom.args["end"], mom.args["steps"]) == (0.85, 0.95, 300)


def test_eval_protocol(spec):
    e = spec.eval
    assert (e.every, e.tokens, e.seq_len) == (125, 10_485_760, 262_144)      # §2.11
    rows = e.device_batch or spec.train.device_batch
    assert rows == 1 and e.tokens // (8 * rows * e.seq_len) == 5            # 5 val steps on 8 GPUs
    assert spec.model.loss.args["reduction"] == "sum"                       # §2.8: training sum, eval mean
    head = spec.model.head
    assert head.name == "fp8" and head.args["scales"] == "21_3014"          # §2.7


def test_fp8_head_scales_and_eval_paths():
    """§2.7: divisors √768/448, 24/448, 1/448; the head is plain bf16 in eval, and CE is a mean there."""
    from ingredients.fp8_head import FP8HeadConfig
    x_s, w_s, grad_s = FP8HeadConfig(scales="21_3014").divisors(768)
    assert (round(x_s, 7), round(w_s, 7), round(grad_s, 8)) == (0.0618590, 0.0535714, 0.00223214)

    from remix.spec import C
    small = load_recipe(RECIPES / "record_21.toml")
    tiny = resolve_spec(small, RunOptions(device="cpu", scale="tiny"))[0]
    assert tiny.model.head == C("fp8", **spec_head_args()) and tiny.model.loss.args["reduction"] == "sum"
    torch.manual_seed(0)
    model = build_model(tiny.model, bos_id=BOS)
    idx = torch.randint(0, tiny.model.vocab_size, (1, 64))
    model.eval()
    with torch.no_grad():
        mean = model(idx, idx)
    x = torch.randn(4, tiny.model.d_model).bfloat16()
    assert torch.equal(model.head(x), torch.nn.functional.linear(x, model.head.weight.bfloat16()))
    assert mean.ndim == 0 and 0 < mean.item() < 2 * math.log(tiny.model.vocab_size)   # a mean, not a sum
    p = dict(model.named_parameters())
    inits = {"parts.x0_mixing.residual": 1.0, "parts.x0_mixing.x0": 0.0,    # §2.2: (1, 0)
             "parts.unet_skips.lambdas": 1.0, "parts.value_embeds.lambdas": 0.5}   # §2.3: 1; §2.1: (0.5, 0.5)
    for name, value in inits.items():
        assert torch.all(p[name] == value), name


def spec_head_args():
    return dict(scales="21_3014", x_s=None, w_s=None, grad_s=None, transposed=False)


def record21_visible(docs: torch.Tensor, block: int, W: int) -> torch.Tensor:
    """Record 21's hand-built block mask, from its description (notes/record21.md §2.5): per query block,
    the most recent min(F, W−1) 'full' kv blocks and min(P, max(W−F, 1)) 'partial' ones, the partial ones
    masked causal ∧ same document token by token."""
    T = docs.numel()
    n = T // block
    low, high = docs[::block], docs[block - 1::block]
    seen = torch.zeros(T, T, dtype=torch.bool)
    for i in range(n):
        full = [j for j in range(i - 1, -1, -1) if low[i] == high[j] == high[i] == low[j]]
        partial = [j for j in range(i, -1, -1) if low[i] <= high[j] and high[i] >= low[j] and j not in full]
        kept_full = full[:max(min(len(full), W - 1), 0)]
        kept_partial = partial[:min(len(partial), max(W - len(full), 1))]
        q = slice(i * block, (i + 1) * block)
        for j in kept_full:
            seen[q, j * block:(j + 1) * block] = True
        for j in kept_partial:
            k = slice(j * block, (j + 1) * block)
            qi, ki = torch.arange(T)[q], torch.arange(T)[k]
            seen[q, k] = (qi[:, None] >= ki[None, :]) & (docs[q][:, None] == docs[k][None, :])
    return seen


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_block_windows_select_what_the_hand_built_mask_selects(seed):
    """document_mask's block mode (blocks i−W+1 … i, causal ∧ same document per token) equals record 21's
    block lists with their truncation rule, W = 0 (short layers at W_long = 1) acting as 1 (§2.5)."""
    from ingredients.document_mask import DocumentCore
    block, n, bos = 8, 12, 7
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, 7, (1, block * n), generator=g)
    idx[0, torch.randint(0, block * n, (6,), generator=g)] = bos    # documents of every length, some in one block
    idx[0, 3 * block:7 * block] = 1                                 # and one spanning several blocks
    docs = (idx[0] == bos).cumsum(0)
    counts = []
    for W in range(0, 6):
        core = DocumentCore({"long": max(W, 1) * block}, bos, block)
        mask = core.prepare(idx, {})["long"][0, 0]
        assert torch.equal(mask, record21_visible(docs, block, W)), W
        counts.append(int(mask.sum()))
    assert counts[0] == counts[1] < counts[2] < counts[5]              # the windows do differ
