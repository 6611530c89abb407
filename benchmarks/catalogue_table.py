"""The GPU book as one table and one figure: M plus each catalogue ingredient, 200 steps on one GPU.

    python benchmarks/catalogue_table.py [--book benchmarks/results/ingredients_gpu.json]
        [--out benchmarks/results/catalogue]

Reads the book that benchmarks/ingredients_gpu.py keeps (every call, each with its own plain M) and writes
`catalogue.md` (a row per ingredient: its newest finished run, Δ against the M of the same call, sorted by
Δ val@200) and `catalogue.png` (bars of Δ val@200 and Δ ms/step, in the table's order). Only calls with
the settings of the newest call count. The shaded band is how far apart two runs of plain M landed at the
last step across those calls: one run does not tell a Δ inside it from noise. The calls may have run
different Ms (same math, a kernel appended): the table names which M each row was measured against.
Variants finished in a call without a finished M are listed without a Δ, and ingredients M lacks that no
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
    m: int         # which of the book's Ms it was measured against (Book.ms)


@dataclass(frozen=True)
class Book:
    rows: list[Row]                            # best Δ val first
    m_vals: list[float]                        # plain M's val at the last step, one per call
    ms: list[tuple[tuple[str, ...], list[float]]]   # each M the calls ran (its order) and its ms/step per call
    orphans: list[tuple[str, str, float, float]]    # (name, call, ms/step, val) from calls without an M
    settings: dict


def val_at(row: dict, step: int) -> float:
    return row["val"].get(str(step), row["val"].get(step))


def staged(row: dict) -> bool:
    """Whether the run's ms/step moved by more than 5% between its segments (stages, window or batch steps)."""
    seg = [s["ms_per_step"] for s in row.get("segments", [])]
    return len(seg) > 1 and max(seg) > 1.05 * min(seg)


def read(book: dict, categories: dict[str, str]) -> Book:
    calls = book["calls"]
    now = list(calls.values())[-1]["settings"]
    last = now["steps"]
    newest, orphans, m_vals, ms = {}, {}, [], {}
    for call, c in calls.items():   # in the order they ran: a later run of a variant replaces an earlier one
        if c["settings"] != now:
            continue
        m = c["rows"].get("M", {})
        done = {n: r for n, r in c["rows"].items() if n != "M" and r.get("status") == "finished"}
        if m.get("status") != "finished":
            orphans.update({n: (n, call, r["ms_per_step"], val_at(r, last)) for n, r in done.items()})
            continue
        m_vals.append(val_at(m, last))
        version = tuple(c.get("m", ()))
        ms.setdefault(version, []).append(m["ms_per_step"])
        for name, r in done.items():
            newest[name] = Row(name, categories.get(name, "?"), call, r["ms_per_step"],
                               r["ms_per_step"] - m["ms_per_step"], val_at(r, last),
                               val_at(r, last) - val_at(m, last), r.get("peak_mib") or float("nan"),
                               staged(r), list(ms).index(version))
    return Book(sorted(newest.values(), key=lambda r: r.d_val), m_vals, list(ms.items()),
                [o for n, o in orphans.items() if n not in newest], now)


def versions(ms: list[tuple[tuple[str, ...], list[float]]]) -> list[str]:
    """A line per M the calls ran: the first by name, the others by what they add to or drop from it."""
    first = ms[0][0]
    out = []
    for i, (names, times) in enumerate(ms):
        diff = [f"+{n}" for n in names if n not in first] + [f"−{n}" for n in first if n not in names]
        label = "muon_baseline" + (f" {' '.join(diff)}" if diff else "") if i else "muon_baseline as first measured"
        calls = f"{len(times)} call{'s' if len(times) > 1 else ''}"
        out.append(f"M{i + 1}: {label} ({calls}, {min(times):.1f}–{max(times):.1f} ms/step)")
    return out


def markdown(book: Book, missing: dict[str, list[str]]) -> str:
    rows, m_vals, settings = book.rows, book.m_vals, book.settings
    last = settings["steps"]
    spread = max(m_vals) - min(m_vals)
    lines = [
        "# M plus each ingredient on one GPU",
        "",
        f"Written by `benchmarks/catalogue_table.py` from `{BOOK.relative_to(ROOT)}`: {len(rows)} ingredients, "
        f"{len(m_vals)} calls with their own plain M. Each run: {last} steps of one {settings['row']:,}-token "
        f"row, validation on {settings['val_tokens']:,} tokens of {settings['data']}; ms/step is the mean over "
        f"the {last} steps with the validations off the clock. Δ compares a run with the plain M of the same "
        f"call. Plain M's val@{last} over those calls: {min(m_vals):.4f}–{max(m_vals):.4f}, so one run does "
        f"not tell a |Δ val| below {spread:.4f} from noise (marked).",
        "",
        "The calls ran these Ms (the same math; the column M says which one a row was measured against):",
        "",
        *[f"- {line}" for line in versions(book.ms)],
        "",
        "![Δ val and Δ ms/step of each ingredient](catalogue.png)",
        "",
        f"| ingredient | category | ms/step | Δ ms | val@{last} | Δ val@{last} | peak MiB | M | call |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mark = "" if abs(r.d_val) > spread else " (noise)"
        lines.append(f"| {r.name}{' †' if r.staged else ''} | {r.category} | {r.ms:.1f} | {r.d_ms:+.1f} | "
                     f"{r.val:.4f} | {r.d_val:+.4f}{mark} | {r.peak_mib:,.0f} | M{r.m + 1} | {r.call} |")
    if any(r.staged for r in rows):
        lines += ["", "† The step itself changes during the run (a stage of batch size or window): its ms/step "
                  f"is a mean over steps of different cost, and its {last} steps may see fewer tokens than M's "
                  "(batch_size_schedule's do), so its Δ val is not a like-for-like comparison."]
    if book.orphans:
        lines += ["", "Measured in a call whose plain M did not run (no Δ; compare with the M of the call "
                  "before it in the book):", ""]
        lines += [f"- {n}: {ms:.1f} ms/step, val@{last} {v:.4f} ({call})" for n, call, ms, v in book.orphans]
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
    book = read(json.loads(args.book.read_text()), {n: i.category for n, i in cat.items()})
    if not book.rows:
        raise SystemExit(f"{args.book}: no call with a finished M and variants under its newest settings")
    m = load_recipe(ROOT / "recipes" / "muon_baseline.toml").names
    measured = {r.name for r in book.rows} | {o[0] for o in book.orphans}
    missing: dict[str, list[str]] = {}
    for name in sorted(cat):
        if name not in m and name not in measured:
            missing.setdefault(cat[name].category, []).append(name)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "catalogue.md").write_text(markdown(book, missing))
    figure(book.rows, book.m_vals, book.settings, args.out / "catalogue.png")
    print(f"{len(book.rows)} ingredients -> {args.out / 'catalogue.md'}, {args.out / 'catalogue.png'}")


if __name__ == "__main__":
    main()
