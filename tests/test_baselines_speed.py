"""benchmarks/baselines_speed.py's patching of the reference scripts (no GPU: the patch only).

The real scripts are read from a read-only mirror of flukeskywalker/modded-nanogpt-remixed when this
machine has one (REMIX_REMIXED_REPO or /work/.mirror/…); otherwise that test is skipped."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT

spec = importlib.util.spec_from_file_location("baselines_speed", ROOT / "benchmarks" / "baselines_speed.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

MIRROR = Path(os.environ.get("REMIX_REMIXED_REPO",
                             "/work/.mirror/flukeskywalker+modded-nanogpt-remixed/repo"))

# A made-up script with the settings the patch looks for (not a reference script's text).
FAKE = """
world_size = 8
assert world_size == 8  # eight GPUs
class Hyperparameters:
    train_files = "somewhere/train_*.bin"
    val_files = "somewhere/val_*.bin"
    val_tokens = 1048576
    num_iterations = 999
    val_loss_every = 50
"""


def test_patch_sets_every_value():
    out = bench.patch_text(FAKE, Path("/d"), 200, 100, 524288)
    got = bench.settings(out)
    assert got["train_files"] == '= "/d/*_train_*.bin"' and got["val_files"] == '= "/d/*_val_*.bin"'
    assert (got["num_iterations"], got["val_loss_every"], got["val_tokens"]) == ("= 200", "= 100", "= 524288")
    assert got["assert world_size"] == ">= 1"


@pytest.mark.parametrize("drop", ["num_iterations", "val_tokens", "assert world_size"])
def test_a_setting_the_patch_cannot_find_is_an_error(drop):
    text = "\n".join(line for line in FAKE.splitlines() if drop not in line)
    with pytest.raises(bench.PatchError, match="expected one .* found 0"):
        bench.patch_text(text, Path("/d"), 200, 100, name="fake.py")
    with pytest.raises(bench.PatchError, match="found 2"):
        bench.patch_text(FAKE + FAKE, Path("/d"), 200, 100, name="fake.py")


def _script(name: str) -> str:
    if not (MIRROR / "HEAD").exists() and not (MIRROR / ".git").exists():
        pytest.skip(f"no mirror of modded-nanogpt-remixed at {MIRROR}")
    return subprocess.run(["git", "-C", str(MIRROR), "show", f"HEAD:{name}"], check=True, capture_output=True,
                          text=True).stdout


@pytest.mark.parametrize("which", ["R21", "M", "A"])
def test_patching_the_real_scripts(which):
    """The 200-step, one-GPU comparison's settings land in the real scripts; the rows stay the script's."""
    text = _script(bench.SCRIPTS[which])
    out = bench.settings(bench.patch_text(text, Path("/data"), 200, 100, 10485760, name=which))
    assert out["num_iterations"] == "= 200" and out["val_loss_every"] == "= 100"
    assert out["val_tokens"] == "= 10485760" and out["assert world_size"] == ">= 1"
    assert out["train_files"] == '= "/data/*_train_*.bin"' and out["val_files"] == '= "/data/*_val_*.bin"'
    if which == "R21":   # record 21's rows (notes/record21.md §1 rows 8, 11), untouched by the patch
        assert (out["train_seq_len"], out["val_seq_len"]) == ("= 48*1024", "= 4*64*1024")
        assert bench.ROWS["R21"] == 48 * 1024 and bench.VAL_ROWS["R21"] == 4 * 64 * 1024
    assert bench.RECIPES[which].startswith("recipes/") and (ROOT / bench.RECIPES[which]).is_file()
