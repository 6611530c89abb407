"""The Markdown report: tables and figures, the hardware and software behind them, and the modes.

Every time in it says which time-to-target mode produced it; every difference says whether it is
within noise. Only numbers from the tables (i.e. from records) are printed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from reports.figures import fmt_time, time_unit

MODES = """\
**How times are measured.** The speedrun tunes each configuration's step count so that its *final* val
loss lands on the target; with an LR cooldown at the end of every schedule, the first crossing of a
longer run is not that step count, so no time here is read off a loss curve.

- **exact**: the variant was trained at several step counts (each with its schedule scaled to it); a fit
  of final val loss against log(steps) across the bracket gives the steps where it meets the target.
  "bracket x%" is how far apart the two runs straddling the target were (a converged search: ≤ 2%).
- **cheap**: one run at a fixed step count; its gap to the target is converted into steps with the
  *measured* local slope of final loss against steps (from the variant's own runs at two step counts,
  or borrowed from the variant named in "slope from"). Far from the target this is an extrapolation.
- **none**: no estimate (the note says why); such variants are compared on final val loss instead.

Time to target = steps to target × the run's measured ms/step (training only, evaluation excluded).
Over seeds: mean ± the 95% Student-t interval; between two variants: Welch's t-test, and a difference
with p ≥ 0.05 (or one seed) is marked *within noise* / *untested* and is not ranked."""


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _num(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def pm(value: Any, hw: Any, fmt: str = "{:.4f}") -> str:
    v, h = _num(value), _num(hw)
    if v is None:
        return "n/a"
    return fmt.format(v) + ("" if h is None else " ± " + fmt.format(h))


def time_pm(value: Any, hw: Any, unit: tuple[str, float], signed: bool = False) -> str:
    v, h = _num(value), _num(hw)
    if v is None:
        return "n/a"
    text = fmt_time(v, unit, signed)
    return text if h is None else text.replace(f" {unit[0]}", f" ± {h / unit[1]:.2g} {unit[0]}")


def mode_text(mode: str, bracket: Any = None, slope_from: str = "") -> str:
    text = mode
    b = _num(bracket)
    if "exact" in mode and b is not None:
        text += f" (bracket {b:.0%})"
    if "cheap" in mode and slope_from:
        text += f" (slope from {slope_from})"
    return text


def figure(paths: Sequence[Path], out: Path, alt: str) -> str:
    png = [p for p in paths if p.suffix == ".png"]
    if not png:
        return ""
    rel = png[0].relative_to(out).as_posix()
    svg = [p for p in paths if p.suffix == ".svg"]
    link = f" ([SVG]({svg[0].relative_to(out).as_posix()}))" if svg else ""
    return f"![{alt}]({rel}){link}\n"


def setup_section(runs: pd.DataFrame) -> str:
    hw = runs.groupby("hardware").size().sort_values(ascending=False)
    sw = runs.fillna({"cuda": "-", "git_commit": "-"}).groupby(["python", "torch", "cuda", "remix"]).size()
    commits = sorted({str(c)[:10] for c in runs.git_commit.dropna()})
    data = runs.groupby("data").size()
    statuses = runs.groupby("status").size()
    parts = ["## Setup", "",
             table(["hardware", "runs"], [[h, n] for h, n in hw.items()]), "",
             table(["python", "torch", "cuda", "remix", "runs"], [[*k, n] for k, n in sw.items()]), "",
             f"Data: {', '.join(f'{d} ({n} runs)' for d, n in data.items())}. "
             f"Targets: {', '.join(f'{t:g}' for t in sorted(runs.target.unique()))}. "
             f"Runs by status: {', '.join(f'{s} {n}' for s, n in statuses.items())}. "
             f"remix commits: {', '.join(commits) or 'unknown'}.", ""]
    return "\n".join(parts)


def variants_section(v: pd.DataFrame) -> str:
    unit = time_unit(float(v.time_s.max())) if v.time_s.notna().any() else ("s", 1.0)
    rows = []
    for r in v.itertuples():
        rows.append([r.label, r.n_seeds, int(r.main_steps), pm(r.loss, r.loss_hw),
                     "n/a" if _num(r.steps_to_target) is None else f"{r.steps_to_target:,.0f}",
                     time_pm(r.time_s, r.time_hw_s, unit) + (_fit_interval(r, unit) if r.n_seeds == 1 else ""),
                     "n/a" if _num(r.ms_per_step) is None else f"{r.ms_per_step:.1f}",
                     mode_text(r.mode, r.bracket, r.slope_from), r.note])
    return table(["variant", "seeds", "planned steps", "final val loss", "steps to target", "time to target",
                  "ms/step", "mode", "note"], rows)


def _fit_interval(r: Any, unit: tuple[str, float]) -> str:
    lo, hi = _num(r.time_lo_s), _num(r.time_hi_s)
    return "" if lo is None or hi is None else f" (fit: {lo / unit[1]:.3g}–{hi / unit[1]:.3g} {unit[0]})"


def marginal_section(m: pd.DataFrame) -> str:
    metric = m.metric.iloc[0]
    unit = time_unit(float(max(m.before.abs().max(), m.after.abs().max()))) if metric == "time" else None
    rows = []
    for r in m.itertuples():
        if metric == "time":
            vals = [fmt_time(r.after, unit), time_pm(r.delta, r.delta_hw, unit, signed=True)]
        else:
            vals = [pm(r.after, None), pm(r.delta, r.delta_hw, "{:+.4f}")]
        rows.append([r.index, r.ingredient, *vals, r.verdict, r.mode, r.n_seeds])
    what = ["time to target", "Δ time"] if metric == "time" else ["final val loss", "Δ loss"]
    return table(["#", "adds", *what, "verdict", "mode", "seeds"], rows)


def loo_section(l: pd.DataFrame) -> str:
    metric = l.metric.iloc[0]
    unit = time_unit(float(l.cost.abs().max())) if metric == "time" else None
    rows = []
    for r in l.itertuples():
        rank = "—" if r.rank is None or pd.isna(r.rank) else int(r.rank)
        cost = time_pm(r.cost, r.cost_hw, unit, signed=True) if metric == "time" else pm(r.cost, r.cost_hw, "{:+.4f}")
        full = fmt_time(r.without, unit) if metric == "time" else pm(r.without, None)
        rows.append([rank, r.ingredient, full, cost, r.verdict, r.mode, r.n_seeds])
    what = "time without it" if metric == "time" else "final loss without it"
    return table(["rank", "removed", what, "cost of removing", "verdict", "mode", "seeds"], rows)


def interaction_section(df: pd.DataFrame) -> str:
    metric = df.metric.iloc[0]
    unit = time_unit(float(df.effect.abs().max())) if metric == "time" else None
    recipes = sorted(df.recipe.unique())
    rows = []
    for ing, g in df.groupby("ingredient"):
        cells = []
        for rec in recipes:
            r = g[g.recipe == rec]
            if not len(r):
                cells.append("—")
                continue
            r = r.iloc[0]
            v = time_pm(r.effect, r.effect_hw, unit, signed=True) if metric == "time" else pm(r.effect, r.effect_hw, "{:+.4f}")
            cells.append(f"{v} ({r.verdict}; {r.source}, {r.mode})")
        rows.append([ing, *cells])
    return table(["ingredient", *(f"effect under {r}" for r in recipes)], rows)


def skipped_section(skipped: Sequence[tuple[Path, str]], root: Path) -> str:
    if not skipped:
        return ""
    rows = [[_rel(p, root), reason] for p, reason in skipped]
    return "\n".join(["## Skipped files", "", "These files in the results directory are not valid remix run "
                      "records (or sweep manifests) and were left out:", "", table(["file", "why"], rows), ""])


def _rel(p: Path, root: Path) -> str:
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return str(p)
