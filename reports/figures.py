"""The report's figures (matplotlib, Agg): each saved as PNG and SVG, readable at a glance.

Every figure names its context (hardware, data, target) and how its numbers were made (time-to-target
mode, seeds); colours carry one meaning throughout: green = saves time, red = costs time, grey = within
noise or untested.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

GOOD, BAD, NOISE = "#2e9e5b", "#d1495b", "#9a9a9a"
TOTAL, BASE = "#3b6fb6", "#8fb3de"
RECIPE_COLOURS = ["#3b6fb6", "#e07b39", "#5aa469", "#b55d9c", "#c9a227", "#4bb3c2"]
STYLE = {"font.size": 10, "axes.titlesize": 12, "axes.titleweight": "bold", "axes.labelsize": 10,
         "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.25,
         "legend.fontsize": 9, "legend.frameon": False, "svg.fonttype": "none"}


# --- units ---------------------------------------------------------------------------------------

def time_unit(max_seconds: float) -> tuple[str, float]:
    """(unit, seconds per unit) that keeps the numbers short: ms, s or min."""
    if not math.isfinite(max_seconds) or max_seconds >= 120:
        return "min", 60.0
    if max_seconds >= 1:
        return "s", 1.0
    return "ms", 1e-3


def fmt_time(seconds: float | None, unit: tuple[str, float] | None = None, signed: bool = False) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    name, per = unit or time_unit(abs(seconds))
    v = seconds / per
    text = f"{v:+.3g}" if signed else f"{v:.3g}"
    return f"{text.replace('-', '−')} {name}"


def metric_axis(metric: str, unit: tuple[str, float]) -> str:
    return f"time to target ({unit[0]})" if metric == "time" else "final val loss at the planned steps"


def _save(fig: plt.Figure, out: Path, stem: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.svg"]
    # one layout pass for both files: bbox_inches="tight" would lay the figure out again per file
    fig.draw_without_rendering()
    bbox = fig.get_tightbbox().padded(0.08)
    fig.savefig(paths[0], dpi=120, bbox_inches=bbox)
    fig.savefig(paths[1], bbox_inches=bbox)
    plt.close(fig)
    return paths


def _subtitle(ax: plt.Axes, text: str) -> None:
    # offset in points, not axes fraction, so that it sits under the title whatever the figure's height
    ax.annotate(text, xy=(0.0, 1.0), xycoords="axes fraction", xytext=(0, 4), textcoords="offset points",
                fontsize=8.5, color="#555555", va="bottom")


def _colour(significant: bool, value: float, lower_is_better: bool = True) -> str:
    if not significant or not math.isfinite(value):
        return NOISE
    return GOOD if (value < 0) == lower_is_better else BAD


# --- 1. waterfall --------------------------------------------------------------------------------

def waterfall(marginal: pd.DataFrame, variants: pd.DataFrame, recipe: str, context: str, out: Path,
              stem: str) -> list[Path]:
    """Base → each ingredient's Δ along the recipe's order → full recipe. A step without a number (an
    unstable or missing prefix) is a hatched 'n/a' gap, and the chain restarts at the next known level."""
    if not len(marginal):
        return []
    metric = marginal.metric.iloc[0]
    steps = marginal.sort_values("index")
    known = [v for r in steps.itertuples() for v in (r.before, r.after) if _finite(v)]
    if not known:
        return []
    unit = time_unit(max(known)) if metric == "time" else ("", 1.0)
    per = unit[1]
    n = len(steps) + 2
    first, last = steps.iloc[0], steps.iloc[-1]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(max(6.5, 0.55 * n + 2.5), 5.4))
        lo_y, hi_y = min(known) / per, max(known) / per
        pad = (hi_y - lo_y) * 0.12 or abs(hi_y) * 0.05 or 1.0
        # times start at zero (their ratios are the point); losses near their range (their Δs are tiny
        # beside the loss itself, and a zero-based axis leaves them as slivers), and the subtitle says so
        floor = lo_y - pad if metric == "loss" else 0.0
        labels, x = ["base"], 0
        if _finite(first.before):
            ax.bar(x, first.before / per - floor, bottom=floor, color=TOTAL, width=0.7)
            ax.text(x, first.before / per, _val(first.before, metric, unit), ha="center", va="bottom", fontsize=8)
        for row in steps.itertuples():
            x += 1
            if _finite(row.delta):
                before, after = row.before / per, row.after / per
                c = _colour(row.significant, row.delta)
                ax.bar(x, abs(after - before) or pad * 0.02, bottom=min(before, after), color=c, width=0.7)
                if _finite(row.delta_lo):
                    ax.errorbar(x, after, yerr=[[(row.delta - row.delta_lo) / per], [(row.delta_hi - row.delta) / per]],
                                color="#333333", capsize=3, lw=1)
                ax.plot([x - 1.35, x - 0.35], [before, before], color="#777777", lw=0.6, ls=":")
                labels.append(f"{row.ingredient}: {_delta(row, metric, unit)}")
            else:
                level = (row.before if _finite(row.before) else row.after)
                y = (level / per) if _finite(level) else (lo_y + hi_y) / 2
                ax.bar(x, pad * 0.6, bottom=y - pad * 0.3, color="white", edgecolor=NOISE, hatch="//", width=0.7)
                ax.text(x, y + pad * 0.35, "unstable" if "unstable" in str(row.verdict) else "n/a", ha="center",
                        va="bottom", fontsize=8, color=BAD if "unstable" in str(row.verdict) else "#555555")
                labels.append(f"{row.ingredient}: n/a")
        x += 1
        if _finite(last.after):
            ax.bar(x, last.after / per - floor, bottom=floor, color=TOTAL, width=0.7)
            ax.text(x, last.after / per, _val(last.after, metric, unit), ha="center", va="bottom", fontsize=8)
        labels.append(recipe)
        ax.set_xticks(range(len(labels)), labels, rotation=40, ha="right")
        ax.set_ylabel(metric_axis(metric, unit))
        ax.set_ylim(floor, hi_y + pad * 1.6)
        what = "Marginal time to target" if metric == "time" else "Marginal final val loss (no time to target for every prefix)"
        ax.set_title(f"{what} along {recipe}'s order", pad=42)
        mode = ", ".join(sorted(set(steps["mode"]))) if metric == "time" else f"{int(steps.steps.iloc[0]):,} steps"
        better = "faster/slower" if metric == "time" else "lower/higher loss"
        axis = "" if floor == 0 else f" · y axis starts at {floor:.3g}, not 0"
        _subtitle(ax, f"{context} · mode: {mode} · seeds ≤ {int(steps.n_seeds.max())}{axis}\n"
                      f"green/red: {better} (p<0.05); grey, ~: within noise or untested; hatched: n/a (see the table)")
        return _save(fig, out, stem)


def _finite(v: Any) -> bool:
    return v is not None and not pd.isna(v) and math.isfinite(float(v))


def _val(v: float, metric: str, unit: tuple[str, float]) -> str:
    return fmt_time(v, unit) if metric == "time" else f"{v:.4f}"


def _delta(row: Any, metric: str, unit: tuple[str, float]) -> str:
    text = fmt_time(row.delta, unit, signed=True) if metric == "time" else f"{row.delta:+.4f}".replace("-", "−")
    return text + ("" if row.significant else " ~")


# --- 2. recipes side by side ---------------------------------------------------------------------

def recipes_bars(bars: pd.DataFrame, context: str, out: Path, stem: str) -> list[Path]:
    bars = bars[bars.time_s.notna()]
    if not len(bars):
        return []
    unit = time_unit(float(bars.time_s.max()))
    per = unit[1]
    tops = [max(b.time_s, b.time_hi_s if _finite(b.time_hi_s) else b.time_s) / per for b in bars.itertuples()]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(max(5.5, 1.5 * len(bars) + 2), 4.8))
        for i, b in enumerate(bars.itertuples()):
            colour = BASE if b.is_base else RECIPE_COLOURS[i % len(RECIPE_COLOURS)]
            ax.bar(i, b.time_s / per, width=0.55, color=colour, alpha=0.55 if b.is_base else 1.0)
            if _finite(b.time_lo_s):
                ax.errorbar(i, b.time_s / per, yerr=[[(b.time_s - b.time_lo_s) / per], [(b.time_hi_s - b.time_s) / per]],
                            color="#333333", capsize=4, lw=1)
            # above the whisker's cap, so the interval never runs through the label
            ax.text(i, tops[i] * 1.08, f"{fmt_time(b.time_s, unit)}\n{b.mode}, n={b.n_seeds}",
                    ha="center", va="bottom", fontsize=8)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        lows = [min(b.time_s, b.time_lo_s if _finite(b.time_lo_s) else b.time_s) / per for b in bars.itertuples()]
        ax.set_ylim(min(lows) / 2.0, max(tops) * 3.0)
        ax.set_xticks(range(len(bars)), [b.replace(" (", "\n(") for b in bars.bar])
        ax.set_ylabel(f"time to target ({unit[0]}, log scale)")
        ax.set_title("Time to target by recipe", pad=18)
        _subtitle(ax, f"{context} · bars: geometric mean over seeds, whiskers: 95% interval")
        return _save(fig, out, stem)


# --- 3. loss curves ------------------------------------------------------------------------------

FACET_FROM = 7   # more variants than this: one small panel each, the others in grey behind it


def loss_curves(curves: Sequence[tuple[str, int, list[tuple[float, float, float]]]], target: float, recipe: str,
                context: str, out: Path, stem: str) -> list[Path]:
    """curves: (variant label, order, [(step, train_time_s, val_loss)]) per run; seeds share a colour.
    Up to FACET_FROM − 1 variants share one plot with a legend; more get a panel each (small multiples),
    since two dozen colours cannot be told apart."""
    curves = [c for c in curves if any(p[2] is not None for p in c[2])]
    if not curves:
        return []
    orders = sorted({c[1] for c in curves})
    label_of = {c[1]: c[0] for c in curves}
    ylim = _loss_range(curves, target)
    runs = f"{len(curves)} run{'s' if len(curves) != 1 else ''}"
    variants = f"{len(orders)} variant{'s' if len(orders) != 1 else ''}"
    title = (f"Validation loss of {recipe}" if len(curves) == 1 else
             f"Validation loss of {recipe}'s sweep ({variants})")
    with plt.rc_context(STYLE):
        if len(orders) < FACET_FROM:
            fig = _curves_together(curves, orders, label_of, target, ylim)
            fig.subplots_adjust(left=0.06)
        else:
            fig = _curves_faceted(curves, orders, label_of, target, ylim)
        height = fig.get_size_inches()[1]
        fig.suptitle(title, fontweight="bold", x=0.01, ha="left", va="top", y=1 - 0.05 / height)
        fig.text(0.01, 1 - 0.36 / height, f"{context} · {runs}; dashed: the target {target:g}", fontsize=8.5,
                 color="#555555", ha="left", va="top")
        return _save(fig, out, stem)


def _stable(pts: list) -> bool:
    """A run that ends above where it began is unstable: drawn, but it does not set the scale."""
    vals = [p[2] for p in pts if p[2] is not None]
    return len(vals) < 2 or vals[-1] <= vals[0]


def _loss_range(curves, target) -> tuple[float, float]:
    """The y range of the stable curves: from just below the lowest final loss (or the target) to the top of
    their bodies (the first evaluations, far above, are cut when a curve has more than two points)."""
    stable = [[p[2] for p in pts if p[2] is not None] for _, _, pts in curves if _stable(pts)] or \
        [[p[2] for p in pts if p[2] is not None] for _, _, pts in curves]
    body = [v for vals in stable for v in (vals[1:] if len(vals) > 2 else vals)]
    finals = [vals[-1] for vals in stable]
    lo, hi = min(min(finals), target), float(np.percentile(body, 95)) if len(body) > 3 else max(body)
    hi = max(hi, target)
    pad = (hi - lo) * 0.06 or 0.05
    return lo - pad, hi + pad


def _mark_unstable(ax, pts, ylim, x_of=lambda p: p[0]) -> None:
    vals = [p for p in pts if p[2] is not None]
    if not _stable(pts) and vals[-1][2] > ylim[1]:
        ax.annotate(f"unstable: ends at {vals[-1][2]:.3g} ↑", xy=(0.98, 0.96), xycoords="axes fraction",
                    ha="right", va="top", fontsize=7.5, color=BAD)


def _curves_together(curves, orders, label_of, target, ylim) -> plt.Figure:
    colour = {o: plt.get_cmap("tab10")(i % 10) for i, o in enumerate(orders)}
    max_t = max((t for _, _, pts in curves for (_, t, _) in pts), default=1.0)
    unit = time_unit(max_t)
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.8), sharey=True)
    fig.subplots_adjust(top=0.84, right=0.82)
    for label, order, pts in curves:
        pts = [p for p in pts if p[2] is not None]
        axes[0].plot([p[0] for p in pts], [p[2] for p in pts], color=colour[order], lw=1.5, alpha=0.9)
        axes[1].plot([p[1] / unit[1] for p in pts], [p[2] for p in pts], color=colour[order], lw=1.5, alpha=0.9)
    for ax in axes:
        ax.axhline(target, color=BAD, ls="--", lw=1)
    axes[0].set_ylim(*ylim)
    unstable = [label for label, _, pts in curves if not _stable(pts)]
    if unstable:
        axes[0].annotate("unstable (off the scale): " + ", ".join(dict.fromkeys(unstable)), xy=(0.01, 0.98),
                         xycoords="axes fraction", va="top", fontsize=7.5, color=BAD)
    axes[0].set_xlabel("step")
    axes[1].set_xlabel(f"training time ({unit[0]}, eval excluded)")
    axes[0].set_ylabel("val loss")
    handles = [Line2D([], [], color=colour[o], lw=1.8) for o in orders]
    # beside the plot, not on it: the curves fill the panel
    axes[1].legend(handles, [label_of[o] for o in orders], loc="upper left", bbox_to_anchor=(1.02, 1.0),
                   title="variant")
    return fig


def _curves_faceted(curves, orders, label_of, target, ylim) -> plt.Figure:
    cols = 4 if len(orders) <= 16 else 6
    rows = math.ceil(len(orders) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 2.3 * rows + 0.9), sharex=True, sharey=True,
                             squeeze=False)
    fig.subplots_adjust(top=1 - 0.95 / (2.3 * rows + 0.9), hspace=0.45, wspace=0.08, left=0.05, right=0.99)
    grey = [[(p[0], p[2]) for p in pts if p[2] is not None] for _, _, pts in curves]
    for ax, order in zip(axes.flat, orders):
        ax.add_collection(LineCollection(grey, colors="#d0d0d0", linewidths=0.8))
        mine = [pts for _, o, pts in curves if o == order]
        for pts in mine:
            ax.plot([p[0] for p in pts if p[2] is not None], [p[2] for p in pts if p[2] is not None],
                    color=TOTAL if _stable(pts) else BAD, lw=1.6)
            _mark_unstable(ax, pts, ylim)
        ax.axhline(target, color=BAD, ls="--", lw=0.8)
        final = np.mean([pts[-1][2] for pts in mine if pts and pts[-1][2] is not None])
        ax.set_title(f"{label_of[order]}  ({final:.3f})", fontsize=8.5, fontweight="normal", loc="left")
        ax.autoscale_view()
    for ax in axes.flat[len(orders):]:
        ax.axis("off")
    axes[0, 0].set_ylim(*ylim)
    for ax in axes[-1]:
        ax.set_xlabel("step", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("val loss", fontsize=8)
    return fig


# --- 4. leave one out ----------------------------------------------------------------------------

def leave_one_out(loo: pd.DataFrame, recipe: str, context: str, out: Path, stem: str) -> list[Path]:
    if not len(loo):
        return []
    metric = loo.metric.iloc[0]
    costs = [abs(float(c)) for c in loo.cost if _finite(c)]
    if not costs:
        return []
    unit = time_unit(max(costs)) if metric == "time" else ("", 1.0)
    per = unit[1]
    rows = loo.iloc[::-1]   # ranked first at the top
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(8, max(2.8, 0.42 * len(rows) + 1.5)))
        for i, r in enumerate(rows.itertuples()):
            if not _finite(r.cost):
                ax.text(0, i, "  n/a (see the table)", va="center", fontsize=8, color="#555555")
                continue
            ax.barh(i, r.cost / per, color=_colour(r.significant, -r.cost), height=0.6)
            if _finite(r.cost_lo):
                ax.errorbar(r.cost / per, i, xerr=[[(r.cost - r.cost_lo) / per], [(r.cost_hi - r.cost) / per]],
                            color="#333333", capsize=3, lw=1)
        ax.axvline(0, color="#333333", lw=0.8)
        # each bar's value at its end: read off even where a few large effects dwarf the rest
        for i, r in enumerate(rows.itertuples()):
            if _finite(r.cost):
                text = fmt_time(r.cost, unit, signed=True) if metric == "time" else f"{r.cost:+.3g}".replace("-", "−")
                ax.annotate(text, (r.cost / per, i), xytext=(4 if r.cost >= 0 else -4, -9), textcoords="offset points",
                            ha="left" if r.cost >= 0 else "right", va="center", fontsize=7, color="#444444")
        symlog = _spread(costs)
        if symlog:
            ax.set_xscale("symlog", linthresh=symlog / per, linscale=0.6)
        names = [f"{r.ingredient}" + (f"  (#{int(r.rank)})" if r.rank is not None and not pd.isna(r.rank)
                                      else "" if not _finite(r.cost)
                                      else "  (noise)" if _finite(r.p_value) else "  (untested)")
                 for r in rows.itertuples()]
        ax.set_yticks(range(len(rows)), names)
        what = (f"extra time to target without it ({unit[0]})" if metric == "time"
                else "final val loss without it − with it")
        ax.set_xlabel(what + (f"; symmetric log scale, linear within ±{symlog / per:.2g}" if symlog else ""))
        ax.set_title(f"Leave one out: what removing each ingredient of {recipe} costs", pad=18)
        modes = ", ".join(sorted(set(loo["mode"]))) if metric == "time" else "final loss at the planned steps"
        _subtitle(ax, f"{context} · mode: {modes} · ranked only where p<0.05; grey: within noise or untested")
        return _save(fig, out, stem)


def _spread(values: list[float]) -> float | None:
    """A linear threshold for a symmetric log axis when a few effects are > 20× the typical one (the rest
    would be slivers on a linear axis), else None."""
    mags = sorted(v for v in values if v > 0)
    if len(mags) < 3:
        return None
    typical = float(np.median(mags))
    return typical if typical > 0 and mags[-1] / typical > 20 else None


# --- 5. optimizer × architecture -----------------------------------------------------------------

def interaction(df: pd.DataFrame, context: str, out: Path, stem: str) -> list[Path]:
    if not len(df):
        return []
    metric = df.metric.iloc[0]
    df = df[df.metric == metric]
    unit = time_unit(float(np.nanmax(np.abs(df.effect)))) if metric == "time" else ("", 1.0)
    per = unit[1]
    recipes = sorted(df.recipe.unique())
    ingredients = sorted(df.ingredient.unique())
    h = 0.8 / len(recipes)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(8.5, min(14.0, max(3.0, 0.22 * len(ingredients) * (1 + len(recipes)) + 1.6))))
        for j, recipe in enumerate(recipes):
            sub = df[df.recipe == recipe].set_index("ingredient")
            for i, ing in enumerate(ingredients):
                if ing not in sub.index:
                    continue
                r = sub.loc[ing]
                y = i + (j - (len(recipes) - 1) / 2) * h
                ax.barh(y, r.effect / per, height=h * 0.9, color=RECIPE_COLOURS[j % len(RECIPE_COLOURS)],
                        alpha=1.0 if r.significant else 0.35, hatch=None if r.significant else "//",
                        label=f"under {recipe}" if i == ingredients.index(sub.index[0]) else None)
                if _finite(r.effect_lo):
                    ax.errorbar(r.effect / per, y, xerr=[[(r.effect - r.effect_lo) / per], [(r.effect_hi - r.effect) / per]],
                                color="#333333", capsize=2, lw=0.9)
        ax.axvline(0, color="#333333", lw=0.8)
        ax.set_yticks(range(len(ingredients)), ingredients)
        ax.invert_yaxis()
        ax.set_xlabel(f"time to target with it − without it ({unit[0]}); negative saves time" if metric == "time"
                      else "final val loss with it − without it")
        ax.set_title("The same ingredient under different recipes", pad=18)
        sources = ", ".join(sorted(df.source.unique()))
        modes = f" · mode: {', '.join(sorted(set(df['mode'])))}" if "mode" in df.columns else ""
        _subtitle(ax, f"{context} · from {sources}{modes} · faded/hatched: within noise or untested")
        ax.legend(loc="best")
        return _save(fig, out, stem)
