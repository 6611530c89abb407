"""The README quotes measurements; each one must be found in the files it cites (benchmarks/results)."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _numbers(value, out: list[float]) -> list[float]:
    if isinstance(value, dict):
        for v in value.values():
            _numbers(v, out)
        if "ms_per_step" in value and "tokens_per_s" not in value:
            # files that keep ms/step only: tokens/s of a 65,536-token (A, M) or 49,152-token (record 21) row
            out += [row / value["ms_per_step"] * 1000 for row in (65536, 49152)]
    elif isinstance(value, list):
        for v in value:
            _numbers(v, out)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out.append(float(value))
    return out


def _found(text: str, numbers: list[float]) -> bool:
    """'149.5' matches a recorded 149.54288 (the README rounds to the digits it prints); '438K' a 438,242."""
    if text.endswith("K"):
        return any(round(n / 1000) == int(text[:-1]) for n in numbers)
    digits = len(text.split(".")[1]) if "." in text else 0
    return any(round(n, digits) == float(text) for n in numbers)


def test_every_figure_of_the_measured_table_is_in_benchmarks_results():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Measured", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "steps" in line]
    assert len(rows) == 9
    numbers = []
    for path in [*RESULTS.glob("h100_*.json"), *RESULTS.glob("h200_*/*.json"), *RESULTS.glob("h200_*/*/baselines_speed.json")]:
        _numbers(json.loads(path.read_text()), numbers)
    for row in rows:
        label, *cells = [c.strip() for c in row.strip("|").split("|")]
        for cell in cells:
            # step counts (100 / 200 / 280) name the validation, they are not measurements
            figures = [f for f in re.findall(r"\d+\.\d+|\d+K", cell)]
            assert figures, cell
            for figure in figures:
                assert _found(figure, numbers), f"{label}: {figure} is not in {RESULTS}"


def test_the_cpu_timings_quoted_are_those_recorded():
    readme = (ROOT / "README.md").read_text()
    recorded = (RESULTS / "cpu_2core.md").read_text()
    for quoted in re.findall(r"takes (\d+ (?:s|min \d+ s))", readme):
        assert quoted in recorded, quoted
