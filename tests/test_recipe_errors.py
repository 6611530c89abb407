"""Every kind of bad recipe gets a RecipeError naming the file, the key and what was expected."""

import pytest

from remix.recipe import RecipeError, load_recipe
from remix.runner import RunOptions, plan_run

GOOD = '''
name = "t"
base = "llmc_gpt2"
ingredients = ["rmsnorm", "rope"]
'''


def error(path) -> str:
    with pytest.raises(RecipeError) as e:
        load_recipe(path)
    assert str(path) in str(e.value)
    return str(e.value)


def test_good_recipe_loads(write_recipe):
    r = load_recipe(write_recipe(GOOD))
    assert r.names == ["rmsnorm", "rope"] and r.base == "llmc_gpt2" and r.target == 3.28


def test_missing_file(tmp_path):
    assert "no such file" in error(tmp_path / "nope.toml")


def test_directory(tmp_path):
    assert "is a directory" in error(tmp_path)


def test_empty_file(write_recipe):
    assert "is empty" in error(write_recipe("  \n"))


def test_binary_file(tmp_path):
    p = tmp_path / "b.toml"
    p.write_bytes(b"name = \x00\x01\x02")
    assert "binary" in error(p)


def test_toml_syntax_error_has_line(write_recipe):
    msg = error(write_recipe(GOOD + "\nsteps = = 3\n"))
    assert "invalid TOML" in msg and ":6:" in msg


def test_unknown_key_suggests(write_recipe):
    msg = error(write_recipe(GOOD + 'descripton = "x"\n'))
    assert "descripton" in msg and "did you mean 'description'" in msg and ":5:" in msg


def test_wrong_type(write_recipe):
    msg = error(write_recipe(GOOD.replace('name = "t"', "name = 3")))
    assert "name" in msg and "expected str" in msg


def test_missing_required_key(write_recipe):
    assert "base: missing" in error(write_recipe('name = "t"\ningredients = []\n'))


def test_unknown_base(write_recipe):
    msg = error(write_recipe(GOOD.replace("llmc_gpt2", "llmc_gtp2")))
    assert "unknown base" in msg and "did you mean 'llmc_gpt2'" in msg


def test_unknown_ingredient_suggests(write_recipe):
    msg = error(write_recipe(GOOD.replace('"rope"', '"ropee"')))
    assert "unknown ingredient 'ropee'" in msg and "did you mean 'rope'" in msg and ":4:" in msg


def test_ingredient_twice(write_recipe):
    assert "listed twice" in error(write_recipe(GOOD.replace('"rope"]', '"rope", "rope"]')))


def test_requirement_not_met(write_recipe):
    msg = error(write_recipe(GOOD.replace('"rope"]', '"muon_momentum_warmup"]')))
    assert "requires 'muon'" in msg


def test_requirement_out_of_order(write_recipe):
    msg = error(write_recipe(GOOD.replace('"rope"]', '"muon_momentum_warmup", "muon"]')))
    assert "move 'muon' before it" in msg


def test_conflict(write_recipe, monkeypatch):
    from dataclasses import replace
    from remix import ingredient as ing
    cat = dict(ing.catalogue())
    cat["rope"] = replace(cat["rope"], conflicts=("rmsnorm",))
    monkeypatch.setattr(ing, "catalogue", lambda: cat)
    assert "'rope' conflicts with 'rmsnorm'" in error(write_recipe(GOOD))


def test_unknown_option(write_recipe):
    msg = error(write_recipe(GOOD + "[options.rope]\nfrequency = 'standard'\n"))
    assert "options.rope" in msg and "did you mean 'frequencies'" in msg


def test_option_wrong_type(write_recipe):
    assert "must be str" in error(write_recipe(GOOD + "[options.rope]\nfrequencies = 3\n"))


def test_options_for_absent_ingredient(write_recipe):
    assert "not in ingredients" in error(write_recipe(GOOD + "[options.muon]\nlr = 0.1\n"))


def test_override_unknown_path(write_recipe):
    msg = error(write_recipe(GOOD + "[overrides]\nmodel.n_layr = 3\n"))
    assert "overrides.model.n_layr" in msg and "did you mean 'n_layer'" in msg


def test_override_wrong_type(write_recipe):
    msg = error(write_recipe(GOOD + "[overrides]\ntrain.steps = 'many'\n"))
    assert "train.steps" in msg and "must be int" in msg


def test_negative_target(write_recipe):
    assert "positive val loss" in error(write_recipe(GOOD + "target = -1.0\n"))


def _plan_error(path) -> str:
    with pytest.raises(RecipeError) as e:
        plan_run(load_recipe(path), RunOptions(device="cpu"))
    return str(e.value)


def test_negative_steps(write_recipe):
    assert "train.steps must be > 0" in _plan_error(write_recipe(GOOD + "[overrides]\ntrain.steps = -5\n"))


def test_batch_does_not_divide(write_recipe):
    msg = _plan_error(write_recipe(GOOD + "[overrides]\ntrain.tokens_per_step = 1000\n"))
    assert "train.tokens_per_step" in msg and "does not divide" in msg


def test_rows_longer_than_position_table(write_recipe):
    msg = _plan_error(write_recipe(GOOD.replace('"rope"', '"no_bias"') + "[overrides]\ntrain.seq_len = 2048\n"
                                   "train.device_batch = 32\n"))
    assert "model.max_len" in msg


def test_component_argument_checked(write_recipe):
    msg = _plan_error(write_recipe(GOOD + "[overrides]\nmodel.positions.bse = 10.0\n"))
    assert "model.positions" in msg and "did you mean 'base'" in msg
