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
    """Base → each ingredient's Δ along the recipe's order → full recipe."""
    prefixes = variants[(variants.vkind == "prefix") & variants.vindex.notna()].copy()
    prefixes["vindex"] = prefixes.vindex.astype(int)
    by_index = {int(r.vindex): r for r in prefixes.itertuples()}
    if not len(marginal) or 0 not in by_index:
        return []
    metric = marginal.metric.iloc[0]
    value = (lambda r: r.time_s) if metric == "time" else (lambda r: r.loss)
    steps = marginal.sort_values("index")
    top = max(value(r) for r in by_index.values() if value(r) == value(r))
    unit = time_unit(top) if metric == "time" else ("", 1.0)
    per = unit[1]
    n = len(steps) + 2
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(max(6.5, 0.55 * n + 2.5), 5.2))
        base = by_index[0]
        ax.bar(0, value(base) / per, color=TOTAL, width=0.7)
        ax.text(0, value(base) / per, _val(value(base), metric, unit), ha="center", va="bottom", fontsize=8)
        labels = ["base"]
        x = 1
        for row in steps.itertuples():
            before, after = row.before / per, row.after / per
            lo, hi = sorted((before, after))
            c = _colour(row.significant, row.delta)
            ax.bar(x, hi - lo, bottom=lo, color=c, width=0.7)
            if row.delta_hw is not None and not pd.isna(row.delta_hw):
                ax.errorbar(x, after, yerr=row.delta_hw / per, color="#333333", capsize=3, lw=1)
            ax.plot([x - 1.35, x - 0.35], [before, before], color="#777777", lw=0.6, ls=":")
            # the Δ goes with the name in the tick label: bars of any height leave it readable
            labels.append(f"{row.ingredient or f'#{row.index}'}: {_delta(row, metric, unit)}")
            x += 1
        last = by_index[max(by_index)]
        ax.bar(x, value(last) / per, color=TOTAL, width=0.7)
        ax.text(x, value(last) / per, _val(value(last), metric, unit), ha="center", va="bottom", fontsize=8)
        labels.append(recipe)
        ax.set_xticks(range(len(labels)), labels, rotation=40, ha="right")
        ax.set_ylabel(metric_axis(metric, unit))
        ax.set_ylim(0, ax.get_ylim()[1] * 1.12)
        what = "Marginal time to target" if metric == "time" else "Marginal final val loss (no time-to-target available)"
        ax.set_title(f"{what} along {recipe}'s order", pad=30)
        modes = ", ".join(sorted(set(variants["mode"]))) if metric == "time" else f"{int(steps.steps.iloc[0])} steps"
        _subtitle(ax, f"{context} · mode: {modes} · seeds ≤ {int(variants.n_seeds.max())}\n"
                      f"green/red: faster/slower (p<0.05); grey, ~: within noise or untested")
        return _save(fig, out, stem)


def _val(v: float, metric: str, unit: tuple[str, float]) -> str:
    return fmt_time(v, unit) if metric == "time" else f"{v:.4f}"


def _delta(row: Any, metric: str, unit: tuple[str, float]) -> str:
    if metric == "time":
        text = fmt_time(row.delta, unit, signed=True)
        if row.delta_hw is not None and not pd.isna(row.delta_hw):
            text = text.replace(f" {unit[0]}", f" ± {row.delta_hw / unit[1]:.2g} {unit[0]}")
    else:
        text = f"{row.delta:+.4f}" + ("" if row.delta_hw is None or pd.isna(row.delta_hw) else f" ± {row.delta_hw:.2g}")
    return text + ("" if row.significant else " ~")


# --- 2. recipes side by side ---------------------------------------------------------------------

def recipes_bars(bars: pd.DataFrame, context: str, out: Path, stem: str) -> list[Path]:
    bars = bars[bars.time_s.notna()]
    if not len(bars):
        return []
    unit = time_unit(float(bars.time_s.max()))
    per = unit[1]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(max(5.5, 1.3 * len(bars) + 2), 4.8))
        for i, b in enumerate(bars.itertuples()):
            colour = BASE if b.is_base else RECIPE_COLOURS[i % len(RECIPE_COLOURS)]
            ax.bar(i, b.time_s / per, width=0.55, color=colour, alpha=0.55 if b.is_base else 1.0)
            if b.time_lo_s is not None and not pd.isna(b.time_lo_s):
                ax.errorbar(i, b.time_s / per, yerr=[[(b.time_s - b.time_lo_s) / per], [(b.time_hi_s - b.time_s) / per]],
                            color="#333333", capsize=4, lw=1)
            ax.text(i, b.time_s / per * 1.04, f"{fmt_time(b.time_s, unit)}\n{b.mode}, n={b.n_seeds}",
                    ha="center", va="bottom", fontsize=8)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        lo, hi = float(bars.time_s.min()) / per, float(bars.time_s.max()) / per
        ax.set_ylim(lo / 2.0, hi * 2.2)
        ax.set_xticks(range(len(bars)), [b.replace(" (", "\n(") for b in bars.bar])
        ax.set_ylabel(f"time to target ({unit[0]}, log scale)")
        ax.set_title("Time to target by recipe", pad=18)
        _subtitle(ax, f"{context} · bars: mean over seeds, whiskers: 95% interval")
        return _save(fig, out, stem)


