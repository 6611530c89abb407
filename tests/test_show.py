"""`remix show`: what a recipe resolves to, and the model it builds."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from remix.cli import _mount, app

from conftest import RECIPES

_mount()


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_show_model_lists_layers_parts_and_each_parameter_with_its_group():
    res = invoke("show", str(RECIPES / "muon_baseline.toml"), "--model")
    assert res.exit_code == 0, res.output
    assert "total: 162,165,504 parameters" in res.output
    assert "11: attention" in res.output and "no attention" not in res.output
    for line in ("blocks.7.attn.qkv_w", "matrix.attn.qkv", "hidden", "head.weight"):
        assert line in res.output


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.toml")), ids=lambda p: p.stem)
def test_show_model_works_for_every_recipe(path):
    res = invoke("show", str(path), "--model")
    assert res.exit_code == 0, res.output
    assert "total: " in res.output and " 0: " in res.output


def test_show_names_quiet_overrides_and_none_where_ingredients_tune_different_arguments():
    """speedrun_history replays retunes (double_lr's Muon lr, then higher_muon_lr's); record_21's window
    warm-up sets the attention's block and block_mask_from_bounds its mask build: no override."""
    res = invoke("show", str(RECIPES / "speedrun_history.toml"))
    assert res.exit_code == 0, res.output
    assert "quiet overrides" in res.output
    assert "optim.hidden.lr: set by double_lr, changed again by higher_muon_lr" in res.output
    res = invoke("show", str(RECIPES / "record_21.toml"))
    assert res.exit_code == 0 and "quiet overrides" not in res.output


def test_show_add_places_an_ingredient_as_ablate_does_and_says_where():
    res = invoke("show", str(RECIPES / "muon_baseline.toml"), "--scale", "tiny", "--add", "value_embeds")
    assert res.exit_code == 0, res.output
    assert "lower_adam_eps → value_embeds → block_mask_from_bounds → fused_softcap_ce" in " ".join(res.output.split())
    assert "--add value_embeds: before block_mask_from_bounds, fused_softcap_ce" in res.output
    res = invoke("show", str(RECIPES / "muon_baseline.toml"), "--add", "value_embeds@25")
    assert res.exit_code == 0 and "fused_softcap_ce → value_embeds" in " ".join(res.output.split())
    assert "--add value_embeds: before" not in res.output
    res = invoke("show", str(RECIPES / "muon_baseline.toml"), "--add", "bf16_ce")
    assert res.exit_code == 2 and "--drop fused_softcap_ce" in res.output


def test_report_out_is_the_report_folder_and_results_the_records():
    from remix.cli_report import report
    import inspect
    params = inspect.signature(report).parameters
    assert params["results"].default.param_decls == ("--results",)
    assert params["out_dir"].default.param_decls == ("--out",)
