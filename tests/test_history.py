"""The history feature: records.toml as data, the reader of a modded-nanogpt clone, the CLI, the plot.

The clone is a small git repository built here with gitpython (never the network): a README with a
record table in the speedrun's format, record logs with embedded scripts, the speedrun's two bulk
folder renames (MMDDYY -> YYYY-MM-DD, then into track_1_short/), an identical copy of a log in a
non-record folder (as in the real history), and bare clones of it, one without a config file (as
the mirrors are).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import types
from datetime import datetime, timedelta, timezone
from pathlib import Path

import git
import pytest
from typer.testing import CliRunner

from history.catalogue import Catalogue, read_catalogue
from history.cli import app
from history.data import CATEGORIES, default_history, load
from history.errors import HistoryError
from history.readme import parse_record_table, parse_time
from history.repo import SpeedrunRepo
from history.scripts import diff_scripts, normalise, script_of_log, split_files

RULE = "=" * 100 + "\n"
DASHES = "-" * 40 + "\n"
LOG11 = "c87bb826-797b-4f37-98c7-d3a5dad2de74.txt"
LOG12 = "8384493d-dba9-4991-b16b-8696953f5e6d.txt"

SCRIPT_11 = """import os
import torch
import torch.nn.functional as F

def attention(q, k, v):
    # dense causal attention over 1024-token chunks
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)

num_iterations = 3000
"""

SCRIPT_12 = """import os
import torch
import torch.nn.functional as F
from torch.nn.attention.flex_attention import flex_attention

def attention(q, k, v, block_mask):
    return flex_attention(q, k, v, block_mask=block_mask)

num_iterations = 1875
"""

KERNELS = """import triton

def symmetric_matmul(a):
    return a @ a.T
"""


def old_log(script: str) -> str:
    """A #4-#17 style log: a rule, the script, a rule, the environment, a rule, the steps."""
    return RULE + script + RULE + "Running pytorch 2.5.1\n" + RULE + "step:0/3000 val_loss:10.8250 train_time:0ms\n"


def new_log(script: str, kernels: str | None = None) -> str:
    """A #18+ style log (script from line 1), with a kernel file appended the way #61+ logs do."""
    body = script
    if kernels:
        body += "\n" + DASHES + "# triton_kernels.py\n" + DASHES + "\n" + kernels
    return body + RULE + "Running PyTorch 2.10.0\n" + RULE + "step:0/1500 val_loss:10.8 train_time:0ms\n"


README_HEAD = """# Modded-NanoGPT

## World record history

> *Train a neural network to <=3.28 validation loss on FineWeb using 8x NVIDIA H100s.*

| # | Record time | Description | Date | Log | Contributors |
| - | - | - | - | - | - |
"""
README_TAIL = """

## Speedrun track 2: GPT-2 Medium

| # | Record time | Description | Date | Log | Contributors |
| - | - | - | - | - | - |
1 | 5.8 hours | [llm.c baseline (350M parameters)](https://github.com/karpathy/llm.c/discussions/481) | 05/28/24 | [log](records/track_2_medium/2025-01-18/main.log) | @karpathy
"""


def readme(rows: list[str]) -> str:
    return README_HEAD + "\n".join(rows) + README_TAIL


def row1(path):
    return f"1 | 45 minutes | [llm.c baseline](https://github.com/karpathy/llm.c/discussions/481) | 05/28/24 | [log]({path}) | @karpathy"


def row11(path):
    # No space before the pipe after the description, as in the real row #45.
    return (f"11 | 7.2 minutes | [U-net pattern skip connections & double lr](https://x.com/a/status/1)| 11/10/24 "
            f"| [log]({path}) | @brendanh0gan")


def row12(path):
    return (f"12 | 5.03 minutes | [1024-ctx dense causal attention → 64K-ctx FlexAttention](https://x.com/b/status/2) "
            f"| 11/19/24 | [log]({path}),[PR](https://github.com/KellerJordan/modded-nanogpt/pull/99) | @KoszarskyB")


ROW12_RETIME = "12 | 5.10 minutes | 12th record re-timed | 11/25/24 | none | not a new record, just re-timing #12"
ROW13 = "13 | 4.66 minutes | Attention window warmup | 11/24/24 | [log](records/track_1_short/2024-11-24_WindowWarmup/k.txt) | @x"

WHO = git.Actor("Speedrunner", "runner@example.com")
T0 = datetime(2024, 10, 13, 12, 0, tzinfo=timezone.utc)


