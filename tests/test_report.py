"""`remix report` from fixture records: every file, numbers that follow from the records, bad files skipped.

tests/fixtures/records holds prefix and leave-one-out sweeps of two recipes (2 seeds each), made by
`python -m reports.synthetic tests/fixtures/records` from a known loss law (reports/synthetic.py),
plus three files that are not valid records: truncated JSON, a foreign JSON, a record whose
final_val_loss is a string.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from remix import ttt
from remix.cli_report import register
from remix.results import ResultStore
from reports import synthetic
from reports.analysis import analyse
from reports.build import ReportError, build_report
from reports.load import load_records

FIXTURES = Path(__file__).parent / "fixtures" / "records"
BAD = {"truncated.json", "foreign.json", "wrong-type.json"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return build_report(FIXTURES, out, history=False), out


def test_report_writes_every_figure_table_and_the_markdown(built):
    rep, out = built
    stems = ["recipes", "interaction"] + [f"{kind}-{r}" for r in ("adamw_baseline", "muon_baseline")
                                          for kind in ("waterfall", "curves", "leave-one-out")]
    for stem in stems:
        png, svg = out / f"{stem}.png", out / f"{stem}.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", stem
        assert ET.parse(svg).getroot().tag.endswith("svg"), stem
        assert png in rep.files and svg in rep.files
    for table in ("variants", "seeds", "marginal", "leave_one_out", "interaction"):
        assert len(pd.read_csv(out / f"{table}.csv")) > 0
    text = (out / "report.md").read_text()
    for stem in stems:
        assert f"]({stem}.png)" in text                        # every figure is in the report
    assert "8× NVIDIA H100 80GB HBM3" in text and "2.7.0" in text   # hardware and software named
    assert "**exact**" in text and "**cheap**" in text           # the modes explained
    assert rep.records == 44


def test_malformed_and_foreign_files_are_skipped_with_a_reason(built):
    rep, out = built
    reasons = {p.name: why for p, why in rep.skipped}
    assert set(reasons) == BAD
    assert "malformed JSON" in reasons["truncated.json"]
    assert "not a remix run record" in reasons["foreign.json"]
    assert "final_val_loss" in reasons["wrong-type.json"]
    text = (out / "report.md").read_text()
    assert "## Skipped files" in text and all(name in text for name in BAD)


def test_times_follow_from_the_records_by_the_cheap_mode():
    t = analyse(load_records(FIXTURES))
    v = t.variants.set_index(["recipe", "label"])
    full = v.loc[("muon_baseline", "muon_baseline")]
    assert full["mode"] == "cheap" and full.n_seeds == 2
    # recompute seed 0 by hand from the law that made the records
    names = tuple(synthetic.RECIPES["muon_baseline"])
    (l1, ms1), (l2, _) = synthetic.law(names, 2500, 0), synthetic.law(names, 3125, 0)
    slope = (l2 - l1) / 625
    steps = 2500 + (synthetic.TARGET - l1) / slope
    seed0 = t.seeds[(t.seeds.recipe == "muon_baseline") & (t.seeds.label == "muon_baseline") & (t.seeds.seed == 0)]
    assert seed0.steps_to_target.iloc[0] == pytest.approx(steps)
    assert seed0.time_s.iloc[0] == pytest.approx(steps * ms1 / 1000, rel=0.01)
    # a variant run at one step count borrows the full recipe's measured slope, and says so
    assert v.loc[("muon_baseline", "base")].slope_from == "muon_baseline"


def test_marginal_and_leave_one_out_rank_only_real_effects():
    t = analyse(load_records(FIXTURES))
    m = t.marginal[t.marginal.recipe == "muon_baseline"].set_index("ingredient")
    assert list(m.index) == synthetic.RECIPES["muon_baseline"]          # the recipe's order
    assert m.loc["muon"].delta < m.loc["rope"].delta < 0                # muon is the biggest saving
    assert not m.loc["qk_norm"].significant and "within noise" in m.loc["qk_norm"].verdict
    loo = t.leave_one_out[t.leave_one_out.recipe == "muon_baseline"].set_index("ingredient")
    assert loo.loc["muon"]["rank"] == 1 and loo.loc["muon"].cost > 0
    assert pd.isna(loo.loc["qk_norm"]["rank"])                         # within noise: not ranked
    inter = t.interaction
    assert set(inter.ingredient) == {"rmsnorm", "rope", "relu2", "qk_norm"}   # the shared ingredients
    assert set(inter.source) == {"leave-one-out"}


def test_exact_mode_only_from_a_converged_bracket(tmp_path):
    store = ResultStore(tmp_path)
    synthetic.write_sweep(store, "muon_baseline", "prefixes", seeds=1, main_steps=2300)   # 2300 above, 2875 below
    t = analyse(load_records(tmp_path))
    full = t.variants.set_index("label").loc["muon_baseline"]
    # a 20% bracket (the slope run) is a local slope, not a converged search
    assert full["mode"] == "cheap" and full.slope_from == "own runs"
    names = list(synthetic.RECIPES["muon_baseline"])
    for steps in (2350, 2450):        # a search's last round: 4% apart around the crossing (~2400)
        synthetic.write_single(store, "muon_baseline", names, {"kind": "full"}, steps, 0)
    t = analyse(load_records(tmp_path))
    full = t.variants.set_index("label").loc["muon_baseline"]
    assert full["mode"] == "exact" and full.bracket == pytest.approx(100 / 2450)
    a = synthetic.BASE_A * 0.93 * 0.85 * 0.95 * 1.0 * 0.62
    truth = (a / (synthetic.TARGET - synthetic.FLOOR - ttt_noise(names=5, seed=0))) ** 2
    assert full.steps_to_target == pytest.approx(truth, rel=0.002)


def ttt_noise(names: int, seed: int) -> float:
    import math
    return 0.0015 * math.sin(seed * 12.9898 + names * 78.233)


def test_a_base_shared_by_two_recipes_counts_for_both(tmp_path):
    store = ResultStore(tmp_path)
    for recipe in ("adamw_baseline", "muon_baseline"):     # same steps: the base run has one identity
        synthetic.write_sweep(store, recipe, "prefixes", seeds=1, main_steps=2500)
    loaded = load_records(tmp_path)
    bases = loaded.members[loaded.members.rkey == "prefix:0"]
    assert bases.identity.nunique() == 1 and set(bases.recipe) == {"adamw_baseline", "muon_baseline"}
    t = analyse(loaded)
    assert list(t.recipes.bar) == ["base", "adamw_baseline", "muon_baseline"]
    assert set(t.marginal[t.marginal["index"] == 1].recipe) == {"adamw_baseline", "muon_baseline"}


def test_recipe_filter_and_clear_errors(tmp_path):
    rep = build_report(FIXTURES, tmp_path / "m", recipe="muon_baseline", history=False)
    names = {p.name for p in rep.files}
    assert "waterfall-muon_baseline.png" in names and "waterfall-adamw_baseline.png" not in names
    with pytest.raises(ReportError, match="recipes there: adamw_baseline, muon_baseline"):
        build_report(FIXTURES, tmp_path / "x", recipe="nope")
    with pytest.raises(ReportError, match="no such results directory"):
        build_report(tmp_path / "missing", tmp_path / "x")
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    for name in BAD:
        shutil.copy(FIXTURES / name, only_bad / name)
    with pytest.raises(ReportError, match="no remix run records found; 3 file"):
        build_report(only_bad, tmp_path / "x")


def test_runs_without_a_time_fall_back_to_loss_and_say_so(tmp_path):
    store = ResultStore(tmp_path)
    synthetic.write_sweep(store, "muon_baseline", "prefixes", seeds=1)
    for path in tmp_path.glob("*.json"):           # lose the slope run: no slope, no cheap mode
        d = json.loads(path.read_text())
        if d["sweep"]["role"] == "slope":
            path.unlink()
    rep = build_report(tmp_path, tmp_path / "out", history=False)
    t = analyse(load_records(tmp_path))
    assert set(t.variants["mode"]) == {ttt.NONE} and set(t.marginal.metric) == {"loss"}
    text = rep.markdown.read_text()
    assert "compares final val loss" in text and "no slope measured" in text
    assert (tmp_path / "out" / "waterfall-muon_baseline.png").exists()


def test_cli_report_and_status(tmp_path):
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    res = runner.invoke(app, ["report", "--results", str(FIXTURES), "--out", str(tmp_path / "r"), "--no-history"])
    assert res.exit_code == 0, res.output
    assert "skipped" in res.output and "truncated.json" in res.output
    assert (tmp_path / "r" / "report.md").exists()
    res = runner.invoke(app, ["report", "--results", str(tmp_path / "none")])
    assert res.exit_code == 2 and "no such results directory" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["status", "--results", str(FIXTURES)])
    assert res.exit_code == 0, res.output
    assert "muon_baseline prefixes sweep" in res.output and "14/14 done" in res.output


def test_speedrun_history_figure_is_added_when_available_and_never_breaks_the_report(tmp_path, monkeypatch):
    pytest.importorskip("reports.records_plot")
    import history.catalogue
    import reports.records_plot
    # the real catalogue imports torch; the figure only needs the names
    monkeypatch.setattr(history.catalogue, "read_catalogue", lambda: history.catalogue.Catalogue(frozenset({"muon"})))
    rep = build_report(FIXTURES, tmp_path / "a", recipe="muon_baseline")
    assert (tmp_path / "a" / "history" / "records.png").exists()
    assert "](history/records.png)" in rep.markdown.read_text()

    def broken(*a, **k):
        raise RuntimeError("no records")
    monkeypatch.setattr(reports.records_plot, "plot_records", broken)
    rep = build_report(FIXTURES, tmp_path / "b", recipe="muon_baseline")
    assert rep.markdown.exists() and any("history figure skipped" in n for n in rep.notes)


def test_a_different_target_can_be_asked_of_the_same_records(tmp_path):
    own = analyse(load_records(FIXTURES)).variants.set_index(["recipe", "label"])
    lower = analyse(load_records(FIXTURES, target=3.25)).variants.set_index(["recipe", "label"])
    key = ("muon_baseline", "muon_baseline")
    assert lower.loc[key].time_s > own.loc[key].time_s           # a lower loss takes longer to reach
    rep = build_report(FIXTURES, tmp_path, history=False, target=3.25)
    assert "target 3.25" in rep.markdown.read_text()
    with pytest.raises(ReportError, match="positive val loss"):
        build_report(FIXTURES, tmp_path, target=-1.0)


def test_diverged_and_running_variants_are_listed_not_dropped(tmp_path):
    store = ResultStore(tmp_path)
    synthetic.write_sweep(store, "muon_baseline", "prefixes", seeds=1)
    for path in tmp_path.glob("*.json"):
        d = json.loads(path.read_text())
        index = d["variant"].get("index")
        if index == 2:
            d.update(status="diverged", final_val_loss=None, message="loss became NaN at step 812")
        elif index == 4:
            d.update(status="running", final_val_loss=None, finished_at="")
        path.write_text(json.dumps(d))
    rep = build_report(tmp_path, tmp_path / "out", history=False)
    v = analyse(load_records(tmp_path)).variants.set_index("label")
    assert v.loc["+rope"].note == "no run with a final val loss at 2,500 steps: 1 diverged"
    assert v.loc["+rope"]["mode"] == "none"
    assert v.loc["+qk_norm"].note == "no run with a final val loss at 2,500 steps: 1 running"
    text = rep.markdown.read_text()
    assert "no run with a final val loss at 2,500 steps: 1 diverged" in text
    assert (tmp_path / "out" / "waterfall-muon_baseline.png").exists()


def test_a_new_report_replaces_the_old_one_and_touches_nothing_else(tmp_path):
    out = tmp_path / "report"
    build_report(FIXTURES, out, history=False)
    assert (out / "waterfall-adamw_baseline.png").exists()
    (out / "notes.txt").write_text("mine")                       # a file the report did not write
    build_report(FIXTURES, out, recipe="muon_baseline", history=False)
    assert not (out / "waterfall-adamw_baseline.png").exists()    # no stale figure of the other recipe
    assert (out / "waterfall-muon_baseline.png").exists() and (out / "notes.txt").read_text() == "mine"


def test_one_run_is_titled_as_one_run(tmp_path):
    store = ResultStore(tmp_path / "results")
    synthetic.write_single(store, "muon_baseline", synthetic.RECIPES["muon_baseline"], {"kind": "full"}, 2500, 0)
    rep = build_report(tmp_path / "results", tmp_path / "out", history=False)
    svg = (tmp_path / "out" / "curves-muon_baseline.svg").read_text()
    assert "Validation loss of muon_baseline<" in svg or "Validation loss of muon_baseline</" in svg
    assert "1 run;" in svg and "sweep" not in svg and "1 runs" not in svg
    assert rep.markdown.exists()


def test_a_run_at_another_step_count_says_its_own():
    """The reason a variant has no number at N steps names runs planned at other step counts as such (a
    stopped 120-step run is not an interrupted run at 20 steps)."""
    from reports.analysis import Run, _issues
    runs = [Run("a", 0, 120, None, None, "interrupted", ""), Run("b", 0, 20, None, None, "diverged", "NaN")]
    assert _issues(runs, 20) == "1 diverged; 1 interrupted at 120 steps"
    assert _issues(runs) == "1 diverged; 1 interrupted"


def test_leave_one_out_labels_say_untested_where_no_test_could_run(tmp_path, monkeypatch):
    """One seed each gives no p-value: the bar is grey, and its label says untested, not noise."""
    from reports import figures
    drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, out, stem: drawn.append(fig) or [])
    nan = float("nan")
    loo = pd.DataFrame([
        dict(ingredient="rope", cost=25.5, cost_lo=nan, cost_hi=nan, p_value=nan, significant=False, rank=None, metric="time",
             mode="cheap"),
        dict(ingredient="relu2", cost=1.2, cost_lo=0.1, cost_hi=2.0, p_value=0.3, significant=False, rank=None, metric="time",
             mode="cheap"),
        dict(ingredient="muon", cost=40.0, cost_lo=30.0, cost_hi=50.0, p_value=0.001, significant=True, rank=1, metric="time",
             mode="cheap"),
    ])
    figures.leave_one_out(loo, "smoke", "CPU", tmp_path, "loo")
    labels = [t.get_text() for t in drawn[0].axes[0].get_yticklabels()]
    assert sorted(labels) == ["muon  (#1)", "relu2  (noise)", "rope  (untested)"]
