"""The spec: dotted paths, round trips, a hash that is stable across processes; registries; purity."""

import subprocess
import sys

import pytest

from remix.ingredient import catalogue
from remix.recipe import load_recipe, with_requirements
from remix.registry import Registry, RegistryError
from remix.bases import base_spec
from remix.spec import C, Spec, SpecError

from conftest import RECIPES, ROOT


def test_get_and_set_by_path():
    s = base_spec("llmc_gpt2")
    assert s.get("model.n_layer") == 12
    t = s.set("model.n_layer", 4).set("optim.decay.lr", 1).set("model.positions", {"name": "none"})
    assert (t.model.n_layer, t.optim["decay"].lr, t.model.positions) == (4, 1.0, C("none"))
    assert s.model.n_layer == 12 and s.optim["decay"].lr == 6e-4   # the original is untouched


def test_set_checks_types_and_paths():
    with pytest.raises(SpecError, match="must be int"):
        Spec().set("train.steps", 1.5)
    with pytest.raises(SpecError, match="did you mean 'steps'"):
        Spec().set("train.step", 1)
    with pytest.raises(SpecError, match="is a section"):
        Spec().set("model.init", 3)


def test_round_trip_through_plain_data():
    spec = load_recipe(RECIPES / "muon_baseline.toml").resolve().spec
    assert Spec.from_dict(spec.to_dict()) == spec


DIGEST = "from remix.recipe import load_recipe; print(load_recipe('recipes/muon_baseline.toml').resolve().spec.digest())"


def test_hash_is_stable_across_processes():
    digests = {subprocess.run([sys.executable, "-c", DIGEST], cwd=ROOT, capture_output=True, text=True,
                              check=True, env={"PYTHONHASHSEED": str(seed), "PATH": ""}).stdout.strip()
               for seed in (1, 2)}
    assert len(digests) == 1 and len(digests.pop()) == 16


def test_hash_changes_with_the_spec():
    spec = base_spec("llmc_gpt2")
    assert spec.digest() != spec.set("optim.decay.lr", 1e-3).digest()


def test_registry_lookup_and_duplicates():
    reg = Registry("widget")
    reg.register("round")(lambda: 1)
    assert reg.get("round")() == 1
    with pytest.raises(RegistryError, match="registered twice"):
        reg.register("round")(lambda: 2)
    with pytest.raises(RegistryError, match="did you mean 'round'"):
        reg.get("rund")


@pytest.mark.parametrize("name", sorted(catalogue()))
def test_apply_is_pure(name):
    """apply returns a changed copy and leaves its input exactly as it was."""
    base = load_recipe(RECIPES / "muon_baseline.toml").prefixes()[0]
    for needed in with_requirements(name)[:-1]:   # apply is defined on specs that meet its requirements
        base = base.add(needed)
    spec = base.resolve().spec
    before = spec.to_dict()
    ing = catalogue()[name]
    after = ing.apply(spec)
    assert spec.to_dict() == before
    assert isinstance(after, Spec)


def test_every_ingredient_has_a_card():
    for ing in catalogue().values():
        assert ing.card and ing.summary and ing.provenance, ing.name