# --- 3. loss curves ------------------------------------------------------------------------------

def loss_curves(curves: Sequence[tuple[str, int, list[tuple[float, float, float]]]], target: float, recipe: str,
                context: str, out: Path, stem: str) -> list[Path]:
    """curves: (variant label, order, [(step, train_time_s, val_loss)]) per run; seeds share a colour."""
    curves = [c for c in curves if len(c[2]) >= 1]
    if not curves:
        return []
    orders = sorted({c[1] for c in curves})
    cmap = plt.get_cmap("viridis", max(len(orders), 2))
    colour = {o: cmap(i / max(len(orders) - 1, 1)) for i, o in enumerate(orders)}
    label_of = {c[1]: c[0] for c in curves}
    late = [v for _, _, pts in curves for (s, _, v) in pts[1:] if v is not None]
    finals = [pts[-1][2] for _, _, pts in curves if pts[-1][2] is not None]
    max_t = max((t for _, _, pts in curves for (_, t, _) in pts), default=1.0)
    unit = time_unit(max_t)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
        # one LineCollection per panel: hundreds of runs draw as one artist, not hundreds
        by_step, by_time, colours = [], [], []
        for label, order, pts in curves:
            pts = [p for p in pts if p[2] is not None]
            by_step.append([(p[0], p[2]) for p in pts])
            by_time.append([(p[1] / unit[1], p[2]) for p in pts])
            colours.append(colour[order])
        for ax, segs in zip(axes, (by_step, by_time)):
            ax.add_collection(LineCollection(segs, colors=colours, linewidths=1.3, alpha=0.85))
            ax.autoscale_view()
        for ax in axes:
            ax.axhline(target, color="#d1495b", ls="--", lw=1)
        axes[0].text(0.99, target, f"target {target:g}", transform=axes[0].get_yaxis_transform(), ha="right",
                     va="bottom", color="#d1495b", fontsize=8)
        if finals and len(late) >= 2 * len(curves):   # zoom past the first evals only when curves have a body
            lo = min(min(finals), target) - 0.05
            hi = float(np.percentile(late, 90)) if len(late) > 3 else max(late)
            axes[0].set_ylim(lo, max(hi, target + 0.1))
        axes[0].set_xlabel("step")
        axes[1].set_xlabel(f"training time ({unit[0]}, eval excluded)")
        axes[0].set_ylabel("val loss")
        fig.suptitle(f"Validation loss of {recipe}'s sweep", fontweight="bold", y=1.02)
        axes[0].set_title(f"{context} · {len(curves)} runs", fontsize=8.5, fontweight="normal", color="#555555",
                          loc="left")
        if len(orders) <= 12:
            handles = [Line2D([], [], color=colour[o], lw=1.6) for o in orders]
            axes[1].legend(handles, [label_of[o] for o in orders], loc="upper right", title="variant")
        else:
            sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(-0.5, len(orders) - 0.5))
            bar = fig.colorbar(sm, ax=axes, pad=0.01, aspect=40)
            bar.set_ticks(range(len(orders)), labels=[label_of[o] for o in orders])
            bar.ax.tick_params(labelsize=7)
        return _save(fig, out, stem)


# --- 4. leave one out ----------------------------------------------------------------------------

def leave_one_out(loo: pd.DataFrame, recipe: str, context: str, out: Path, stem: str) -> list[Path]:
    if not len(loo):
        return []
    metric = loo.metric.iloc[0]
    unit = time_unit(float(np.nanmax(np.abs(loo.cost)))) if metric == "time" else ("", 1.0)
    per = unit[1]
    rows = loo.iloc[::-1]   # ranked first at the top
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(8, max(2.8, 0.42 * len(rows) + 1.5)))
        for i, r in enumerate(rows.itertuples()):
            ax.barh(i, r.cost / per, color=_colour(r.significant, -r.cost), height=0.6)
            if r.cost_hw is not None and not pd.isna(r.cost_hw):
                ax.errorbar(r.cost / per, i, xerr=r.cost_hw / per, color="#333333", capsize=3, lw=1)
        ax.axvline(0, color="#333333", lw=0.8)
        names = [f"{r.ingredient}" + (f"  (#{int(r.rank)})" if r.rank is not None and not pd.isna(r.rank) else "  (noise)")
                 for r in rows.itertuples()]
        ax.set_yticks(range(len(rows)), names)
        what = (f"extra time to target without it ({unit[0]})" if metric == "time"
                else "final val loss without it − with it")
        ax.set_xlabel(what)
        ax.set_title(f"Leave one out: what removing each ingredient of {recipe} costs", pad=18)
        modes = ", ".join(sorted(set(loo["mode"]))) if metric == "time" else "final loss at the planned steps"
        _subtitle(ax, f"{context} · mode: {modes} · ranked only where p<0.05; grey: within noise or untested")
        return _save(fig, out, stem)


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
                if r.effect_hw is not None and not pd.isna(r.effect_hw):
                    ax.errorbar(r.effect / per, y, xerr=r.effect_hw / per, color="#333333", capsize=2, lw=0.9)
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