def _when(day: int) -> str:
    """A commit date in git's raw form (seconds since the epoch, offset), which gitpython accepts."""
    return f"{int((T0 + timedelta(days=day)).timestamp())} +0000"


def _commit(repo: git.Repo, work: Path, files: dict[str, str | None], message: str, day: int) -> str:
    for path, text in files.items():
        target = work / path
        if text is None:
            repo.index.remove([path], working_tree=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        repo.index.add([path])
    when = _when(day)
    return repo.index.commit(message, author=WHO, committer=WHO, author_date=when, commit_date=when).hexsha


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A tiny modded-nanogpt: #1 (llm.c log), #11, #12 (folder link), a re-timing of #12, and #13 with
    kernels; its history has the real layout's renames. Returns paths and the commits that matter."""
    base = tmp_path_factory.mktemp("speedrun")
    work = base / "work"
    work.mkdir()
    repo = git.Repo.init(work)
    shas = {}
    shas["1"] = _commit(repo, work, {
        "README.md": readme([row1("records/101324_llmc/main.log")]),
        "train_gpt2.py": SCRIPT_11,
        "run.sh": "torchrun --nproc_per_node=8 train_gpt2.py --num_iterations 3000\n",
        "records/101324_llmc/main.log": "s:0 tel:11.0092\ns:0 trl:11.0091 lr:0.000001\n",
    }, "llm.c baseline log", 0)
    shas["11"] = _commit(repo, work, {
        f"records/111024_UNetDoubleLr/{LOG11}": old_log(SCRIPT_11),
        # An identical copy in a folder that is no record (as 2024-11-10_ScaleShortcuts holds #10's log).
        f"records/111024_ScaleShortcuts/{LOG11}": old_log(SCRIPT_11),
    }, ".", 29)
    shas["readme11"] = _commit(repo, work, {
        "README.md": readme([row1("records/101324_llmc/main.log"), row11(f"records/111024_UNetDoubleLr/{LOG11}")]),
    }, "Update README.md", 30)
    shas["12"] = _commit(repo, work, {
        f"records/111924_FlexAttention/{LOG12}": old_log(SCRIPT_12),
        "records/111924_FlexAttention/README.md": "# FlexAttention\n",
        "train_gpt2.py": SCRIPT_12,
        "README.md": readme([row1("records/101324_llmc/main.log"), row11(f"records/111024_UNetDoubleLr/{LOG11}"),
                             row12("records/111924_FlexAttention"), ROW12_RETIME]),
    }, "new record", 38)
    # The two bulk renames of 2025-10: MMDDYY -> YYYY-MM-DD, then into track_1_short/.
    for old, new in (("101324_llmc", "2024-10-13_llmc"), ("111024_UNetDoubleLr", "2024-11-10_UNetDoubleLr"),
                     ("111024_ScaleShortcuts", "2024-11-10_ScaleShortcuts"),
                     ("111924_FlexAttention", "2024-11-19_FlexAttention")):
        repo.git.mv(f"records/{old}", f"records/{new}")
    when = _when(360)
    shas["rename1"] = repo.index.commit("Rename records folders to YYYY-MM-DD format", author=WHO,
                                        committer=WHO, author_date=when, commit_date=when).hexsha
    (work / "records/track_1_short").mkdir()
    for name in ("2024-10-13_llmc", "2024-11-10_UNetDoubleLr", "2024-11-10_ScaleShortcuts", "2024-11-19_FlexAttention"):
        repo.git.mv(f"records/{name}", f"records/track_1_short/{name}")
    t1 = "records/track_1_short"
    shas["rename2"] = _commit(repo, work, {
        "README.md": readme([row1(f"{t1}/2024-10-13_llmc/main.log"), row11(f"{t1}/2024-11-10_UNetDoubleLr/{LOG11}"),
                             row12(f"{t1}/2024-11-19_FlexAttention"), ROW12_RETIME]),
    }, "reorganize into track_1_short", 361)
    shas["13"] = _commit(repo, work, {
        f"{t1}/2024-11-24_WindowWarmup/k.txt": new_log(SCRIPT_12.replace("1875", "1750"), KERNELS),
        "README.md": readme([row1(f"{t1}/2024-10-13_llmc/main.log"), row11(f"{t1}/2024-11-10_UNetDoubleLr/{LOG11}"),
                             row12(f"{t1}/2024-11-19_FlexAttention"), ROW12_RETIME, ROW13]),
    }, "New record 11/24/24", 362)
    bare = base / "bare.git"
    git.Repo.clone_from(work, bare, bare=True)
    mirror = base / "mirror"                   # a bare clone without a config file, like fetch's mirrors
    shutil.copytree(bare, mirror)
    (mirror / "config").unlink()
    return types.SimpleNamespace(base=base, work=work, bare=bare, mirror=mirror, shas=shas)


def _records_toml(path: Path, shas: dict[str, str], **changes) -> Path:
    """A records file for the synthetic clone (commits known only once the clone is built)."""
    log12 = shas.get("log12", shas["12"])[:8]
    path.write_text(f"""
[[record]]
number = 1
date = "2024-05-28"
time = "45 minutes"
time_s = 2700.0
description = "llm.c baseline"
categories = ["baseline"]
log = "records/track_1_short/2024-10-13_llmc/main.log"
log_commit = "{shas["1"][:8]}"

[[record]]
number = 11
date = "2024-11-10"
time = "7.2 minutes"
time_s = 432.0
description = "U-net pattern skip connections & double lr"
categories = ["architecture", "hyperparameters"]
log = "records/track_1_short/2024-11-10_UNetDoubleLr/{LOG11}"
log_commit = "{shas["11"][:8]}"
builds_on = "1"

[[record]]
number = 12
date = "2024-11-19"
time = "5.03 minutes"
time_s = 301.8
description = "1024-ctx dense causal attention → 64K-ctx FlexAttention"
categories = ["attention", "evaluation protocol"]
log = "records/track_1_short/2024-11-19_FlexAttention/{LOG12}"
log_commit = "{log12}"
ingredients = ["flex_attention", "document_mask_eval"]
eval_protocol_change = "64K-token validation sequences with document masking."
builds_on = "11"

[[record]]
number = 12
variant = "5.10"
date = "2024-11-25"
time = "5.10 minutes"
time_s = 306.0
description = "12th record re-timed"
categories = ["evaluation protocol"]
builds_on = "12"

[[record]]
number = 13
date = "2024-11-24"
time = "4.66 minutes"
time_s = 279.6
description = "Attention window warmup"
categories = ["attention", "schedule"]
log = "records/track_1_short/2024-11-24_WindowWarmup/k.txt"
log_commit = "{shas["13"][:8]}"
builds_on = "12"
""")
    return path


def _run(*args, catalogue: Catalogue | None = None, monkeypatch=None):
    if monkeypatch is not None and catalogue is not None:
        monkeypatch.setattr("history.cli.read_catalogue", lambda: catalogue)
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "220", "NO_COLOR": "1"})


