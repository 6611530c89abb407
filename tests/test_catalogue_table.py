"""benchmarks/catalogue_table.py: each variant against the M of its own call, under the newest settings."""

from __future__ import annotations

import importlib.util
import json
import sys

from conftest import ROOT

spec = importlib.util.spec_from_file_location("catalogue_table", ROOT / "benchmarks" / "catalogue_table.py")
table = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = table   # (dataclasses look their module up)
spec.loader.exec_module(table)

SETTINGS = {"steps": 200, "val_every": 100, "val_tokens": 1048576, "row": 65536, "data": "enwiki", "tiny": False,
            "m_math": ["muon"]}


def run(ms: float, val200: float, segments=(100.0, 100.0)) -> dict:
    return {"status": "finished", "ms_per_step": ms, "peak_mib": 1000.0,
            "val": {"0": 10.8, "100": 6.0, "200": val200},
            "segments": [{"start": 100 * i, "end": 100 * (i + 1), "ms_per_step": s} for i, s in enumerate(segments)]}


def book() -> dict:
    old = {**SETTINGS, "val_tokens": 2097152}
    return {"calls": {
        "a": {"settings": old, "rows": {"M": run(100, 5.0), "smear": run(90, 1.0)}},   # other settings: ignored
        "b": {"settings": SETTINGS, "m": ["muon"], "rows": {
            "M": run(130, 4.93), "smear": run(131, 4.87), "window_warmup": run(125, 4.82, segments=(90.0, 140.0))}},
        "c": {"settings": SETTINGS, "m": ["muon", "fused_softcap_ce"], "rows": {
            "M": run(121, 4.94), "smear": run(123, 4.90), "mudd": {"status": "failed", "error": ["boom"]}}},
        "d": {"settings": SETTINGS, "m": ["muon", "fused_softcap_ce"], "rows": {"dc_mha": run(125, 4.91)}},   # no M
    }}


def test_each_variant_is_its_newest_run_against_its_own_calls_m():
    b = table.read(book(), {"smear": "architecture", "window_warmup": "schedule"})
    by = {r.name: r for r in b.rows}
    assert set(by) == {"smear", "window_warmup"}   # mudd failed; call a has other settings; d has no M
    assert by["smear"].call == "c" and by["smear"].d_ms == 2 and abs(by["smear"].d_val - (4.90 - 4.94)) < 1e-12
    assert by["window_warmup"].call == "b" and abs(by["window_warmup"].d_val - (4.82 - 4.93)) < 1e-12
    assert by["window_warmup"].staged and not by["smear"].staged
    assert (by["window_warmup"].m, by["smear"].m) == (0, 1)   # the M of each row's own call
    assert [r.name for r in b.rows] == ["window_warmup", "smear"]   # best Δ val first
    assert b.m_vals == [4.93, 4.94] and b.settings == SETTINGS
    assert b.orphans == [("dc_mha", "d", 125, 4.91)]
    assert table.versions(b.ms)[1] == "M2: muon_baseline +fused_softcap_ce (1 call, 121.0–121.0 ms/step)"


def test_the_table_and_figure_are_written_with_the_noise_band_and_the_unmeasured(tmp_path):
    path = tmp_path / "book.json"
    path.write_text(json.dumps(book()))
    table.main(["--book", str(path), "--out", str(tmp_path / "out")])
    md = (tmp_path / "out" / "catalogue.md").read_text()
    assert "| window_warmup † | schedule | 125.0 | -5.0 | 4.8200 | -0.1100 | 1,000 | M1 | b |" in md
    assert "| smear | architecture | 123.0 | +2.0 | 4.9000 | -0.0400 | 1,000 | M2 | c |" in md
    assert "- dc_mha: 125.0 ms/step, val@200 4.9100 (d)" in md and "dc_mha" not in md.split("Not measured")[1]
    assert "4.9300–4.9400" in md and "below 0.0100" in md
    assert "value_embeds" in md.split("Not measured")[1]   # in the catalogue, not in M, not in the book
    assert (tmp_path / "out" / "catalogue.png").stat().st_size > 10_000
