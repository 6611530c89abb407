"""Every recipe in recipes/ resolves, and every `remix ablate … --add` line of the README's history section does."""

from __future__ import annotations

import re
import shlex

import pytest

from remix.recipe import load_recipe
from remix.runner import RunOptions, resolve_spec

from conftest import RECIPES, ROOT


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.toml")), ids=lambda p: p.stem)
def test_every_recipe_resolves_at_full_size(path):
    resolve_spec(load_recipe(path), RunOptions(device="cpu"))


def _readme_ablate_lines() -> list[str]:
    section = (ROOT / "README.md").read_text().split("## The history as recipes", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^remix ablate .*$", section, re.M)


def test_the_readme_lists_the_next_baselines_for_a_and_m():
    lines = _readme_ablate_lines()
    assert len(lines) == 8
    assert sum("muon_baseline" in line for line in lines) == sum("adamw_baseline" in line for line in lines) == 4


@pytest.mark.parametrize("line", _readme_ablate_lines())
def test_readme_add_lines_resolve(line):
    words = shlex.split(line)[2:]
    recipe = load_recipe(ROOT / words[0])
    for flag, name in zip(words[1::2], words[2::2]):
        assert flag == "--add"
        recipe = recipe.add(name)
    spec = resolve_spec(recipe, RunOptions(device="cpu"))[0]
    assert "value_embeds" in spec.model.parts


@pytest.mark.parametrize("name", ["speedrun_history", "record_21"])
def test_every_prefix_of_the_history_resolves(name):
    """`remix run … --prefixes` trains each prefix: every one must be a valid recipe."""
    for prefix in load_recipe(RECIPES / f"{name}.toml").prefixes():
        resolve_spec(prefix, RunOptions(device="cpu"))


# --- A and M close with same-math kernels: what --add does around them ------------------------------

def test_a_and_m_close_with_their_kernels_and_an_addition_goes_before_them():
    for name in ("muon_baseline", "adamw_baseline"):
        r = load_recipe(RECIPES / f"{name}.toml")
        assert r.names[-2:] == ["block_mask_from_bounds", "fused_softcap_ce"]
        plus = r.add("value_embeds")     # changes the math: the kernels still apply after it
        assert plus.names[-3:] == ["value_embeds", "block_mask_from_bounds", "fused_softcap_ce"]
        assert r.add("async_loader").names[-1] == "async_loader"   # same math: last
        assert r.add("value_embeds", len(r.names)).names[-1] == "value_embeds"   # NAME@POSITION as given


def test_a_loss_the_fused_kernels_do_not_compute_is_refused_and_plus_drops_them():
    from remix.recipe import RecipeError
    m = load_recipe(RECIPES / "muon_baseline.toml")
    for loss in ("bf16_ce", "multi_token_prediction", "prefix_token_loss"):
        with pytest.raises(RecipeError, match=f"'fused_softcap_ce' conflicts with '{loss}': keep one of them "
                                              r"\('fused_softcap_ce' keeps the math: .*`--drop fused_softcap_ce`\)"):
            m.add(loss)
        with pytest.raises(RecipeError, match=f"^--add {loss}: muon_baseline .* plus {loss}: "):
            m.add(loss)   # the flag made the clash, not a line of the recipe's file
        plus = m.plus(loss)
        assert "fused_softcap_ce" not in plus.names and loss in plus.names
        assert plus.names[-1] != loss and plus.names[-1] == "block_mask_from_bounds"
    assert m.plus("ce_sum").resolve().spec.model.loss.args["reduction"] == "sum"   # a sum it computes: kept
    assert m.plus("bigram_hash_embed").names[-3] == "bigram_hash_embed"


def test_the_fused_loss_refuses_a_loss_it_does_not_compute_even_without_a_declared_conflict():
    from ingredients.fused_softcap_ce import INGREDIENT
    from remix.spec import SpecError
    spec = load_recipe(RECIPES / "muon_baseline.toml").drop("fused_softcap_ce").resolve().spec
    with pytest.raises(SpecError, match="loss here is 'cross_entropy' with {'precision': 'bfloat16'}"):
        INGREDIENT.apply(spec.set("model.loss.precision", "bfloat16"))
    assert INGREDIENT.apply(spec.set("model.loss.reduction", "sum")).model.loss.args == {"reduction": "sum"}


def test_plus_names_every_drop_and_refuses_what_it_cannot_add():
    from remix.recipe import RecipeError
    m = load_recipe(RECIPES / "muon_baseline.toml")
    assert m.drop("fused_softcap_ce").drop("block_mask_from_bounds").variant["dropped"] == [
        "fused_softcap_ce", "block_mask_from_bounds"]
    with pytest.raises(RecipeError, match="unknown ingredient 'value_embed'.*value_embeds"):
        m.plus("value_embed")
    with pytest.raises(RecipeError, match="'rope' is already in muon_baseline"):
        m.plus("rope")
    assert m.without_kernels().names == m.names[:-2]
    assert m.without_kernels().without_kernels().names == m.names[:-2]
