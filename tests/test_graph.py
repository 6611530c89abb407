"""One compiled graph: every recipe, and M with each ingredient added, traces to a single graph with no
break (what `remix run` compiles with fullgraph=True on a GPU). Traced by dynamo on the CPU, tiny scale."""

import pytest
import torch

from remix.ingredient import catalogue
from remix.model import build_model
from remix.recipe import load_recipe
from remix.runner import RunOptions, resolve_spec

from conftest import RECIPES


def graphs(spec):
    spec = spec.set("model.param_dtype", "float32")
    model = build_model(spec.model, bos_id=256)
    idx = torch.randint(0, 257, (2, spec.train.seq_len))
    idx[:, ::37] = 256
    torch._dynamo.reset()
    return torch._dynamo.explain(model)(idx, idx.roll(-1, 1))


def tiny(recipe):
    return resolve_spec(recipe, RunOptions(device="cpu", scale="tiny"))[0]


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.toml")), ids=lambda p: p.stem)
def test_every_recipe_is_one_graph(path):
    out = graphs(tiny(load_recipe(path)))
    assert (out.graph_count, out.graph_break_count) == (1, 0), out.break_reasons


def _added_to_m():
    m = load_recipe(RECIPES / "muon_baseline.toml")
    return [name for name in sorted(catalogue()) if name not in m.names]


@pytest.mark.parametrize("name", _added_to_m())
def test_m_plus_each_ingredient_is_one_graph(name):
    out = graphs(tiny(load_recipe(RECIPES / "muon_baseline.toml").plus(name)))
    assert (out.graph_count, out.graph_break_count) == (1, 0), out.break_reasons
