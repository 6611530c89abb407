"""benchmarks/ingredients_gpu.py: a primed run is the measured run's command, shorter and elsewhere."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pytest

from conftest import ROOT

spec = importlib.util.spec_from_file_location("ingredients_gpu", ROOT / "benchmarks" / "ingredients_gpu.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def _args(**kw) -> argparse.Namespace:
    base = dict(tiny=False, val_every=100, val_tokens=1 << 20, data=Path("/d/enwiki"), steps=200,
                out=Path("/o"), prime=0)
    return argparse.Namespace(**{**base, **kw})


def test_a_primed_run_trains_the_same_spec_for_fewer_steps_into_a_scratch_store():
    args = _args()
    measured = bench.command(["--add", "value_embeds"], args, args.steps, args.out)
    primed = bench.command(["--add", "value_embeds"], args, bench.PRIME_STEPS, args.out / "primed")

    def without(cmd, *flags):
        out = list(cmd)
        for f in flags:
            i = out.index(f)
            del out[i:i + 2]
        return out

    assert without(measured, "--steps", "--out") == without(primed, "--steps", "--out")
    assert int(primed[primed.index("--steps") + 1]) == bench.PRIME_STEPS < args.steps
    assert measured[measured.index("--out") + 1] == "/o" and primed[primed.index("--out") + 1] == "/o/primed"
    assert "--add" in measured and measured[measured.index("--add") + 1] == "value_embeds"


def test_plain_m_is_a_run_and_a_variant_an_ablation_with_its_requirements_first():
    args = _args()
    assert bench.command([], args, 200, args.out)[3] == "run"
    (name, changes), = bench.variants(None, ["muon_qkvo_split"])
    assert changes[-2:] == ["--add", "muon_qkvo_split"] and name == "muon_qkvo_split"
    (name, changes), = bench.variants(None, ["multi_token_prediction"])   # M's fused loss has no MTP term
    assert changes == ["--drop", "fused_softcap_ce", "--add", "multi_token_prediction"]


NOW = {"steps": 200, "val_every": 100, "val_tokens": 1 << 20, "row": 65536, "data": "enwiki", "tiny": False}


def _row(ms, val200, status="finished"):
    return {"status": status, "ms_per_step": ms, "val": {"0": 10.8, "200": val200}}


def test_a_call_keeps_what_calls_with_its_settings_and_a_finished_m_measured(tmp_path):
    import json
    path = tmp_path / "ingredients_gpu.json"
    path.write_text(json.dumps({"calls": {
        "one": {"settings": NOW, "rows": {"M": _row(139.0, 4.93), "normuon": _row(138.7, 4.86),
                                          "smear": {"exit": 1, "error": ["no record"]}}},
        "two": {"settings": {**NOW, "steps": 100}, "rows": {"M": _row(139.0, 5.7), "backout": _row(139.9, 5.6)}},
        "three": {"settings": NOW, "rows": {"M": _row(139.0, 4.93, "failed"), "x0_mixing": _row(140.0, 4.9)}},
    }}))
    book = bench.load_book(path)
    assert book["one"]["rows"]["normuon"]["val"][200] == 4.86               # validation steps as ints
    assert bench.measured(book, NOW) == {"normuon"}   # not M, a failure, other settings, nor a call without M
    bench.save(book, path)
    assert bench.load_book(path) == book


def test_a_primed_call_takes_no_more_variants_than_its_budget_measures():
    assert bench.affordable(0, 4) == 0
    for budget in (200, 560, 1500):
        k = bench.affordable(budget, 4)
        cost = lambda n: -(-n // 4) * bench.PRIME_WAVE_S + n * bench.MEASURED_S   # noqa: E731
        assert cost(k) <= budget < cost(k + 1)


def test_only_comes_first_then_the_categories_without_repeats():
    names = [n for n, _ in bench.variants(["optimizer"], ["prefix_token_loss", "normuon"])]
    assert names[:2] == ["prefix_token_loss", "normuon"] and names.count("normuon") == 1
    assert "polar_express" in names and "muon" not in names   # M's own ingredients are never variants


def test_the_settings_name_ms_math_so_a_new_ingredient_in_m_measures_everything_again():
    from remix.recipe import load_recipe
    args = _args()
    now = bench.settings(args)
    m = load_recipe(bench.ROOT / bench.M)
    assert now["m_math"] == m.without_kernels().names and now["m_math"] != m.names   # M closes with kernels
    other = {**now, "m_math": [*now["m_math"], "value_embeds"]}
    book = {"old": {"settings": other, "rows": {"M": _row(139.0, 4.93), "normuon": _row(138.7, 4.86)}},
            "new": {"settings": now, "rows": {"M": _row(131.0, 4.93), "backout": _row(131.2, 4.92)}}}
    assert bench.measured(book, now) == {"backout"}


def test_a_variant_already_in_m_or_unknown_is_refused_before_any_run():
    for name in ("fused_softcap_ce", "value_embed"):
        with pytest.raises(SystemExit, match=f"--only {name}: "):
            bench.variants(None, [name])
