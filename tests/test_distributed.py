"""Any device count, same math: `remix run --gpus 2 --device cpu` (two gloo processes under torchrun, the
device batch lowered to split the step) equals one process with 2-step accumulation; launch errors come
before any process starts."""

import json
import os
import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from conftest import RECIPES, ROOT
from remix.cli import _mount, app

ARGS = ["run", str(RECIPES / "smoke.toml"), "--steps", "12", "--device", "cpu", "--set", "eval.every=6", "--quiet"]
runner = CliRunner()
_mount()


def val_losses(out):
    record = json.loads(next(out.glob("*.json")).read_text())
    return (record["hardware"]["device_count"], record["spec"]["train"]["device_batch"],
            [p["val_loss"] for p in record["curve"] if p["val_loss"]])


def test_gpus_two_on_cpu_equals_one_process_with_accumulation(tmp_path):
    two, one = tmp_path / "two", tmp_path / "one"
    # the recipe's 8 rows × 256 tokens × 2 devices do not split its 2,048 tokens: lowered to 4, and said so
    proc = subprocess.run([sys.executable, "-m", "remix", *ARGS, "--gpus", "2", "--out", str(two)], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert "torchrun: 2 process(es)" in proc.stdout and "lowered from 8 to 4" in proc.stdout
    # one thread, as torchrun gives each of its processes: on a shared 2-core machine two threads contend
    proc = subprocess.run([sys.executable, "-m", "remix", *ARGS, "--set", "train.device_batch=4", "--out", str(one)],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    (n2, b2, losses2), (n1, b1, losses1) = val_losses(two), val_losses(one)
    assert (n2, n1, b2, b1) == (2, 1, 4, 4) and len(losses1) == 3
    assert losses2 == pytest.approx(losses1, abs=1e-5)


def test_device_batch_is_lowered_only_as_far_as_needed():
    from remix.options import RunOptions
    from remix.recipe import RecipeError, load_recipe
    from remix.runner import resolve_spec
    recipe = load_recipe(RECIPES / "smoke.toml")
    spec, source, _ = resolve_spec(recipe, RunOptions(world=1))
    assert spec.train.device_batch == 8 and "train.device_batch" not in source or "fit" not in source.get(
        "train.device_batch", "")
    for world, rows in ((2, 4), (4, 2), (8, 1)):
        spec, source, _ = resolve_spec(recipe, RunOptions(world=world))
        assert spec.train.device_batch == rows and spec.train.tokens_per_step == 2048
        assert source["train.device_batch"].startswith("fit to the devices: lowered from 8")
    with pytest.raises(RecipeError, match="no smaller device batch splits it.*multiple of 3 device"):
        resolve_spec(recipe, RunOptions(world=3))


@pytest.mark.parametrize("args, message", [
    (["--gpus", "2"], "no GPU is visible here; add --device cpu"),
    (["--gpus", "0", "--device", "cpu"], "--gpus 0: expected at least 1"),
    (["--nodes", "2", "--device", "cpu"], "--nodes 2: needs --master ADDR:PORT"),
    (["--nodes", "2", "--node-rank", "2", "--master", "h:1", "--device", "cpu"], "--node-rank 2: expected 0..1"),
    (["--gpus", "2", "--master", "nohost", "--device", "cpu"], "--master 'nohost': expected ADDR:PORT"),
    (["--gpus", "3", "--device", "cpu"], "no smaller device batch splits it"),
    (["--gpus", "2", "--device", "cpu", "--executor", "per-gpu"], "--executor per-gpu gives each run one GPU"),
])
def test_launch_errors_come_before_any_process(tmp_path, args, message):
    import torch
    if "--device" not in args and torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    res = runner.invoke(app, ["run", str(RECIPES / "smoke.toml"), "--out", str(tmp_path / "r"), *args])
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split()), res.output
    assert "torchrun:" not in res.output and not (tmp_path / "r").exists()


def test_process_group_failure_says_what_to_check(monkeypatch):
    from remix.distributed import DistributedError, setup
    with socket.socket() as s:   # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(port))
    monkeypatch.setenv("REMIX_DIST_TIMEOUT_S", "2")
    with pytest.raises(DistributedError, match="gloo process group did not form.*Check that every rank can reach"):
        setup("cpu")


def test_show_resolves_for_the_devices_asked():
    res = runner.invoke(app, ["show", str(RECIPES / "smoke.toml"), "--gpus", "2"])
    text = " ".join(res.output.split())
    assert res.exit_code == 0, res.output
    assert "tokens per step: 2,048 = 2 device(s) × 1 micro-step(s) × 4 × 256" in text
    assert "fit to the devices: lowered from 8 to 4" in text
