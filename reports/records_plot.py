"""The speedrun's record history as a figure: time per record over the date it was set.

Log-scale time against date, one point per README row coloured by the record's primary category,
filled where the record introduced an ingredient that remix's catalogue has (hollow otherwise), the
two remixed baselines (A: AdamW, M: Muon) as dashed reference lines (the times logged by the
modded-nanogpt-remixed scripts themselves, not remix measurements: the figure says so), and dotted marks where the
evaluation or timing protocol changed (times on either side of such a mark are not strictly
comparable). `remix report` calls `plot_records`; the figure is regenerated from history/records.toml
every time, never edited by hand.

Matplotlib's object API is used (no pyplot), so nothing here changes the process-wide backend.
"""

from __future__ import annotations

import math

from datetime import date
from pathlib import Path
from typing import Iterable

from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

# One colour per category, stable across figures (the order of history.data.CATEGORIES).
CATEGORY_COLOURS = {
    "architecture": "#e6862e",
    "optimizer": "#2a9d8f",
    "hyperparameters": "#4c8ed9",
    "attention": "#c2489a",
    "data": "#8c6d31",
    "precision": "#7a5cc7",
    "schedule": "#7fb800",
    "systems": "#7f7f7f",
    "evaluation protocol": "#d62728",
    "baseline": "#222222",
}
_BASELINE_STYLE = {"A": "#1f77b4", "M": "#d62728"}
_MINUTE_TICKS = [0.5, 0.75, 1, 1.25, 1.5, 2, 3, 5, 7, 10, 15, 20, 30, 45, 60, 90]


def _day(iso: str) -> date:
    return date.fromisoformat(iso)


def _minutes_label(value: float, _pos=None) -> str:
    return f"{value:g}"


def plot_records(records: Iterable, baselines: Iterable, catalogue_names: Iterable[str],
                 out_dir: str | Path, *, name: str = "records") -> list[Path]:
    """Draw the record history; returns the paths written ({name}.png and {name}.svg in out_dir).

    records: objects with key, date (ISO), time_s, categories, ingredients, eval_protocol_change and
    retiming (history.data.Record); baselines: objects with name, label, time and time_s."""
    records = [r for r in records if getattr(r, "date", "")]
    baselines = list(baselines)
    in_catalogue = set(catalogue_names)
    if not records:
        raise ValueError("plot_records: no records with a date to draw")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    fig = Figure(figsize=(14, 6.5), layout="constrained")
    ax = fig.add_subplot()
    ax.set_yscale("log")

    # The record frontier: each numbered record replaced the previous one.
    numbered = [r for r in records if not r.retiming]
    ax.step([_day(r.date) for r in numbered], [r.time_s / 60 for r in numbered], where="post",
            color="#bbbbbb", linewidth=1, zorder=1)

    # Labels where they can be read: one is left out when it would sit on a label already drawn (about a
    # label's width in days and its height in log time); the marker stays, and `remix history` lists it.
    days = [_day(r.date).toordinal() for r in records]
    span = max(days) - min(days) or 1
    placed: list[tuple[float, float]] = []

    def room(x: float, y: float) -> bool:
        return all(abs(x - px) > span / 45 or abs(math.log10(y / py)) > 0.045 for px, py in placed)

    seen_categories: list[str] = []
    for r in records:
        category = r.categories[0] if r.categories else "systems"
        colour = CATEGORY_COLOURS.get(category, "#999999")
        if category not in seen_categories:
            seen_categories.append(category)
        has = any(n in in_catalogue for n in r.ingredients)
        ax.scatter([_day(r.date)], [r.time_s / 60], s=46 if not r.retiming else 40,
                   marker="s" if r.retiming else "o", zorder=3, linewidths=1.4,
                   facecolors=colour if has else "white", edgecolors=colour)
        if has and room(_day(r.date).toordinal(), r.time_s / 60):
            placed.append((_day(r.date).toordinal(), r.time_s / 60))
            ax.annotate(f"#{r.key}", (_day(r.date), r.time_s / 60), xytext=(4, 4),
                        textcoords="offset points", fontsize=7, color="#333333")

    # Protocol changes: a dotted vertical mark at the record that changed it.
    for r in records:
        if getattr(r, "eval_protocol_change", ""):
            ax.axvline(_day(r.date), color="#d62728", linestyle=":", linewidth=0.8, alpha=0.35, zorder=0)

    # The remixed baselines as reference lines across the whole period.
    for b in baselines:
        colour = _BASELINE_STYLE.get(b.name, "#444444")
        ax.axhline(b.time_s / 60, color=colour, linestyle="--", linewidth=1.2, zorder=2)
        ax.annotate(f"{b.label}: {b.time} (its own log, not a remix run)", xy=(0.995, b.time_s / 60),
                    xycoords=("axes fraction", "data"),
                    xytext=(0, 3), textcoords="offset points", ha="right", va="bottom", fontsize=8,
                    color=colour)

    low = min([r.time_s / 60 for r in records] + [b.time_s / 60 for b in baselines])
    high = max([r.time_s / 60 for r in records] + [b.time_s / 60 for b in baselines])
    ax.set_ylim(low / 1.25, high * 1.2)
    ax.yaxis.set_major_locator(FixedLocator(_MINUTE_TICKS))
    ax.yaxis.set_major_formatter(FuncFormatter(_minutes_label))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("record time (minutes, log scale)")
    ax.set_xlabel("record date")
    ax.grid(True, which="major", axis="y", color="#eeeeee")
    ax.set_title("nanoGPT speedrun, track 1: time to 3.28 val loss on 8xH100, per record")

    handles = [Line2D([], [], marker="o", linestyle="", markerfacecolor=CATEGORY_COLOURS.get(c, "#999999"),
                      markeredgecolor=CATEGORY_COLOURS.get(c, "#999999"), label=c)
               for c in CATEGORY_COLOURS if c in seen_categories]
    handles += [
        Line2D([], [], marker="o", linestyle="", markerfacecolor="#555555", markeredgecolor="#555555",
               label="filled: has ingredients in the catalogue"),
        Line2D([], [], marker="o", linestyle="", markerfacecolor="white", markeredgecolor="#555555",
               label="hollow: none in the catalogue yet"),
        Line2D([], [], marker="s", linestyle="", markerfacecolor="white", markeredgecolor="#555555",
               label="re-timing of #21"),
        Line2D([], [], color="#d62728", linestyle=":", alpha=0.6, label="evaluation/timing protocol change"),
    ]
    handles += [Line2D([], [], color=_BASELINE_STYLE.get(b.name, "#444444"), linestyle="--",
                       label=f"{b.label}: logged by its script")
                for b in baselines]
    # Outside the axes: ninety points leave no corner of the plot free.
    fig.legend(handles=handles, loc="outside right upper", fontsize=8, title="primary category",
               title_fontsize=8, frameon=False)

    paths = []
    # SVG text stays text (searchable, restylable in a README) rather than glyph outlines.
    with rc_context({"svg.fonttype": "none"}):
        for ext in ("png", "svg"):
            path = out / f"{name}.{ext}"
            fig.savefig(path, dpi=150 if ext == "png" else None)
            paths.append(path)
    return paths
