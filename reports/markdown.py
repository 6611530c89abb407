"""The Markdown report: tables and figures, the hardware and software behind them, and the modes.

Every time in it says which time-to-target mode produced it; every difference says whether it is
within noise. Only numbers from the tables (i.e. from records) are printed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from remix import ttt
from reports.figures import fmt_time, time_unit

MODES = f"""\
**How times are measured.** The speedrun tunes each configuration's step count so that its *final* val
loss lands on the target; with an LR cooldown at the end of every schedule, the first crossing of a
longer run is not that step count, so no time here is read off a loss curve.

- A **variant** is what a run trains: its spec without the step count and the seed. Every run of it is
  pooled, whether it came from `remix run`, a prefix sweep or a leave-one-out; a variant that plays
  several roles in a recipe is listed once, with every name ("+x = −y").
- **exact**: the variant was trained at several step counts (each with its schedule scaled to it); a fit
  of final val loss against log(steps) across the bracket gives the steps where it meets the target.
  "bracket x%" is how far apart the two runs straddling the target were; only a bracket within
  {ttt.EXACT_MAX_BRACKET:.0%} is called exact (a converged search: within its --tol, 2% by default).
- **cheap**: the variant's run(s) at the *planned steps* of the table (the step count its sweep ran it
  at); the gap to the target is converted into steps with the *measured* local slope of final loss
  against steps at that step count: from the variant's own runs at most ×{ttt.LOCAL:g} apart, else borrowed
  from the variant named in "slope from" (the full recipe's slope run). All seeds of a variant use one
  slope source. Runs at other step counts are listed as their own rows, never mixed in. Far from the
  target this is an extrapolation (the note says how far).
- **none**: no estimate (the note says why); such variants are compared on final val loss instead.
- **unstable**: a run that finished above the val loss it started from. It gives no number; comparisons
  with it are n/a rather than an effect charged to the next ingredient.

Time to target = steps to target × the run's measured ms/step (training only, evaluation excluded).
Over seeds: the geometric mean with a 95% Student-t interval on the log scale (never below zero);
between two variants: Welch's t-test on log times (the ratio of times), Δ = GM(after) − GM(before) and
its interval GM(before) × (ratio interval − 1). Losses: mean and Welch's test as they are. A difference
with p ≥ 0.05 (or one seed) is marked *within noise* / *untested* and is not ranked."""


def plural(n: int) -> str:
    return "" if n == 1 else "s"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _num(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def pm(value: Any, hw: Any, fmt: str = "{:.4f}") -> str:
    """'3.2811 ± 0.0040': the half-width is a magnitude, never signed, whatever the value's format."""
    v, h = _num(value), _num(hw)
    if v is None:
        return "n/a"
    return fmt.format(v).replace("-", "−") + ("" if h is None else " ± " + fmt.replace("+", "").format(abs(h)))


def span(value: Any, lo: Any, hi: Any, fmt: str = "{:.4f}") -> str:
    """'−0.0120 [−0.0190, −0.0050]': a value with its 95% interval."""
    v, a, b = _num(value), _num(lo), _num(hi)
    if v is None:
        return "n/a"
    text = fmt.format(v)
    if a is not None and b is not None:
        text += f" [{fmt.format(a)}, {fmt.format(b)}]"
    return text.replace("-", "−")


def time_span(value: Any, lo: Any, hi: Any, unit: tuple[str, float], signed: bool = False) -> str:
    """'12.3 s [10.1–15.0]' or, for a difference, '−1.2 s [−1.9, −0.5]'."""
    v, a, b = _num(value), _num(lo), _num(hi)
    if v is None:
        return "n/a"
    text = fmt_time(v, unit, signed)
    if a is None or b is None:
        return text
    sep = ", " if signed else "–"
    fmt = "{:+.3g}" if signed else "{:.3g}"
    interval = f"[{fmt.format(a / unit[1])}{sep}{fmt.format(b / unit[1])}]".replace("-", "−")
    return f"{text} {interval}"


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
             f"Data: {', '.join(f'{d} ({n} run{plural(n)})' for d, n in data.items())}. "
             f"Targets: {', '.join(f'{t:g}' for t in sorted(runs.target.unique()))}. "
             f"Runs by status: {', '.join(f'{s} {n}' for s, n in statuses.items())}. "
             f"remix commits: {', '.join(commits) or 'unknown'}.", ""]
    return "\n".join(parts)


def _unit(*columns: pd.Series) -> tuple[str, float]:
    values = [abs(float(x)) for c in columns for x in c if _num(x) is not None]
    return time_unit(max(values)) if values else ("s", 1.0)


