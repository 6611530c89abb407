"""The model: exact shapes and counts of the baselines, each ingredient on and off, the mask, schedules."""

import math

import pytest
import torch

from remix.ingredient import catalogue
from remix.model import build_model
from remix.recipe import load_recipe
from remix.runner import RunOptions, resolve_spec

from conftest import RECIPES


def spec_of(recipe, **kw):
    return resolve_spec(recipe, RunOptions(device="cpu", **kw))[0]


def shapes(spec):
    model = build_model(spec.model, bos_id=50256, device="meta")
    return model, {n: tuple(p.shape) for n, p in model.named_parameters()}


def test_muon_baseline_shapes_and_count():
    spec = spec_of(load_recipe(RECIPES / "muon_baseline.toml"))
    model, s = shapes(spec)
    assert sum(p.numel() for p in model.parameters()) == 162_165_504
    assert s["embed.weight"] == (50257, 768) and s["head.weight"] == (50304, 768)
    assert s["blocks.0.attn.qkv_w"] == (3, 768, 768) and s["blocks.0.attn.out.weight"] == (768, 768)
    assert s["blocks.11.mlp.up.weight"] == (3072, 768) and s["blocks.11.mlp.down.weight"] == (768, 3072)
    assert len(s) == 2 + 12 * 4   # no biases, no norm gains, no position table
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    roles = model.param_roles()
    assert sum(r.startswith("matrix.") for r in roles.values()) == 48
    assert (spec.model.n_head, spec.model.head_dim, spec.model.attn_scale) == (6, 128, 0.12)


def test_adamw_baseline_shapes_and_count():
    spec = spec_of(load_recipe(RECIPES / "adamw_baseline.toml"))
    model, s = shapes(spec)
    assert sum(p.numel() for p in model.parameters()) == 123_568_128
    assert s["embed.weight"] == (50304, 768) and "head.weight" not in s   # tied: one table
    assert model.head.weight is model.embed.weight


def test_base_is_gpt2_small():
    spec = spec_of(load_recipe(RECIPES / "muon_baseline.toml").prefixes()[0])
    model, s = shapes(spec)
    assert sum(p.numel() for p in model.parameters()) == 124_439_808
    assert s["positions.weight"] == (1024, 768)


def test_baseline_facts_in_the_spec():
    m = spec_of(load_recipe(RECIPES / "muon_baseline.toml"))
    a = spec_of(load_recipe(RECIPES / "adamw_baseline.toml"))
    assert m.optim["hidden"].optimizer == "muon" and m.optim["hidden"].lr == 0.05
    assert {k: (g.lr, g.args["betas"], g.args["eps"], g.args["weight_decay"]) for k, g in m.optim.items()
            if g.optimizer == "adam"} == {"head": (0.22, (0.8, 0.95), 1e-10, 0.0),
                                          "embed": (0.6, (0.8, 0.95), 1e-10, 0.0),
                                          "scalar": (0.04, (0.8, 0.95), 1e-10, 0.0)}
    assert (a.optim["decay"].lr, a.optim["decay"].args["betas"], a.optim["decay"].args["eps"],
            a.optim["decay"].args["weight_decay"]) == (0.0021, (0.9, 0.95), 1e-10, 0.1)
    for s, steps in ((m, 2500), (a, 4375)):
        assert (s.train.steps, s.train.tokens_per_step, s.train.seq_len, s.eval.every, s.eval.tokens) == \
            (steps, 524288, 65536, 125, 10485760)
        assert s.model.attention.args["window"] == 1024 and s.train.grad_clip is None
        assert s.model.positions.args["frequencies"] == "truncated"
        assert s.model.embed_norm and s.model.norm.name == "rms" and s.model.qk_norm == "before_rope"


def test_init_distributions():
    spec = spec_of(load_recipe(RECIPES / "muon_baseline.toml"), scale="tiny")
    spec = spec.set("model.d_model", 256).set("model.mlp_hidden", 1024).set("model.param_dtype", "float32")
    torch.manual_seed(0)
    model = build_model(spec.model, bos_id=256)
    block = model.blocks[0]
    bound = math.sqrt(3) * 0.5 / math.sqrt(256)
    assert block.attn.qkv_w.abs().max() <= bound and block.attn.qkv_w.abs().max() > 0.95 * bound
    assert block.attn.out.weight.abs().max() == 0 and block.mlp.down.weight.abs().max() == 0
    assert model.head.weight.abs().max() == 0
    assert block.mlp.up.weight.abs().max() <= 1 / 16 and block.mlp.up.weight.abs().max() > 0.95 / 16
    assert abs(model.embed.weight.std().item() - 1.0) < 0.05


def test_zero_head_gives_uniform_first_loss():
    """M's step-0 loss is ln(padded vocab): every soft-capped logit equals 15."""
    spec = spec_of(load_recipe(RECIPES / "muon_baseline.toml"), scale="tiny").set("model.param_dtype", "float32")
    model = build_model(spec.model, bos_id=256)
    idx = torch.randint(0, 257, (2, 64))
    rows = (257 + 7) // 8 * 8   # tiny scale pads to a multiple of 8
    assert model(idx, idx).item() == pytest.approx(math.log(rows), rel=1e-5)


def tiny_forward_backward(spec):
    spec = spec.set("model.param_dtype", "float32")
    torch.manual_seed(0)
    model = build_model(spec.model, bos_id=256)
    idx = torch.randint(0, 257, (2, spec.train.seq_len))
    idx[:, ::37] = 256
    loss = model(idx, idx.roll(-1, 1))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", sorted(catalogue()))
def test_each_ingredient_on_and_off(name):
    """On: the base plus what the ingredient needs, plus it. Off: M (or A) without it."""
    m = load_recipe(RECIPES / "muon_baseline.toml")
    a = load_recipe(RECIPES / "adamw_baseline.toml")
    recipe = m if name in m.names else a
    on = recipe.prefixes()[0].plus(name)
    tiny_forward_backward(spec_of(on, scale="tiny"))
    dependents = [n for n in recipe.names if name in catalogue()[n].requires]
    off = recipe.drop(name, *dependents) if name in recipe.names else recipe
    assert name not in off.names
    tiny_forward_backward(spec_of(off, scale="tiny"))


def test_dropping_a_required_ingredient_names_the_dependent():
    from remix.recipe import RecipeError
    with pytest.raises(RecipeError, match="'muon_momentum_warmup' requires it"):
        load_recipe(RECIPES / "muon_baseline.toml").drop("muon")


def test_dropping_rope_leaves_attention_position_free():
    spec = spec_of(load_recipe(RECIPES / "muon_baseline.toml").drop("rope"))
    assert spec.model.positions.name == "none"


def test_dropping_untied_head_reties():
    spec = spec_of(load_recipe(RECIPES / "muon_baseline.toml").drop("untied_head"))
    assert spec.model.tie_embeddings and shapes(spec)[1]["embed.weight"] == (50304, 768)
