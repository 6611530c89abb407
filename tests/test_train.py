"""Training on a CPU at tiny scale: the loss falls, records are atomic and complete, reruns are skipped."""

import json
import math

import pytest
from typer.testing import CliRunner

from remix.cli import _mount, app
from remix.recipe import load_recipe
from remix.results import ResultStore
from remix.execute import execute_plan
from remix.runner import RunOptions, plan_run
from remix.watch import Watch

from conftest import RECIPES

runner = CliRunner()
QUIET = Watch(progress=False)
_mount()


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    plan = plan_run(load_recipe(RECIPES / "smoke.toml"), RunOptions(device="cpu", steps=60, results=str(out)))
    result = execute_plan(plan, ResultStore(out), watch=QUIET)
    return plan, result, out


def test_loss_falls(smoke_run):
    _, result, _ = smoke_run
    vals = [p.val_loss for p in result.curve]
    assert result.status == "finished" and result.steps_done == 60
    assert vals[0] > math.log(200) - 0.5 and vals[-1] < vals[0] - 1.5


def test_record_is_complete(smoke_run):
    plan, result, out = smoke_run
    files = list(out.glob("*.json"))
    assert len(files) == 1 and not list(out.glob(".*tmp"))
    d = json.loads(files[0].read_text())
    assert d["identity"] == plan.identity and d["status"] == "finished"
    assert d["recipe"]["text"] == load_recipe(RECIPES / "smoke.toml").text
    assert d["spec"]["train"]["steps"] == 60 and d["ingredients"][0]["name"] == "rmsnorm"
    assert d["hardware"]["device"] == "cpu" and d["software"]["torch"]
    assert d["data"]["name"] == "embedded" and d["tokens_per_s"] > 0 and d["ms_per_step"] > 0
    assert [p["step"] for p in d["curve"] if p["val_loss"] is not None] == [0, 50, 60]
    assert d["train_time_ms"] == pytest.approx(d["curve"][-1]["train_time_ms"])


def test_second_run_is_skipped(smoke_run):
    _, _, out = smoke_run
    res = runner.invoke(app, ["run", str(RECIPES / "smoke.toml"), "--steps", "60", "--device", "cpu",
                              "--out", str(out)])
    assert res.exit_code == 0 and "reused, not trained" in res.output
    assert len(list(out.glob("*.json"))) == 1


def test_divergence_is_recorded(tmp_path):
    plan = plan_run(load_recipe(RECIPES / "smoke.toml"),
                    RunOptions(device="cpu", steps=25, results=str(tmp_path),
                               sets=(("optim.decay.lr", 1e4), ("optim.no_decay.lr", 1e4), ("train.grad_clip", None))))
    result = execute_plan(plan, ResultStore(tmp_path), watch=QUIET)
    assert result.status == "diverged" and "loss is" in result.message
    assert ResultStore(tmp_path).find(plan.identity).status == "diverged"


def test_interrupt_leaves_a_record(tmp_path, monkeypatch):
    from remix import trainer
    calls = {"n": 0}
    original = trainer.Trainer.evaluate

    def evaluate(self, max_batches=None):
        calls["n"] += 1
        if calls["n"] == 3:   # warm-up eval, step 0, then Ctrl-C at step 10
            raise KeyboardInterrupt
        return original(self, max_batches)

    monkeypatch.setattr(trainer.Trainer, "evaluate", evaluate)
    plan = plan_run(load_recipe(RECIPES / "smoke.toml"), RunOptions(device="cpu", steps=20, results=str(tmp_path),
                                                                   sets=(("eval.every", 10),)))
    with pytest.raises(KeyboardInterrupt):
        execute_plan(plan, ResultStore(tmp_path), watch=QUIET)
    record = ResultStore(tmp_path).find(plan.identity)
    assert record.status == "interrupted" and record.curve[0].step == 0


def test_cli_bad_recipe_exits_2_without_traceback(write_recipe, tmp_path):
    path = write_recipe('name = "t"\nbase = "llmc_gpt2"\ningredients = ["ropee"]\n')
    res = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "res")])
    assert res.exit_code == 2 and "did you mean 'rope'" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "res").exists()


