"""The report's analysis on the record sets of issue #10, and a property test over random record sets.

The two reproductions are built with the real planner (remix.runner.plan_run on recipes/muon_baseline.toml
at --scale tiny, through the real sweep planner and the in-process executor), so their variants, specs,
identities and manifests are exactly what the README's commands write; only training is replaced by a
known loss law (`fake_execute`), so every number in the tables is known in advance.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remix import sweep as sw
from remix import ttt
from remix.executors import InProcess
from remix.options import RunOptions
from remix.recipe import load_recipe
from remix.results import CurvePoint, ResultStore
from remix.runner import new_result, plan_run
from reports import synthetic
from reports.analysis import analyse, merge_notes
from reports.build import build_report
from reports.load import load_records

from conftest import RECIPES

TINY = RunOptions(scale="tiny", device="cpu")
FLOOR, INITIAL = 1.9, 5.6


def effect(name: str) -> float:
    """Each ingredient's factor on the loss law's a: 0.90–0.98, fixed per name."""
    return 0.90 + (zlib.crc32(name.encode()) % 9) / 100


def law(names: list[str], steps: int, seed: int) -> float:
    a = 3.8
    for n in names:
        a *= effect(n)
    a /= math.prod(effect(n) for n in load_recipe(RECIPES / "muon_baseline.toml").names) ** 0.5
    return FLOOR + a / math.sqrt(steps) + 0.004 * math.sin(7.3 * seed + len(names))


BLOWS_UP: set[str] = set()   # a prefix whose last ingredient is here ends above its initial val loss


def fake_execute(plan, store, *, force=False, sweep=None, watch=None):
    done = store.finished(plan.identity)
    if done is not None and not force:
        return done
    r = new_result(plan, sweep)
    names = [n for n, _ in plan.recipe.ingredients]
    steps = plan.spec.train.steps
    loss = law(names, steps, plan.seed)
    if names and names[-1] in BLOWS_UP and plan.variant.get("kind") == "prefix":
        loss = 89.5
    ms = 300.0 * (1 + 0.01 * len(names))
    r.curve = [CurvePoint(0, 0.0, None, INITIAL), CurvePoint(steps, steps * ms, loss, loss)]
    r.status, r.final_val_loss, r.steps_done = "finished", loss, steps
    r.train_time_ms, r.ms_per_step = steps * ms, ms
    r.finished_at = "2026-12-01T00:00:00+00:00"
    store.save(r)
    return r


def run(store, recipe, kind, *, seeds=1, steps=None):
    """What `remix run|ablate ... --scale tiny [--steps N] [--seeds K]` records, with fake training."""
    options = replace(TINY, steps=steps)
    if kind == "single":
        plan = plan_run(recipe, options)
        return [fake_execute(plan, store)]
    s = sw.plan_sweep(recipe, kind=kind, seeds=seeds, options=options)
    return sw.run_sweep(s, store, executor=InProcess(fake_execute))


@pytest.fixture(scope="module")
def muon():
    return load_recipe(RECIPES / "muon_baseline.toml")


# --- reproduction 1: a standalone run of the full recipe beside its prefix sweep ------------------

@pytest.fixture(scope="module")
def standalone_and_prefixes(tmp_path_factory, muon):
    store = ResultStore(tmp_path_factory.mktemp("repro1"))
    run(store, muon, "single")                          # remix run recipes/muon_baseline.toml --scale tiny
    run(store, muon, "prefixes", steps=30)              # ... --prefixes --scale tiny --steps 30
    return store, analyse(load_records(store.root))


def test_the_standalone_run_and_the_last_prefix_are_one_variant(standalone_and_prefixes, muon):
    store, t = standalone_and_prefixes
    loaded = load_records(store.root)
    full = loaded.runs[loaded.runs.ingredients == " > ".join(muon.names)]
    assert sorted(full.steps) == [30, 38, 120] and full.variant.nunique() == 1
    v = t.variants.set_index(["label", "main_steps"])
    # the same variant, two step counts: two rows, never pooled into one estimate
    assert ("muon_baseline", 30) in v.index and ("muon_baseline", 120) in v.index
    assert v.loc[("muon_baseline", 30)].n_runs == v.loc[("muon_baseline", 120)].n_runs == 3


def test_marginal_table_has_every_ingredient_once_with_the_last_one(standalone_and_prefixes, muon):
    _, t = standalone_and_prefixes
    m = t.marginal[t.marginal.recipe == "muon_baseline"]
    assert list(m.ingredient) == muon.names and len(m) == len(muon.names)
    assert list(m["index"]) == list(range(1, len(muon.names) + 1))
    last = m.set_index("ingredient").loc[muon.names[-1]]
    v = t.variants.set_index(["label", "main_steps"])
    # the last Δ ends at the full recipe at 30 steps (the prefix sweep's), not at the standalone 120-step run
    assert last.after == pytest.approx(v.loc[("muon_baseline", 30)].loss if last.metric == "loss"
                                       else v.loc[("muon_baseline", 30)].time_s)
    before = v.loc[(f"+{muon.names[-2]}", 30)]
    assert last.before == pytest.approx(before.loss if last.metric == "loss" else before.time_s)
    assert set(m.steps) == {30}


def test_marginal_csv_and_waterfall_name_the_last_ingredient(tmp_path, standalone_and_prefixes, muon):
    store, _ = standalone_and_prefixes
    rep = build_report(store.root, tmp_path / "report", history=False)
    marginal = pd.read_csv(tmp_path / "report" / "marginal.csv")
    assert len(marginal) == len(muon.names) and marginal.ingredient.iloc[-1] == muon.names[-1] == "fused_softcap_ce"
    assert (tmp_path / "report" / "waterfall-muon_baseline.png") in rep.files
    assert "fused_softcap_ce" in rep.markdown.read_text()


# --- reproduction 2: ablate --drop rope beside a 3-seed leave-each-out at 30 steps -----------------

@pytest.fixture(scope="module")
def drop_and_each(tmp_path_factory, muon):
    store = ResultStore(tmp_path_factory.mktemp("repro2"))
    run(store, muon.drop("rope"), "single")                  # remix ablate ... --drop rope --scale tiny
    run(store, muon, "each", seeds=3, steps=30)              # ... --each --seeds 3 --scale tiny --steps 30
    return store, analyse(load_records(store.root))


def test_runs_of_different_step_counts_are_not_pooled(drop_and_each):
    _, t = drop_and_each
    v = t.variants.set_index(["label", "main_steps"])
    at30, at120 = v.loc[("−rope", 30)], v.loc[("−rope", 120)]
    assert at30.n_seeds == 3 and at120.n_seeds == 1
    # a 30-step and a 120-step run that straddle the target are not an exact bracket
    assert "exact" not in set(t.variants["mode"])
    # one slope source for every seed of −rope at 30 steps: the full recipe's slope run
    seeds = t.seeds[(t.seeds.label == "−rope") & (t.seeds.main_steps == 30)]
    assert len(seeds) == 3 and all(s == "" or "muon_baseline" in s.split(" = ") for s in seeds.slope_from)
    assert len({round(s, 12) for s in seeds.slope_per_100.dropna()}) <= 1


def test_no_interval_is_a_negative_time(drop_and_each, tmp_path):
    store, t = drop_and_each
    for df in (t.variants, t.seeds, t.recipes):
        lo = pd.to_numeric(df.time_lo_s, errors="coerce").dropna()
        assert (lo >= 0).all()
    build_report(store.root, tmp_path / "r", history=False)
    variants = pd.read_csv(tmp_path / "r" / "variants.csv")
    assert (variants.time_lo_s.dropna() >= 0).all()


def test_leave_one_out_compares_at_the_sweep_step_count(drop_and_each, muon):
    _, t = drop_and_each
    loo = t.leave_one_out.set_index("ingredient")
    assert set(loo.steps) == {30}
    assert "rope" in loo.index and loo.loc["rope"].n_seeds == 3
    assert "muon,muon_momentum_warmup" in loo.index          # dropped with its dependent
    assert len(loo) == len(muon.names)


# --- unstable runs --------------------------------------------------------------------------------

def test_an_unstable_prefix_is_reported_and_charges_no_ingredient(tmp_path, muon):
    BLOWS_UP.add("adam_groups")
    try:
        store = ResultStore(tmp_path)
        run(store, muon, "prefixes", steps=30)
    finally:
        BLOWS_UP.clear()
    t = analyse(load_records(tmp_path))
    k = muon.names.index("adam_groups") + 1
    v = t.variants.set_index("label").loc["+adam_groups"]
    assert v["mode"] == "none" and "unstable" in v.note
    m = t.marginal.set_index("index")
    assert "unstable" in m.loc[k].verdict and pd.isna(m.loc[k].delta)
    assert "unstable" in m.loc[k + 1].verdict and pd.isna(m.loc[k + 1].delta)   # the next one is not charged
    assert m.drop(index=[k, k + 1]).delta.notna().all()
    assert len(m) == len(muon.names)
    rep = build_report(tmp_path, tmp_path / "out", history=False)
    assert "unstable" in rep.markdown.read_text()


def test_a_finished_record_without_a_loss_says_so(tmp_path):
    store = ResultStore(tmp_path)
    synthetic.write_sweep(store, "muon_baseline", "prefixes", seeds=1)
    path = next(p for p in tmp_path.glob("*.json") if json.loads(p.read_text())["variant"].get("index") == 2)
    path.write_text(path.read_text().replace('"final_val_loss": ' + json.dumps(json.loads(path.read_text())["final_val_loss"]),
                                             '"final_val_loss": NaN'))
    v = analyse(load_records(tmp_path)).variants.set_index("label").loc["+rope"]
    assert "1 finished without a final val loss" in v.note and "no finished run" not in v.note


def test_notes_of_several_seeds_are_one_note():
    assert merge_notes({0: "extrapolated +30% from the run's steps: indicative only",
                        1: "extrapolated +45% from the run's steps: indicative only",
                        2: "extrapolated +38% from the run's steps: indicative only"}) == \
        "extrapolated +30% to +45% from the run's steps: indicative only"
    assert merge_notes({0: "a", 1: ""}) == "a (seed 0)"


# --- property: any mix of sweeps and single runs --------------------------------------------------

NAMES = synthetic.RECIPES["muon_baseline"]


@st.composite
def record_sets(draw):
    steps = st.sampled_from([1800, 2000, 2200, 2500, 3000, 4000])
    plan = {"prefix": (draw(st.integers(1, 3)), draw(steps)),
            "standalone": draw(st.lists(st.tuples(steps, st.integers(0, 3)), max_size=3)),
            "drops": draw(st.lists(st.tuples(st.sampled_from(NAMES), steps, st.integers(0, 3)), max_size=3)),
            "each": draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), steps))),
            "broken": draw(st.lists(st.tuples(st.integers(0, 60), st.sampled_from(["unstable", "diverged"])),
                                    max_size=3))}
    return plan


# derandomize: every CI run checks the same 40 examples, so a landing never fails on a newly drawn one
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record_sets())
def test_every_ingredient_once_and_no_negative_interval(tmp_path_factory, plan):
    root = tmp_path_factory.mktemp("prop")
    store = ResultStore(root)
    seeds, steps = plan["prefix"]
    synthetic.write_sweep(store, "muon_baseline", "prefixes", seeds=seeds, main_steps=steps)
    for s, seed in plan["standalone"]:
        synthetic.write_single(store, "muon_baseline", NAMES, {"kind": "full"}, s, seed)
    for name, s, seed in plan["drops"]:
        synthetic.write_single(store, "muon_baseline", [n for n in NAMES if n != name],
                               {"kind": "drop", "dropped": [name]}, s, seed)
    if plan["each"]:
        synthetic.write_sweep(store, "muon_baseline", "each", seeds=plan["each"][0], main_steps=plan["each"][1])
    files = sorted(root.glob("*.json"))
    for i, status in plan["broken"]:
        path = files[i % len(files)]
        d = json.loads(path.read_text())
        if status == "unstable":
            d["final_val_loss"] = d["curve"][0]["val_loss"] + 1.0
        else:
            d.update(status="diverged", final_val_loss=None)
        path.write_text(json.dumps(d))
    t = analyse(load_records(root))
    m = t.marginal[t.marginal.recipe == "muon_baseline"]
    assert list(m.ingredient) == NAMES
    for df, cols in ((t.variants, ("time_lo_s", "time_hi_s")), (t.seeds, ("time_lo_s", "time_hi_s")),
                     (t.recipes, ("time_lo_s", "time_hi_s"))):
        if len(df):
            for c in cols:
                assert (pd.to_numeric(df[c], errors="coerce").dropna() >= 0).all()
            assert (pd.to_numeric(df.time_s, errors="coerce").dropna() > 0).all()
    if len(t.leave_one_out):
        assert t.leave_one_out.groupby(["context", "recipe", "ingredient"]).size().max() == 1
    # a variant without a usable run at the table's step count is never a number in a comparison, unless its
    # estimate is exact (a converged bracket of runs at other step counts, which does not depend on them)
    usable = {(r.variant, r.main_steps): r.usable and (bool(r.losses) or r.mode == "exact")
              for r in t.variants.itertuples()}
    for row in m.itertuples():
        sides = [usable.get((v, row.steps), False) for v in (row.before_variant, row.after_variant)]
        assert pd.isna(row.delta) or all(sides)
        assert not pd.isna(row.delta) or "n/a" in row.verdict
    # every time comes with the mode that made it
    none = t.variants[t.variants["mode"] == ttt.NONE]
    assert none.time_s.isna().all()


# --- the same, on the records those commands wrote on an H200 ---------------------------------------

H200 = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "issue10_h200"


def test_real_records_of_reproduction_1():
    loaded = load_records(H200 / "results1")
    t = analyse(loaded)
    m = t.marginal
    # the recipe as it was when these records were made (its ingredients have been renamed since)
    names = [i["name"] for i in max((r.ingredients for r in loaded.records.values()), key=len)]
    assert len(names) == 22 and list(m.ingredient) == names and set(m.steps) == {30}
    v = t.variants.set_index(["label", "main_steps"])
    assert m.after.iloc[-1] == pytest.approx(v.loc[("muon_baseline", 30)].loss)
    assert ("muon_baseline", 120) in v.index and v.loc[("muon_baseline", 120)].n_runs == 3


def test_real_records_of_reproduction_2():
    t = analyse(load_records(H200 / "results2"))
    v = t.variants.set_index(["label", "main_steps"])
    assert v.loc[("−rope", 30)].n_seeds == 3 and v.loc[("−rope", 120)].n_seeds == 1
    assert v.loc[("−rope", 30)].slope_from == "muon_baseline"
    assert "exact" not in set(t.variants["mode"])
    assert (pd.to_numeric(t.variants.time_lo_s, errors="coerce").dropna() > 0).all()
    assert "1 unstable" in v.loc[("−logit_softcap", 30)].note


def test_a_swap_is_not_a_leave_one_out(tmp_path):
    """`remix ablate M --drop fused_softcap_ce --add bf16_ce` swaps; only a pure drop prices what it leaves out."""
    store = ResultStore(tmp_path)
    for seed in (0, 1):
        synthetic.write_single(store, "muon_baseline", NAMES, {"kind": "full"}, 30, seed)
        synthetic.write_single(store, "muon_baseline", [n for n in NAMES if n != "rope"],
                               {"kind": "drop", "dropped": ["rope"]}, 30, seed)
        synthetic.write_single(store, "muon_baseline", [n for n in NAMES if n != "relu2"] + ["bf16_ce"],
                               {"kind": "drop", "dropped": ["relu2"], "added": ["bf16_ce"]}, 30, seed)
        synthetic.write_single(store, "muon_baseline", NAMES + ["value_embeds"],
                               {"kind": "add", "added": ["value_embeds"]}, 30, seed)
    t = analyse(load_records(tmp_path))
    assert list(t.leave_one_out.ingredient) == ["rope"]
    assert "−relu2 +bf16_ce" in set(t.variants.label)   # still in the table of variants, named as the swap
    # additions and swaps: each against the full recipe at its step count
    c = t.changes.set_index("change")
    assert sorted(c.index) == ["+value_embeds", "−relu2 +bf16_ce"] and set(c.steps) == {30}
    v = t.variants.set_index("label")
    for change in c.index:
        col = "time_s" if c.loc[change, "metric"] == "time" else "loss"
        assert c.loc[change, "delta"] == pytest.approx(v.loc[change, col] - v.loc["muon_baseline", col])
    rep = build_report(tmp_path, tmp_path / "report", history=False)
    text = rep.markdown.read_text()
    assert "#### Additions and swaps" in text and "| +value_embeds | 30 |" in text
    assert (tmp_path / "report" / "changes.csv") in rep.files


def test_the_marginal_verdict_says_same_spec_and_same_math(standalone_and_prefixes):
    """At tiny scale bf16_params and long_rows change nothing (the sweep trains their prefix once); the
    closing kernels keep the math, so a loss Δ cannot price them."""
    _, t = standalone_and_prefixes
    v = t.marginal[t.marginal.recipe == "muon_baseline"].set_index("ingredient").verdict
    assert v["bf16_params"].startswith("no effect here: the same spec as the prefix before")
    assert "same math: what it is worth is time" in v["fused_softcap_ce"]
    assert "same math" in v["block_mask_from_bounds"] and "same math" not in v["rope"]