# ---- records.toml ----------------------------------------------------------------------------------

def test_records_toml_holds_every_track1_record():
    h = default_history()
    assert len(h.records) == 91
    assert [r.number for r in h.numbered] == list(range(1, 90))
    assert len({r.key for r in h.records}) == 91
    assert [r.key for r in h.records if r.retiming] == ["21 (2.997)", "21 (3.014)"]
    for prev, r in zip(h.records, h.records[1:]):
        assert r.date >= prev.date, (prev.key, r.key)
        # Every new record beats the row before it; re-timings may be slower (new rules, new torch).
        if not r.retiming:
            assert r.time_s < prev.time_s, (prev.key, r.key)
    for r in h.records:
        assert r.categories and set(r.categories) <= set(CATEGORIES), r.key
        assert abs(parse_time(r.time) - r.time_s) < 0.01 * r.time_s
        if r.builds_on:
            assert h.records.index(h.get(r.builds_on)) < h.records.index(r)
    assert h.get(1).time_s == 2700 and h.get(89).time == "1.23 minutes"


def test_records_toml_facts():
    h = default_history()
    r12 = h.get(12)
    assert r12.folder == "2024-11-19_FlexAttention" and r12.log_commit == "ebce774d"
    assert "document_mask" in r12.ingredients and "document masking" in r12.eval_protocol_change
    assert "evaluation protocol" in r12.categories
    assert set(h.get(5).ingredients) == {"padded_vocab", "relu2", "zero_init_projections", "qk_norm", "wide_heads"}
    assert h.get(26).ingredients == ("bos_aligned", "longer_cooldown")   # and the cooldown 0.4 → 0.45
    assert "logit_softcap" in h.get("21 (3.014)").ingredients
    assert h.get("21 (2.997)").eval_protocol_change.startswith("Timing rule change")
    # Where the script chain is not linear (records.md), the diff base says so.
    assert h.get(65).builds_on == "63" and h.get(73).builds_on == "68" and h.get(82).builds_on == "80"
    assert h.get(13).builds_on == "12"
    assert h.get(48).script_log.endswith(".txt") and "PreMul-O" in h.get(48).script_log
    assert {b.name: b.time_s for b in h.baselines} == {"A": 615.3, "M": 367.1}
    with pytest.raises(HistoryError, match="no record '90'"):
        h.get("90")
    assert h.get("#21(2.997)").key == "21 (2.997)"


