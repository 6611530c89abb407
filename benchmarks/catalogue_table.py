"""The GPU book as one table and one figure: M plus each catalogue ingredient, 200 steps on one GPU.

    python benchmarks/catalogue_table.py [--book benchmarks/results/ingredients_gpu.json]
        [--out benchmarks/results/catalogue]

Reads the book that benchmarks/ingredients_gpu.py keeps (every call, each with its own plain M) and writes
`catalogue.md` (a row per ingredient: its newest finished run, Δ against the M of the same call, sorted by
Δ val@200) and `catalogue.png` (Δ ms/step against Δ val@200, one point per ingredient). Only calls with the
settings of the newest call count. The shaded band is how far apart two runs of plain M landed at step 200
across those calls: a Δ inside it is not told apart from noise by one run. Ingredients M lacks that no
call measured are listed by category at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BOOK = ROOT / "benchmarks" / "results" / "ingredients_gpu.json"


@dataclass(frozen=True)
class Row:
    name: str
    category: str
    call: str
    ms: float
    d_ms: float
    val: float
    d_val: float
    peak_mib: float
    staged: bool   # its step time moves between segments (stages of batch or window): not one step's cost


def val_at(row: dict, step: int) -> float:
    return row["val"].get(str(step), row["val"].get(step))


def staged(row: dict) -> bool:
    """Whether the run's ms/step moved by more than 5% between its segments (stages, window or batch steps)."""
    seg = [s["ms_per_step"] for s in row.get("segments", [])]
    return len(seg) > 1 and max(seg) > 1.05 * min(seg)


def rows_of(book: dict, categories: dict[str, str]) -> tuple[list[Row], list[float], dict]:
    """(each variant's newest finished row against its call's M, every M's val at the last step, the settings)."""
    calls = book["calls"]
    now = list(calls.values())[-1]["settings"]
    last = now["steps"]
    newest, m_vals = {}, []
    for call, c in calls.items():   # in the order they ran: a later run of a variant replaces an earlier one
        m = c["rows"].get("M", {})
        if c["settings"] != now or m.get("status") != "finished":
            continue
        m_vals.append(val_at(m, last))
        for name, r in c["rows"].items():
            if name != "M" and r.get("status") == "finished":
                newest[name] = Row(name, categories.get(name, "?"), call, r["ms_per_step"],
                                   r["ms_per_step"] - m["ms_per_step"], val_at(r, last),
                                   val_at(r, last) - val_at(m, last), r.get("peak_mib") or float("nan"),
                                   staged(r))
    return sorted(newest.values(), key=lambda r: r.d_val), m_vals, now


def markdown(rows: list[Row], m_vals: list[float], settings: dict, missing: dict[str, list[str]]) -> str:
    last = settings["steps"]
    spread = max(m_vals) - min(m_vals)
    lines = [
        "# M plus each ingredient on one GPU",
        "",
        f"Written by `benchmarks/catalogue_table.py` from `{BOOK.relative_to(ROOT)}`: {len(rows)} ingredients, "
        f"{len(m_vals)} calls. Each run: {last} steps of one {settings['row']:,}-token row, validation on "
        f"{settings['val_tokens']:,} tokens of {settings['data']}. Δ compares a run with the plain M of the "
        f"same call. Plain M's val@{last} over those calls: {min(m_vals):.4f}–{max(m_vals):.4f}, so a "
        f"|Δ val| below {spread:.4f} is within what one run of M against another shows.",
        "",
        "![Δ ms/step against Δ val](catalogue.png)",
        "",
        f"| ingredient | category | ms/step | Δ ms | val@{last} | Δ val@{last} | peak MiB | call |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mark = "" if abs(r.d_val) > spread else " (noise)"
        lines.append(f"| {r.name}{' †' if r.staged else ''} | {r.category} | {r.ms:.1f} | {r.d_ms:+.1f} | {r.val:.4f} | "
                     f"{r.d_val:+.4f}{mark} | {r.peak_mib:,.0f} | {r.call} |")
    if any(r.staged for r in rows):
        lines += ["", "† The step itself changes during the run (a stage of batch size or window): its ms/step "
                  f"is the mean between the last two validations, not one step's cost, and its {last} steps may "
                  "see fewer tokens than M's (batch_size_schedule does), so its Δ val is not a like-for-like "
                  "comparison."]
    if missing:
        lines += ["", "Not measured on a GPU by this benchmark (CPU tests only, or measured by "
                  "kernels_check.py / baselines_speed.py for the systems kernels):", ""]
        lines += [f"- {cat}: {', '.join(names)}" for cat, names in sorted(missing.items())]
    return "\n".join(lines) + "\n"


def figure(rows: list[Row], m_vals: list[float], settings: dict, path: Path) -> None:
    """Two bar panels sharing the ingredient axis, in the table's order: Δ val (left) and Δ ms/step (right)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spread = max(m_vals) - min(m_vals)
    cats = sorted({r.category for r in rows})
    colour = {c: plt.get_cmap("tab10")(i % 10) for i, c in enumerate(cats)}
    y = range(len(rows))
    fig, (val, ms) = plt.subplots(1, 2, sharey=True, figsize=(12, 0.2 * len(rows) + 1.6),
                                  gridspec_kw={"width_ratios": [3, 2]})
    val.axvspan(-spread, spread, color="0.88", zorder=0, label=f"plain M against plain M (±{spread:.4f})")
    val.barh(y, [r.d_val for r in rows], color=[colour[r.category] for r in rows], zorder=2)
    ms.barh(y, [r.d_ms for r in rows], color=[colour[r.category] for r in rows], zorder=2)
    val.set_yticks(list(y), [r.name + (" †" if r.staged else "") for r in rows], fontsize=7)
    val.invert_yaxis()
    val.set_xlabel(f"Δ val loss at step {settings['steps']} against M (lower is better)")
    ms.set_xlabel("Δ ms/step against M (same call)")
    for ax in (val, ms):
        ax.axvline(0, color="0.4", lw=0.8)
        ax.grid(axis="x", color="0.92", zorder=0)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour[c]) for c in cats]
    ms.legend(handles, cats, fontsize=8, loc="upper left")
    val.legend(fontsize=8, loc="lower left")
    fig.suptitle(f"M plus one ingredient: {settings['steps']} steps on one GPU ({settings['data']}); "
                 f"† the step changes during the run", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--book", type=Path, default=BOOK)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "catalogue")
    args = p.parse_args(argv)
    if not args.book.is_file():
        raise SystemExit(f"{args.book}: no such book (benchmarks/ingredients_gpu.py writes it)")
    from remix.ingredient import catalogue
    from remix.recipe import load_recipe
    cat = catalogue()
    rows, m_vals, settings = rows_of(json.loads(args.book.read_text()), {n: i.category for n, i in cat.items()})
    if not rows:
        raise SystemExit(f"{args.book}: no call with a finished M and variants under its newest settings")
    m = load_recipe(ROOT / "recipes" / "muon_baseline.toml").names
    measured = {r.name for r in rows}
    missing: dict[str, list[str]] = {}
    for name in sorted(cat):
        if name not in m and name not in measured:
            missing.setdefault(cat[name].category, []).append(name)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "catalogue.md").write_text(markdown(rows, m_vals, settings, missing))
    figure(rows, m_vals, settings, args.out / "catalogue.png")
    print(f"{len(rows)} ingredients -> {args.out / 'catalogue.md'}, {args.out / 'catalogue.png'}")


if __name__ == "__main__":
    main()
