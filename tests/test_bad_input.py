"""Bad input found by issue #10: each is one clear line naming the file, key or flag, exit status 2,
nothing trained and nothing written."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from remix.cli import _mount, app
from remix.data import DataError
from remix.data.fineweb import download

from conftest import RECIPES

runner = CliRunner()
_mount()
SMOKE = (RECIPES / "smoke.toml").read_text()


def invoke(*args: str):
    res = runner.invoke(app, list(args))
    assert "Traceback" not in res.output, res.output
    return res


@pytest.mark.parametrize("command", [["run"], ["run", "--prefixes"]])
def test_out_that_is_a_file_or_unwritable(tmp_path, command):
    afile = tmp_path / "file"
    afile.write_text("x")
    for out, why in ((afile, "is a file, expected a directory"), ("/proc/remix-results", "cannot write there")):
        res = invoke(*command, str(RECIPES / "smoke.toml"), "--steps", "2", "--device", "cpu", "--out", str(out))
        assert res.exit_code == 2 and f"--out {out}: {why}" in res.output


def test_report_and_tokenize_out_that_is_a_file(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("x")
    res = invoke("report", "--results", str(RECIPES.parent / "tests" / "fixtures" / "records"), "--out", str(afile),
                 "--no-history")
    assert res.exit_code == 2 and "is a file, expected a directory" in res.output
    text = tmp_path / "doc.txt"
    text.write_text("hello")
    for out in (afile, "/proc/remix-shards"):
        res = invoke("data", "tokenize", str(text), "--out", str(out))
        assert res.exit_code == 2 and f"--out {out}" in res.output


def test_an_option_error_points_at_the_option_line(write_recipe):
    path = write_recipe(SMOKE.replace("warmup = 10", "warmup = -10"))
    res = invoke("show", str(path))
    line = SMOKE.splitlines().index("warmup = 10") + 1
    assert res.exit_code == 2 and f"{path}:{line}: options.stable_cooldown.warmup:" in res.output


def test_a_typo_is_named_before_its_options(write_recipe):
    path = write_recipe(SMOKE.replace('"rope", "relu2"', '"ropee", "relu2"'))
    res = invoke("show", str(path))
    assert res.exit_code == 2 and "unknown ingredient 'ropee' (did you mean 'rope'?)" in res.output


def test_a_byte_order_mark_is_named(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + SMOKE.encode())
    res = invoke("show", str(path))
    assert res.exit_code == 2 and f"{path}:1: starts with a UTF-8 byte-order mark (BOM)" in res.output


def test_adding_an_ingredient_already_there_blames_the_flag():
    res = invoke("ablate", str(RECIPES / "smoke.toml"), "--add", "rope", "--steps", "2")
    assert res.exit_code == 2 and "--add rope: 'rope' is already in smoke" in res.output


def test_empty_data_source_and_absurd_step_counts(tmp_path):
    res = invoke("show", str(RECIPES / "smoke.toml"), "--set", 'data.source=""')
    assert res.exit_code == 2 and "data.source is empty" in res.output
    res = invoke("run", str(RECIPES / "smoke.toml"), "--steps", str(10 ** 20), "--out", str(tmp_path / "r"))
    assert res.exit_code == 2 and "more than 100,000,000 steps" in res.output
    assert not (tmp_path / "r").exists()


def test_show_at_tiny_scale_prints_the_tiny_target():
    res = invoke("show", str(RECIPES / "muon_baseline.toml"), "--scale", "tiny")
    assert "target val loss 2.4 (--scale tiny; the recipe's is 3.28)" in res.output


def test_a_failed_download_leaves_no_lock_file(tmp_path):
    def offline(repo, name, local_dir):
        lock = local_dir / ".cache" / "huggingface" / "download" / f"{name}.lock"
        lock.parent.mkdir(parents=True)
        lock.write_text("")   # what huggingface_hub leaves when the network is down
        raise DataError("could not download (offline)")
    with pytest.raises(DataError, match="offline"):
        download("10B", 1, tmp_path / "fw", fetch=offline, log=lambda m: None)
    assert not (tmp_path / "fw").exists()
    (tmp_path / "kept").mkdir()
    with pytest.raises(DataError):
        download("10B", 1, tmp_path / "kept", fetch=offline, log=lambda m: None)
    assert list((tmp_path / "kept").rglob("*")) == []


@pytest.mark.parametrize("command", [["run"], ["run", "--prefixes"]])
def test_fp8_on_a_cpu_is_refused_before_anything_is_written(write_recipe, tmp_path, command):
    path = write_recipe(SMOKE.replace('"stable_cooldown"]', '"stable_cooldown", "fp8_head"]'))
    out = tmp_path / "results"
    res = invoke(*command, str(path), "--out", str(out), "--device", "cpu")
    assert res.exit_code == 2 and "fp8_head" in res.output, res.output
    assert not out.exists()



def test_an_install_hint_keeps_its_extra():
    """Error text is printed as text: `pip install 'remix[wandb]'` is not rich markup to be swallowed."""
    from remix.cli import fail
    import typer
    from remix import cli
    with pytest.raises(typer.Exit):
        with cli.err.capture() as captured:
            fail("--wandb needs the wandb package: pip install 'remix[wandb]'")
    assert "pip install 'remix[wandb]'" in captured.get()


def test_the_seed_is_pointed_to_its_flag():
    res = invoke("show", str(RECIPES / "smoke.toml"), "--set", "seed=3")
    assert res.exit_code == 2 and "use --seed N" in res.output


def test_status_and_report_take_out_like_run():
    res = invoke("status", "--out", "/nonexistent/remix-results")
    assert res.exit_code == 2 and "no such results directory" in res.output


def test_a_run_that_does_not_fit_in_memory_says_so_in_one_line(tmp_path, monkeypatch):
    """Out of memory is not bad input (it is found by trying), but it is one line naming what to shrink, and
    the run's record says failed, with the same line."""
    import json
    import remix.execute

    class Huge:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:121] DefaultCPUAllocator: can't allocate memory: "
                               "you tried to allocate 34359738368 bytes")

    monkeypatch.setattr(remix.execute, "Trainer", Huge)
    res = invoke("run", str(RECIPES / "smoke.toml"), "--steps", "2", "--device", "cpu", "--out", str(tmp_path))
    assert res.exit_code == 1
    assert "out of memory on cpu" in res.output and "train.seq_len" in res.output
    record, = tmp_path.glob("*.json")
    d = json.loads(record.read_text())
    assert d["status"] == "failed" and "out of memory" in d["message"]


def test_show_says_what_run_would_refuse_about_the_data(tmp_path):
    import numpy as np
    from remix.data.shards import write_shard
    tokens = np.arange(4096, dtype=np.uint16) % 1000   # ids up to 999: past the smoke recipe's 257
    write_shard(tmp_path / "d_val_000000.bin", tokens)
    write_shard(tmp_path / "d_train_000001.bin", tokens)
    res = invoke("show", str(RECIPES / "smoke.toml"), "--set", f"data.source='{tmp_path}'")
    assert res.exit_code == 0 and "`run` refuses this data" in res.output
