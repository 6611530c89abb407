"""Any device count, same math: two processes (torchrun, gloo, CPU) equal one with 2-step accumulation."""

import json
import shutil
import subprocess
import sys

import pytest

from conftest import RECIPES, ROOT

ARGS = ["run", str(RECIPES / "smoke.toml"), "--steps", "12", "--device", "cpu", "--set", "train.device_batch=4",
        "--set", "eval.every=6"]


def val_losses(out):
    record = json.loads(next(out.glob("*.json")).read_text())
    return record["hardware"]["device_count"], [p["val_loss"] for p in record["curve"] if p["val_loss"]]


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun is not on PATH")
def test_two_processes_equal_one_with_accumulation(tmp_path):
    two, one = tmp_path / "two", tmp_path / "one"
    for cmd, out in ((["torchrun", "--standalone", "--nproc_per_node=2"], two), ([sys.executable], one)):
        proc = subprocess.run([*cmd, "-m", "remix", *ARGS, "--out", str(out)], cwd=ROOT, capture_output=True,
                              text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
    (n2, losses2), (n1, losses1) = val_losses(two), val_losses(one)
    assert (n2, n1) == (2, 1) and len(losses1) == 3
    assert losses2 == pytest.approx(losses1, abs=1e-5)