@pytest.mark.parametrize("change, message", [
    ('date = "2024-11-19"', "key 'date': expected an ISO date"),
    ('categories = ["attention", "evaluation protocol"]', "'magic' is not one of"),
    ('time_s = 301.8', "key 'time_s': 999.0 s disagrees"),
    ('builds_on = "11"', "key 'builds_on': '13' is not an earlier record"),
    ('eval_protocol_change = ', "unknown key 'eval_change'"),
])
def test_records_toml_errors_name_file_and_key(tmp_path, change, message):
    good = _records_toml(tmp_path / "good.toml", {"1": "a" * 40, "11": "b" * 40, "12": "c" * 40, "13": "d" * 40})
    text = good.read_text()
    bad = {
        'date = "2024-11-19"': 'date = "11/19/24"',
        'categories = ["attention", "evaluation protocol"]': 'categories = ["magic"]',
        'time_s = 301.8': 'time_s = 999.0',
        'builds_on = "11"': 'builds_on = "13"',
        'eval_protocol_change = ': 'eval_change = ',
    }[change]
    assert change in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(change, bad, 1))
    with pytest.raises(HistoryError) as info:
        load(path)
    assert str(path) in str(info.value) and message in str(info.value)
    path.write_text("[[record]\nnumber = ")
    with pytest.raises(HistoryError, match="not valid TOML"):
        load(path)


# ---- text parsing ----------------------------------------------------------------------------------

def test_readme_table_parsing():
    text = readme([row1("records/a/main.log"), row11("records/b/x.txt"), row12("records/c"), ROW12_RETIME, ROW13])
    rows = parse_record_table(text)
    assert [r.key for r in rows] == ["1", "11", "12", "12 (5.10)", "13"]   # track 2's table is not read
    r11, r12, retime = rows[1], rows[2], rows[3]
    assert r11.description == "U-net pattern skip connections & double lr" and r11.date == "2024-11-10"
    assert r11.time_s == pytest.approx(432.0)
    assert r12.logs == ("records/c",) and r12.pr == 99 and "FlexAttention" in r12.description
    assert retime.logs == () and retime.pr is None and retime.number == 12
    with pytest.raises(HistoryError, match="no record table"):
        parse_record_table("# nanoGPT\n\nA small GPT.\n")


def test_script_extraction_from_logs():
    assert script_of_log(old_log(SCRIPT_11), "train_gpt2.py").files == {"train_gpt2.py": SCRIPT_11}
    both = script_of_log(new_log(SCRIPT_12, KERNELS), "train_gpt.py")
    assert list(both.files) == ["train_gpt.py", "triton_kernels.py"]
    assert both.files["triton_kernels.py"] == KERNELS and both.files["train_gpt.py"] == SCRIPT_12
    assert script_of_log("s:0 tel:11.0092\ns:0 trl:11.0091\n", "train_gpt2.py") is None
    assert script_of_log("no rule at all\nimport os\n", "train_gpt.py") is None
    assert split_files("import os\n", "train_gpt.py") == {"train_gpt.py": "import os\n"}


def test_diff_pairs_renamed_trainer_and_normalises():
    old = script_of_log(old_log(SCRIPT_11), "train_gpt2.py")
    new = script_of_log(new_log(SCRIPT_12, KERNELS), "train_gpt.py")
    diff = diff_scripts(old, new, "#11", "#18")
    assert "--- #11/train_gpt2.py\n+++ #18/train_gpt.py\n" in diff
    assert "--- /dev/null\n+++ #18/triton_kernels.py\n" in diff
    assert "+from torch.nn.attention.flex_attention import flex_attention\n" in diff
    # A comment-only change vanishes from a normalised diff but not from a raw one.
    commented = script_of_log(old_log(SCRIPT_11.replace("# dense causal", "# plain causal")), "train_gpt2.py")
    assert diff_scripts(old, commented, "a", "b") != ""
    assert diff_scripts(old, commented, "a", "b", normalised=True) == ""
    assert normalise("x = 1  # one\n") == "x = 1\n"


