"""The engine as the catalogue needs it: roles declared by their modules and selected by prefix, the A
and M groups unchanged, identity that ignores unused ingredients, tiny scale that keeps the depth,
step-counted fields that declare themselves, clean errors for unknown names, lazy kernel imports."""

import subprocess
import sys

import pytest
import torch
from torch import nn

from remix import env
from remix.model import build_model
from remix.model.roles import RoleError, declare, owner, param_roles
from remix.optim import PartitionError, partition
from remix.recipe import load_recipe
from remix.runner import RunOptions, resolve_spec
from remix.spec import C, OptimGroup, SpecError
from remix.validate import validate_spec

from conftest import RECIPES


def spec_of(name, **kw):
    return resolve_spec(load_recipe(RECIPES / f"{name}.toml"), RunOptions(device="cpu", **kw))[0]


def groups_of(spec):
    model = build_model(spec.model, bos_id=0, device="meta")
    params = dict(model.named_parameters())
    return {g: sorted((n, tuple(params[n].shape)) for n in names)
            for g, names in partition(model.param_roles(), spec.optim).items()}


def test_roles_are_declared_by_their_modules():
    model = build_model(spec_of("muon_baseline").model, bos_id=0, device="meta")
    roles = model.param_roles()
    assert roles["embed.weight"] == "embed.token" and roles["head.weight"] == "head"
    assert {roles[f"blocks.3.{n}"] for n in ("attn.qkv_w", "attn.out.weight", "mlp.up.weight", "mlp.down.weight")} \
        == {"matrix.attn.qkv", "matrix.attn.out", "matrix.mlp.up", "matrix.mlp.down"}
    base = build_model(load_recipe(RECIPES / "muon_baseline.toml").prefixes()[0].resolve().spec.model, bos_id=0,
                       device="meta")
    assert base.param_roles()["positions.weight"] == "embed.position"
    assert base.param_roles()["blocks.0.attn.qkv.bias"] == "vector.bias"
    assert base.param_roles()["blocks.0.attn_norm.weight"] == "vector.norm"


def test_an_undeclared_parameter_is_an_error():
    class Bare(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(2))
    with pytest.raises(RoleError, match="'w' .*declares no role"):
        param_roles(Bare())
    assert param_roles(declare(Bare(), w="scalar.x")) == {"w": "scalar.x"}


def test_the_most_specific_prefix_wins():
    prefixes = {"matrix": "hidden", "matrix.mlp": "mlp", "matrix.mlp.up": "up"}
    assert owner("matrix.attn.qkv", prefixes) == "hidden" and owner("matrix.mlp.down", prefixes) == "mlp"
    assert owner("matrix.mlp.up", prefixes) == "up" and owner("matrixx", prefixes) is None
    with pytest.raises(PartitionError, match="in two optimizer groups"):
        partition({"a": "matrix"}, {"x": OptimGroup("adam", ("matrix",), 1.0), "y": OptimGroup("adam", ("matrix",), 1.0)})


def test_a_and_m_resolve_to_the_same_groups_as_before():
    m = groups_of(spec_of("muon_baseline"))
    assert set(m) == {"hidden", "head", "embed", "scalar"}
    assert m["head"] == [("head.weight", (50304, 768))] and m["embed"] == [("embed.weight", (50257, 768))]
    assert m["scalar"] == [] and len(m["hidden"]) == 48
    assert {shape for _, shape in m["hidden"]} == {(768, 768), (768, 3072), (3, 768, 768), (3072, 768)}
    a = groups_of(spec_of("adamw_baseline"))
    assert set(a) == {"decay", "no_decay"} and a["no_decay"] == [] and len(a["decay"]) == 49
    assert ("embed.weight", (50304, 768)) in a["decay"]


def test_a_group_for_a_sub_role_is_an_override(write_recipe):
    text = (RECIPES / "muon_baseline.toml").read_text().replace(
        "[overrides]", '[overrides]\noptim.hidden_mlp = {optimizer = "muon", roles = ["matrix.mlp"], lr = 0.06, '
                       'momentum = 0.95, nesterov = true, ns_steps = 5}')
    spec = resolve_spec(load_recipe(write_recipe(text)), RunOptions(device="cpu"))[0]
    g = groups_of(spec)
    assert len(g["hidden_mlp"]) == 24 and len(g["hidden"]) == 24
    assert all(".mlp." in n for n, _ in g["hidden_mlp"]) and spec.optim["hidden_mlp"].lr == 0.06


def test_identity_ignores_ingredients_the_run_does_not_use(monkeypatch, tmp_path):
    a = spec_of("adamw_baseline")
    files = {p.name for p in env._component_files(a)}
    assert "rope.py" in files and "muon.py" not in files and "x0_mixing.py" not in files
    assert "muon_momentum_warmup.py" in {p.name for p in env._component_files(spec_of("muon_baseline"))}
    before = env.code_digest(a)
    new = env.ROOT / "ingredients" / "zz_probe_not_a_real_ingredient.py"   # a new ingredient file appears
    new.write_text('"""probe"""\n')
    try:
        assert env.code_digest(a) == before
    finally:
        new.unlink()
    rope = next(p for p in env._component_files(a) if p.name == "rope.py")
    real = env._read
    monkeypatch.setattr(env, "_read", lambda p: b"changed" if p == rope else real(p))
    assert env.code_digest(a) != before   # a module the run uses changes its identity


@pytest.mark.parametrize("name", ["muon_baseline", "adamw_baseline"])
def test_tiny_keeps_the_depth_and_scales_counted_fields(name):
    full, tiny = spec_of(name), spec_of(name, scale="tiny")
    assert tiny.model.n_layer == full.model.n_layer == 12
    assert tiny.model.attention.args["window"] == 64   # 1,024 tokens at a sixteenth
    if name == "adamw_baseline":   # warm-up 256 of 4,375 steps -> of 120
        assert tiny.schedule.lr.args["warmup"] == round(256 * 120 / 4375)
    else:                          # momentum warm-up 300 of 2,500 steps -> of 120
        assert tiny.schedule.momentum.args["steps"] == round(300 * 120 / 2500)


def test_unknown_component_names_are_clean_errors():
    spec = spec_of("smoke")
    with pytest.raises(SpecError, match="model.activation: unknown activation 'relu3'"):
        validate_spec(spec.set("model.activation", C("relu3")))
    with pytest.raises(SpecError, match="model.parts.x: unknown part 'nope'"):
        validate_spec(spec.set("model.parts.x", C("nope")))


def test_the_catalogue_imports_no_kernel_package():
    code = ("import sys; from remix.ingredient import catalogue; catalogue(); "
            "print(sorted(m for m in ('triton', 'flash_attn', 'liger_kernel', 'torchao') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_quiet_overrides_are_named():
    from remix.overrides import quiet_overrides
    assert quiet_overrides(load_recipe(RECIPES / "muon_baseline.toml")) == []
    recipe = load_recipe(RECIPES / "adamw_baseline.toml").add("untied_head", position=0)
    found = [str(o) for o in quiet_overrides(recipe)]
    assert any("model.init.embed: set by untied_head, changed again by default_linear_init" in f for f in found)
    # two ingredients tuning different arguments of one component do not override each other
    assert quiet_overrides(load_recipe(RECIPES / "record_21.toml")) == []
