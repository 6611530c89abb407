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
        "b": {"settings": SETTINGS, "rows": {"M": run(130, 4.93), "smear": run(131, 4.87),
                                             "window_warmup": run(125, 4.82, segments=(90.0, 140.0))}},
        "c": {"settings": SETTINGS, "rows": {"M": run(131, 4.94), "smear": run(133, 4.90),
                                             "mudd": {"status": "failed", "error": ["boom"]}}},
    }}


def test_each_variant_is_its_newest_run_against_its_own_calls_m():
    rows, m_vals, settings = table.rows_of(book(), {"smear": "architecture", "window_warmup": "schedule"})
    by = {r.name: r for r in rows}
    assert set(by) == {"smear", "window_warmup"}   # mudd failed; call a has other settings
    assert by["smear"].call == "c" and by["smear"].d_ms == 2 and abs(by["smear"].d_val - (4.90 - 4.94)) < 1e-12
    assert by["window_warmup"].call == "b" and abs(by["window_warmup"].d_val - (4.82 - 4.93)) < 1e-12
    assert by["window_warmup"].staged and not by["smear"].staged
    assert [r.name for r in rows] == ["window_warmup", "smear"]   # best Δ val first
    assert m_vals == [4.93, 4.94] and settings == SETTINGS


def test_the_table_and_figure_are_written_with_the_noise_band_and_the_unmeasured(tmp_path):
    path = tmp_path / "book.json"
    path.write_text(json.dumps(book()))
    table.main(["--book", str(path), "--out", str(tmp_path / "out")])
    md = (tmp_path / "out" / "catalogue.md").read_text()
    assert "| window_warmup † | schedule | 125.0 | -5.0 | 4.8200 | -0.1100 |" in md
    assert "| smear | architecture | 133.0 | +2.0 | 4.9000 | -0.0400 |" in md
    assert "4.9300–4.9400" in md and "below 0.0100" in md
    assert "value_embeds" in md.split("Not measured")[1]   # in the catalogue, not in M, not in the book
    assert (tmp_path / "out" / "catalogue.png").stat().st_size > 10_000