# ---- the reader --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["work", "bare", "mirror"])
def test_reader_finds_rows_and_follows_renames(clone, kind):
    repo = SpeedrunRepo(getattr(clone, kind))
    assert [r.key for r in repo.rows] == ["1", "11", "12", "12 (5.10)", "13"]
    by_key = {r.key: r for r in repo.rows}
    # The commits that first added each log, through both folder renames (and past the identical copy).
    assert repo.added_by(by_key["1"].logs[0]).sha == clone.shas["1"]
    assert repo.added_by(by_key["11"].logs[0]).sha == clone.shas["11"]
    assert repo.added_by(by_key["12"].logs[0]).sha == clone.shas["12"]        # a folder link
    assert repo.added_by("records/track_1_short/2024-11-10_ScaleShortcuts/" + LOG11).sha == clone.shas["11"]
    assert repo.added_by(by_key["13"].logs[0]).sha == clone.shas["13"]
    log12 = repo.pick_log(by_key["12"].logs[0])
    assert log12.endswith(LOG12)
    assert repo.log_script(log12, "2024-11-19").files == {"train_gpt2.py": SCRIPT_12}
    assert repo.log_script(by_key["1"].logs[0], "2024-05-28") is None
    root = repo.root_script(clone.shas["11"])
    assert list(root.files) == ["train_gpt2.py", "run.sh"] and root.files["train_gpt2.py"] == SCRIPT_11


def test_reader_errors(clone, tmp_path):
    with pytest.raises(HistoryError, match="no such path"):
        SpeedrunRepo(tmp_path / "nowhere")
    with pytest.raises(HistoryError, match="not a git repository"):
        SpeedrunRepo(tmp_path)
    empty = git.Repo.init(tmp_path / "empty")
    with pytest.raises(HistoryError, match="no commits"):
        SpeedrunRepo(empty.working_dir)
    repo = SpeedrunRepo(clone.work)
    with pytest.raises(HistoryError, match="does not exist at HEAD"):
        repo.read_text("records/none.txt")
    with pytest.raises(HistoryError, match="not in"):
        repo.root_script("0123456789abcdef0123456789abcdef01234567")


# ---- the CLI -----------------------------------------------------------------------------------------