def variants_section(v: pd.DataFrame) -> str:
    unit = _unit(v.time_s)
    rows = []
    for r in v.itertuples():
        hw = None if _num(r.loss_hi) is None else r.loss_hi - r.loss
        rows.append([r.label, r.n_seeds, f"{int(r.main_steps):,}", pm(r.loss, hw),
                     "n/a" if _num(r.steps_to_target) is None else f"{r.steps_to_target:,.0f}",
                     time_span(r.time_s, r.time_lo_s, r.time_hi_s, unit),
                     "n/a" if _num(r.ms_per_step) is None else f"{r.ms_per_step:.1f}",
                     mode_text(r.mode, r.bracket, r.slope_from), r.note])
    return table(["variant", "seeds", "planned steps", "final val loss at them", "steps to target",
                  "time to target [95%]", "ms/step", "mode", "note"], rows)


def _ratio(r: Any) -> str:
    if _num(getattr(r, "ratio", None)) is None:
        return "n/a"
    text = f"×{r.ratio:.3g}"
    if _num(r.ratio_lo) is not None:
        text += f" [{r.ratio_lo:.3g}–{r.ratio_hi:.3g}]"
    return text


def marginal_section(m: pd.DataFrame) -> str:
    metric = m.metric.iloc[0]
    unit = _unit(m.before, m.after) if metric == "time" else None
    rows = []
    for r in m.itertuples():
        if metric == "time":
            vals = [fmt_time(_num(r.after), unit), time_span(r.delta, r.delta_lo, r.delta_hi, unit, signed=True),
                    _ratio(r)]
        else:
            vals = [pm(r.after, None), span(r.delta, r.delta_lo, r.delta_hi, "{:+.4f}")]
        mode = [r.mode] if metric == "time" else []   # a loss comparison uses no time-to-target mode
        rows.append([r.index, r.ingredient, *vals, r.verdict, *mode, r.n_seeds])
    what = ["time to target", "Δ time [95%]", "ratio [95%]"] if metric == "time" else ["final val loss", "Δ loss [95%]"]
    return table(["#", "adds", *what, "verdict", *(["mode"] if metric == "time" else []), "seeds"], rows)


def loo_section(l: pd.DataFrame) -> str:
    metric = l.metric.iloc[0]
    unit = _unit(l.cost, l.without) if metric == "time" else None
    rows = []
    for r in l.itertuples():
        rank = "—" if r.rank is None or pd.isna(r.rank) else int(r.rank)
        if metric == "time":
            vals = [fmt_time(_num(r.without), unit), time_span(r.cost, r.cost_lo, r.cost_hi, unit, signed=True),
                    _ratio(r)]
        else:
            vals = [pm(r.without, None), span(r.cost, r.cost_lo, r.cost_hi, "{:+.4f}")]
        mode = [r.mode] if metric == "time" else []
        rows.append([rank, r.ingredient, *vals, r.verdict, *mode, r.n_seeds])
    what = ["time without it", "cost of removing [95%]", "ratio [95%]"] if metric == "time" else \
        ["final loss without it", "cost of removing [95%]"]
    return table(["rank", "removed", *what, "verdict", *(["mode"] if metric == "time" else []), "seeds"], rows)


def changes_section(c: pd.DataFrame) -> str:
    """Additions and swaps against the full recipe, a row per variant and step count (each row its metric)."""
    rows = []
    for r in c.itertuples():
        if r.metric == "time":
            unit = _unit(pd.Series([r.delta]), pd.Series([r.changed]))
            vals = [fmt_time(_num(r.changed), unit), time_span(r.delta, r.delta_lo, r.delta_hi, unit, signed=True),
                    _ratio(r)]
        else:
            vals = [pm(r.changed, None), span(r.delta, r.delta_lo, r.delta_hi, "{:+.4f}"), "—"]
        rows.append([r.change, f"{int(r.steps):,}", r.metric, *vals, r.verdict, r.n_seeds])
    return table(["change", "steps", "metric", "with the change", "Δ against the recipe [95%]", "ratio [95%]",
                  "verdict", "seeds"], rows)


def interaction_section(df: pd.DataFrame) -> str:
    metric = df.metric.iloc[0]
    unit = _unit(df.effect) if metric == "time" else None
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
            v = time_span(r.effect, r.effect_lo, r.effect_hi, unit, signed=True) if metric == "time" else \
                span(r.effect, r.effect_lo, r.effect_hi, "{:+.4f}")
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
