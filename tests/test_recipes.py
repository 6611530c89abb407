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
