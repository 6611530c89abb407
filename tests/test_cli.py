"""`remix ingredients`: the catalogue by category, and the records without an ingredient, at 80 columns."""

from __future__ import annotations

from typer.testing import CliRunner

from remix.cli import app
from remix.ingredient import CATEGORIES, catalogue


def test_ingredients_grouped_by_category_at_80_columns():
    result = CliRunner().invoke(app, ["ingredients"], env={"COLUMNS": "80", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    out = result.output
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    cat = catalogue()
    titles = [line.strip() for line in lines if line.strip().split(" (")[0] in CATEGORIES]
    used = [c for c in CATEGORIES if any(i.category == c for i in cat.values())]
    assert titles == [f"{c} ({sum(1 for i in cat.values() if i.category == c)})" for c in used]
    for name in cat:
        assert name in out                                     # every name whole, on one line
    assert f"{len(cat)} ingredients" in out
    assert "Records without an ingredient, and why (9)" in out
    assert "PyTorch upgrade (2.10)" in out and "#21 is covered in part" in out


def test_ingredients_wide_keeps_the_relations_columns():
    result = CliRunner().invoke(app, ["ingredients"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0 and "requires / conflicts" in result.output and "math-eq." in result.output