def test_cli_lists_history_alone(monkeypatch):
    result = _run(catalogue=Catalogue(names=frozenset({"document_mask", "muon"})), monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    assert "89 numbered records, 2 re-timings" in result.output
    assert "1024-ctx dense causal attention" in result.output and "21 (2.997)" in result.output
    assert "with ingredients in the catalogue: 7 (#3, #4, #8, #12, #13, #15, #20)" in result.output
    assert "Ingredients not yet in the catalogue:" in result.output and "bos_aligned (#26)" in result.output


def test_cli_lists_a_clone_and_checks_it(clone, tmp_path, monkeypatch):
    records = _records_toml(tmp_path / "records.toml", clone.shas)
    cat = Catalogue(names=frozenset({"flex_attention"}))
    for kind in ("work", "mirror"):
        result = _run("--repo", getattr(clone, kind), "--records", records, catalogue=cat, monkeypatch=monkeypatch)
        assert result.exit_code == 0, result.output
        out = result.output
        assert "Found 4 numbered records (5 README rows, 1 re-timings)" in out
        assert "4 with the commit that added their log" in out
        assert f"{clone.shas['12'][:8]} 2024-11-20" in out                 # #12's log, through the renames
        assert "0 disagreement(s)" in out
        assert "with ingredients in the catalogue: 1 (#12)" in out
        assert "document_mask_eval (#12)" in out                            # named, not in the catalogue


def test_cli_check_reports_moved_commits_and_missing_rows(clone, tmp_path, monkeypatch):
    shas = dict(clone.shas, log12="f" * 40)
    records = _records_toml(tmp_path / "records.toml", shas)
    text = records.read_text()
    start = text.index("[[record]]\nnumber = 13")
    records.write_text(text[:start])                                        # drop #13 from history/
    result = _run("--repo", clone.bare, "--records", records, catalogue=Catalogue(), monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"log commit moved: history/ says ffffffff, the clone {clone.shas['12'][:8]}" in out
    assert "log_commit ffffffff is not in the clone" in out
    assert "#13: not in history/records.toml" in out
    assert "3 disagreement(s)" in out


def test_cli_show_12_facts_ingredients_and_diff(clone, monkeypatch):
    # The real records.toml against the synthetic clone, which holds #11's and #12's logs at their real paths.
    cat = Catalogue(names=frozenset({"document_mask"}), summaries={"document_mask": "64K rows, document mask"})
    result = _run("show", "12", "--repo", clone.mirror, catalogue=cat, monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "1024-ctx dense causal attention → 64K-ctx FlexAttention" in out
    assert "5.03 minutes (301.8 s)" in out and "ebce774d" in out and "attention, evaluation protocol" in out
    assert "document_mask" in out and "64K rows, document mask" in out
    assert "Diff of #12's script against #11's" in out
    assert "--- #11/train_gpt2.py" in out and "+++ #12/train_gpt2.py" in out
    assert "+from torch.nn.attention.flex_attention import flex_attention" in out
    assert "-    return F.scaled_dot_product_attention(q, k, v, is_causal=True)" in out
    assert "+num_iterations = 1875" in out


def test_cli_show_without_repo_and_without_script(clone, tmp_path, monkeypatch):
    result = _run("show", "21 (2.997)", catalogue=Catalogue(), monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    assert "re-timing, not a new record" in result.output and "Timing rule change" in result.output
    assert "The diff of the script needs a clone" in result.output
    records = _records_toml(tmp_path / "records.toml", clone.shas)
    result = _run("show", "11", "--repo", clone.work, "--records", records, catalogue=Catalogue(), monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    assert "No diff: #1's log (records/track_1_short/2024-10-13_llmc/main.log) carries no script" in result.output
    result = _run("show", "13", "--repo", clone.work, "--records", records, "--against", "11",
                  catalogue=Catalogue(), monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    assert "+++ #13/train_gpt2.py" in result.output and "+++ #13/triton_kernels.py" in result.output


def test_cli_errors_are_clear(clone, tmp_path, monkeypatch):
    plain = tmp_path / "plain"
    plain.mkdir()
    other = git.Repo.init(tmp_path / "other")
    (tmp_path / "other/README.md").write_text("# some other project\n")
    other.index.add(["README.md"])
    other.index.commit("init", author=WHO, committer=WHO)
    cases = [
        (["--repo", tmp_path / "missing"], "no such path"),
        (["--repo", plain], "is not a git repository"),
        (["--repo", other.working_dir], "no record table"),
        (["show", "12", "--repo", other.working_dir], "no record table"),
        (["show", "999"], "no record '999'"),
    ]
    for args, message in cases:
        result = _run(*args, catalogue=Catalogue(), monkeypatch=monkeypatch)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr and "Traceback" not in result.output + result.stderr


def test_cli_missing_objects(clone, tmp_path, monkeypatch):
    broken = tmp_path / "broken"
    shutil.copytree(clone.work, broken)
    repo = git.Repo(broken)
    blob = repo.head.commit.tree / f"records/track_1_short/2024-11-19_FlexAttention/{LOG12}"
    (broken / ".git/objects" / blob.hexsha[:2] / blob.hexsha[2:]).unlink()
    result = _run("show", "12", "--repo", broken, catalogue=Catalogue(), monkeypatch=monkeypatch)
    assert result.exit_code == 2, result.output
    assert f"the object for records/track_1_short/2024-11-19_FlexAttention/{LOG12}" in result.stderr
    assert "is missing" in result.stderr
    # Listing reads no blob content beyond the README, so a partial clone still lists.
    assert _run("--repo", broken, catalogue=Catalogue(), monkeypatch=monkeypatch).exit_code == 0


def test_cli_survives_a_broken_catalogue(monkeypatch):
    monkeypatch.setitem(sys.modules, "remix.ingredient", types.ModuleType("remix.ingredient"))
    result = CliRunner().invoke(app, ["show", "12"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "the ingredient catalogue could not be read" in result.output
    assert "not yet" in result.output


def test_only_repo_imports_git():
    code = ("import sys; import history.cli, history.check, history.show, history.data, reports.records_plot; "
            "assert 'git' not in sys.modules, 'git imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


# ---- the plot ----------------------------------------------------------------------------------------

def test_plot_writes_png_and_svg(tmp_path):
    from reports.records_plot import plot_records
    h = default_history()
    paths = plot_records(h.records, h.baselines, {"document_mask", "muon"}, tmp_path / "figs")
    assert [p.name for p in paths] == ["records.png", "records.svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[0].stat().st_size > 20_000
    svg = paths[1].read_text()
    assert "remixed script A (AdamW): 10 m 15 s (its own log, not a remix run)" in svg
    assert "remixed script M (Muon): 6 m 7 s" in svg
    assert "#12" in svg and "#3" in svg and "#26" not in svg      # labels only where the catalogue has ingredients
    with pytest.raises(ValueError):
        plot_records([], h.baselines, set(), tmp_path)


def test_crowded_labels_are_left_out_not_overprinted(tmp_path):
    """With every ingredient in the catalogue the 2025-26 records crowd: a label that would sit on another is
    left out (its marker stays), the isolated early records keep theirs."""
    import re
    from reports.records_plot import plot_records
    h = default_history()
    everything = {n for r in h.records for n in r.ingredients}
    svg = plot_records(h.records, h.baselines, everything, tmp_path)[1].read_text()
    labels = set(re.findall(r">(#\d+[^<]*)<", svg))
    covered = {r.key for r in h.records if r.ingredients}
    assert {"#2", "#3", "#5", "#8"} <= labels
    assert 20 <= len(labels) < len(covered)


# ---- every record accounted for (issue #16) ---------------------------------------------------------

def test_every_numbered_record_has_ingredients_or_a_reason():
    h, cat = default_history(), read_catalogue()
    assert cat.error is None
    for r in h.records:
        assert r.ingredients or r.reason, f"#{r.key} has neither ingredients nor a reason"
        assert all(n in cat for n in r.ingredients), (r.key, [n for n in r.ingredients if n not in cat])
        assert r.coverage(cat.names) in ("all", "part", "none")
    assert {r.key for r in h.records if r.reason} == {"1", "6", "7", "21 (2.997)", "25", "65", "66", "69",
                                                       "71"}
    assert h.get(21).coverage(cat.names) == "part" and "393,216" in h.get(21).missing


def test_record_ingredients_are_the_records_the_cards_cite():
    """records.toml and the catalogue's provenance say the same thing (no overstated coverage: #9, #14)."""
    h, cat = default_history(), read_catalogue()
    cited: dict[str, set[str]] = {}
    for name, keys in cat.cites.items():
        for key in keys:
            cited.setdefault(h.get(key).key, set()).add(name)
    for r in h.records:
        assert set(r.ingredients) == cited.get(r.key, set()), r.key
    assert {"value_residual", "x0_mixing", "logit_softcap", "muon_momentum_warmup"} == set(h.get(9).ingredients)
    assert "value_embeds" in h.get(14).ingredients


def test_a_reason_beside_ingredients_is_an_error(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('[[record]]\nnumber = 1\ndate = "2024-05-28"\ntime = "45 minutes"\ntime_s = 2700.0\n'
                    'description = "x"\ncategories = ["baseline"]\ningredients = ["rope"]\nreason = "why"\n')
    with pytest.raises(HistoryError, match="key 'reason': a record with ingredients needs no reason"):
        load(path)


def test_history_json_lists_every_record_with_ingredients_or_reason():
    import json
    result = CliRunner().invoke(app, ["--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 91 and [r["number"] for r in rows if not r["variant"]] == list(range(1, 90))
    for r in rows:
        assert r["ingredients"] or r["reason"], r["key"]
    by = {r["key"]: r for r in rows}
    assert by["7"]["reason"].startswith("PyTorch upgrade") and by["7"]["coverage"] == "none"
    assert by["21 (2.997)"]["reason"].startswith("timing rule")
    assert {"name": "value_embeds", "in_catalogue": True} in by["14"]["ingredients"]


def test_history_reads_at_80_columns():
    result = CliRunner().invoke(app, [], env={"COLUMNS": "80", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    text = result.output
    for name in ("zero_init_projections", "muon_momentum_warmup", "partitioned_hyperconnections"):
        assert name in text                                   # names are never cut
    row7 = next(line for line in lines if line.startswith("│ ") and line.split("│")[1].strip() == "7")
    assert "PyTorch upgrade" in row7 and "none" in row7
    assert "0 unaccounted for" in " ".join(text.split())
