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


def test_pairs_first_then_appended_sets_and_the_table_after_each_run(monkeypatch, tmp_path):
    """--also appends ingredient sets (one recipe only with a prefix); the pair runs first and the JSON is
    rewritten after every run, so a call cut short by its time limit keeps what finished."""
    calls, written = [], []

    def fake_remix(which, data, steps, val_every, val_tokens, out, gpus=1, add=None):
        calls.append(f"remix {which}" + (f"+{add}" if add else ""))
        return {"vals": {0: (10.8, 0.0), 100: (6.0, 10_000.0), 200: (5.5, 20_000.0)}, "peak_mib": 1.0}

    def fake_reference(which, *args):
        calls.append(f"reference {which}")
        return {"vals": {0: (10.8, 0.0), 100: (6.0, 11_000.0), 200: (5.5, 22_000.0)}, "peak_mib": 1.0}

    real_report = bench.report
    monkeypatch.setattr(bench, "run_remix", fake_remix)
    monkeypatch.setattr(bench, "run_reference", fake_reference)
    monkeypatch.setattr(bench, "report", lambda runs, row, args: (written.append(len(runs)),
                                                                   real_report(runs, row, args)))
    monkeypatch.setattr("sys.argv", ["baselines_speed.py", "--ref", str(tmp_path), "--which", "M", "A",
                                     "--out", str(tmp_path), "--also", "async_loader+fused_linear_relu2",
                                     "M:~fused_softcap_ce+transposed_head"])
    bench.main()
    assert calls == ["remix M", "reference M", "remix M+async_loader+fused_linear_relu2",
                     "remix M+~fused_softcap_ce+transposed_head", "remix A", "reference A", "remix A+async_loader+fused_linear_relu2"]
    assert written == [1, 2, 3, 4, 5, 6, 7]
    import json
    table = json.loads((tmp_path / "baselines_speed.json").read_text())
    assert table["remix M"][0]["ms_per_step"] == pytest.approx(100.0)
    assert table["reference A"][0]["ms_per_step"] == pytest.approx(110.0)


def test_a_set_that_makes_no_recipe_is_refused_before_any_run(monkeypatch, tmp_path):
    monkeypatch.setattr(bench, "run_remix", lambda *a, **k: pytest.fail("trained"))
    monkeypatch.setattr(bench, "run_reference", lambda *a, **k: pytest.fail("trained"))
    for bad, why in (("fused_softcap_ce", "already in"), ("~rope_x", "cannot drop 'rope_x'"),
                     ("bf16_ce", "keeps the math")):
        monkeypatch.setattr("sys.argv", ["baselines_speed.py", "--ref", str(tmp_path), "--which", "M",
                                         "--out", str(tmp_path), "--also", bad])
        with pytest.raises(SystemExit, match=f"--also {bad} on recipes/muon_baseline.toml: .*{why}"):
            bench.main()
    assert bench.variant("M", "~block_mask_from_bounds+~fused_softcap_ce").names[-1] == "lower_adam_eps"


def test_a_dropped_name_is_a_drop_on_the_command_line(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(bench.subprocess, "run", lambda cmd, **k: seen.append(cmd))
    monkeypatch.setattr(bench.time, "time", lambda: 0.0)
    (tmp_path / "r.json").write_text('{"curve": [], "peak_memory_mib": 1}')
    bench.run_remix("M", tmp_path, 10, 5, 1024, tmp_path, add="~fused_softcap_ce+value_embeds")
    cmd = seen[0]
    assert cmd[3] == "ablate" and cmd[-4:] == ["--drop", "fused_softcap_ce", "--add", "value_embeds"]