def test_cli_missing_data_is_an_error_before_training(tmp_path):
    res = runner.invoke(app, ["run", str(RECIPES / "smoke.toml"), "--set", f"data.source='{tmp_path}/none'",
                              "--out", str(tmp_path / "res"), "--device", "cpu"])
    assert res.exit_code == 2 and "none" in res.output
    assert not list((tmp_path / "res").glob("*.json")) if (tmp_path / "res").exists() else True


def test_cli_bad_flags(tmp_path):
    res = runner.invoke(app, ["run", str(RECIPES / "smoke.toml"), "--scale", "huge"])
    assert res.exit_code == 2 and "--scale 'huge'" in res.output
    res = runner.invoke(app, ["run", str(RECIPES / "smoke.toml"), "--set", "train.steps"])
    assert res.exit_code == 2 and "path=value" in res.output
    res = runner.invoke(app, ["ablate", str(RECIPES / "muon_baseline.toml"), "--drop", "muon"])
    assert res.exit_code == 2 and "muon_momentum_warmup" in res.output


@pytest.mark.parametrize("recipe", sorted(p.name for p in RECIPES.glob("*.toml")))
def test_show_every_recipe(recipe):
    res = runner.invoke(app, ["show", str(RECIPES / recipe), "--scale", "tiny"])
    assert res.exit_code == 0, res.output
    assert "parameters:" in res.output and "tokens per step" in res.output


def test_show_full_scale_counts():
    res = runner.invoke(app, ["show", str(RECIPES / "muon_baseline.toml")])
    assert "162,165,504" in res.output
    res = runner.invoke(app, ["show", str(RECIPES / "adamw_baseline.toml")])
    assert "123,568,128" in res.output


def test_ingredients_catalogue():
    res = runner.invoke(app, ["ingredients", "--json"])
    rows = json.loads(res.output)
    by_name = {r["name"]: r for r in rows}
    assert by_name["rope"]["provenance"][0]["record"] == "2"
    assert by_name["muon_momentum_warmup"]["requires"] == ["muon"]
    res = runner.invoke(app, ["ingredients"])
    assert res.exit_code == 0 and "rope" in res.output


@pytest.mark.parametrize("recipe", ["muon_baseline.toml", "adamw_baseline.toml"])
def test_baselines_train_at_tiny_scale(recipe, tmp_path):
    plan = plan_run(load_recipe(RECIPES / recipe), RunOptions(device="cpu", scale="tiny", steps=30,
                                                               results=str(tmp_path)))
    result = execute_plan(plan, ResultStore(tmp_path), watch=QUIET)
    assert result.status == "finished" and result.curve[-1].val_loss < result.curve[0].val_loss - 1.0
    assert result.kernels == {"DocumentCore": "sdpa with a dense mask",   # which kernels ran, on a CPU
                              "FusedSoftcapCE": "torch reference (F.cross_entropy on fp32 soft-capped logits)"}


def test_ablate_drop_rope_trains(tmp_path):
    res = runner.invoke(app, ["ablate", str(RECIPES / "muon_baseline.toml"), "--drop", "rope", "--scale", "tiny",
                              "--steps", "20", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    record = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert record["variant"] == {"kind": "drop", "dropped": ["rope"]}
    assert record["spec"]["model"]["positions"]["name"] == "none" and record["status"] == "finished"


def test_token_ids_outside_the_vocabulary_stop_before_training(tmp_path):
    import numpy as np
    from remix.data import write_shard
    data = tmp_path / "bad"
    data.mkdir()
    tokens = np.full(40000, 65, dtype=np.uint16)
    tokens[::500] = 256
    write_shard(data / "bad_val_000000.bin", tokens)
    tokens[1234] = 300   # past the embedded vocabulary of 257
    write_shard(data / "bad_train_000001.bin", tokens)
    (data / "dataset.json").write_text('{"bos_id": 256, "vocab_size": 257}')
    res = runner.invoke(app, ["run", str(RECIPES / "smoke.toml"), "--steps", "10", "--set", f"data.source='{data}'",
                              "--out", str(tmp_path / "res"), "--device", "cpu"])
    assert res.exit_code == 2 and "token 300 at position 1234" in res.output
    assert not (tmp_path / "res").exists() or not list((tmp_path / "res").glob("*.json"))
