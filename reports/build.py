"""`remix report`: every figure, table and the Markdown report, regenerated from the records alone.

    build_report("results", "report", recipe=None) -> Report (the files written, what was skipped)

Output (one set per context, i.e. hardware × data × target; a suffix tells contexts apart when there
are several): recipes.{png,svg} (time to target side by side, log scale), waterfall-<recipe>,
curves-<recipe>, leave-one-out-<recipe>, interaction (the same ingredient under different recipes),
CSV tables, and report.md that holds them all. The files a report wrote are listed in .remix-report in
its folder, and the next report there removes them first: no figure of a recipe or context that has
since gone is left behind to be mistaken for a current one (no other file is touched).
"""

from __future__ import annotations

import datetime as _dt
import multiprocessing
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from reports import figures as fig
from reports import markdown as md
from reports.analysis import Tables, analyse
from reports.load import Loaded, load_records
from remix.spec import stable_hash


PARALLEL_FROM = 300      # records from which figures are drawn in several processes (forking costs ~0.1 s)
WRITTEN = ".remix-report"   # the list of files the last report wrote in its folder


class ReportError(ValueError):
    pass


@dataclass
class Report:
    out: Path
    markdown: Path
    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    records: int = 0


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def build_report(results: Path | str = "results", out: Path | str = "report", recipe: str | None = None,
                 history: bool = True, workers: int | None = None, target: float | None = None) -> Report:
    """`history`: add the speedrun's published-records figure (reports/records_plot.py, if present);
    it reads the ingredient catalogue, which imports torch, so it is the slowest part to start.
    `workers`: processes drawing figures (None: several for large reports on Linux, else one).
    `target`: the val loss to measure time to, instead of each record's own target."""
    results, out = Path(results), Path(out)
    if not results.is_dir():
        raise ReportError(f"{results}: no such results directory (run `remix run RECIPE` first, or pass --results)")
    if target is not None and not (isinstance(target, (int, float)) and target > 0):
        raise ReportError(f"--target {target!r}: expected a positive val loss")
    loaded = load_records(results, target)
    if not len(loaded.runs):
        why = f"; {len(loaded.skipped)} file(s) skipped, e.g. {loaded.skipped[0][0].name}: {loaded.skipped[0][1]}" \
            if loaded.skipped else ""
        raise ReportError(f"{results}: no remix run records found{why}")
    known = sorted(set(loaded.members.recipe))
    if recipe is not None and recipe not in known:
        raise ReportError(f"no records of recipe {recipe!r} in {results}; recipes there: {', '.join(known)}")
    tables = analyse(loaded)
    from remix.outdir import OutputError, writable_dir
    try:
        writable_dir(out, "--out")
    except OutputError as e:
        raise ReportError(str(e)) from None
    _remove_previous(out)
    report = Report(out, out / "report.md", skipped=list(loaded.skipped), records=len(loaded.runs),
                    notes=list(tables.notes))
    figs = _Figures(out)
    body = _sections(loaded, tables, out, recipe, report, figs)
    report.files += _csv(tables, out)
    if workers is None:
        workers = min(os.cpu_count() or 1, 4) if len(loaded.runs) >= PARALLEL_FROM and sys.platform == "linux" else 1
    drawn = figs.draw(workers)
    report.files += [p for paths in drawn.values() for p in paths]
    history = _history_figures(out / "history", report) if history else []
    text = figs.fill(_document(loaded, results, recipe, body, history, out, target), drawn)
    report.markdown.write_text(text)
    report.files.append(report.markdown)
    (out / WRITTEN).write_text("".join(f"{p.relative_to(out).as_posix()}\n" for p in report.files))
    return report


def _remove_previous(out: Path) -> None:
    """The files the previous report in `out` listed as its own (and only those)."""
    listing = out / WRITTEN
    if not listing.is_file():
        return
    for name in listing.read_text().splitlines():
        path = (out / name).resolve()
        if name and out.resolve() in path.parents:
            path.unlink(missing_ok=True)
    for folder in sorted({p.parent for p in out.rglob("*")} - {out}, key=lambda p: -len(p.parts)):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


class _Figures:
    """Figures are queued while the Markdown is written, then drawn (in several processes when the
    report is large: matplotlib is most of a report's time), and their places in the text filled with
    what was actually drawn (a figure function draws nothing when its data are too thin)."""

    def __init__(self, out: Path):
        self.out = out
        self.jobs: list[tuple[str, str, str, Callable[..., list[Path]], tuple]] = []

    def add(self, fn: Callable[..., list[Path]], stem: str, alt: str, *args: Any, missing: str = "") -> str:
        self.jobs.append((stem, alt, missing, fn, args))
        return f"\x00{stem}\x00"

    def draw(self, workers: int) -> dict[str, list[Path]]:
        calls = [(fn, args, self.out, stem) for stem, _, _, fn, args in self.jobs]
        if workers > 1 and len(calls) > 2:
            # fork: the children inherit the imported modules and the data, nothing is re-imported
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                results = list(pool.map(_draw, calls))
        else:
            results = [_draw(c) for c in calls]
        return {stem: paths for (stem, *_), paths in zip(self.jobs, results)}

    def fill(self, text: str, drawn: dict[str, list[Path]]) -> str:
        info = {stem: (alt, missing) for stem, alt, missing, _, _ in self.jobs}

        def one(m: re.Match) -> str:
            alt, missing = info[m.group(1)]
            return md.figure(drawn.get(m.group(1), []), self.out, alt) or missing
        return re.sub("\x00(.*?)\x00", one, text)


def _draw(call: tuple) -> list[Path]:
    fn, args, out, stem = call
    return fn(*args, out, stem)


def _sections(loaded: Loaded, t: Tables, out: Path, only: str | None, report: Report, figs: _Figures) -> list[str]:
    parts: list[str] = []
    contexts = list(dict.fromkeys(t.variants.context)) if len(t.variants) else []
    if not contexts:
        report.notes.append("no finished runs with a final val loss: nothing to estimate")
        return ["No finished runs with a final val loss yet; see `remix status`.", ""]
    for context in contexts:
        sfx = "" if len(contexts) == 1 else "-" + _slug(context.split(" · ")[0])[:24] + "-" + stable_hash(context)[:6]
        parts += [f"## {context}" if len(contexts) > 1 else f"## Context: {context}", ""]
        v = t.variants[t.variants.context == context]
        bars = t.recipes[t.recipes.context == context] if len(t.recipes) else t.recipes
        none_yet = "No recipe has a time to target yet (see the variant tables for why).\n"
        parts += ["### Time to target by recipe", "",
                  figs.add(fig.recipes_bars, f"recipes{sfx}", "time to target by recipe", bars, context,
                           missing=none_yet) if len(bars) else none_yet]
        recipes = [r for r in dict.fromkeys(v.recipe) if only is None or r == only]
        for recipe in recipes:
            parts += _recipe_sections(loaded, t, context, recipe, sfx, figs)
        inter = t.interaction[t.interaction.context == context] if len(t.interaction) else t.interaction
        parts += ["### The same ingredient under different recipes (optimizer × architecture)", ""]
        if len(inter):
            parts += [figs.add(fig.interaction, f"interaction{sfx}", "interaction", inter, context),
                      md.interaction_section(inter), ""]
        else:
            parts += ["Needs the same ingredient's marginal effect (a prefix or leave-one-out sweep) under at "
                      "least two recipes, e.g. `remix run recipes/adamw_baseline.toml --prefixes` and "
                      "`remix run recipes/muon_baseline.toml --prefixes`.", ""]
    return parts


def _recipe_sections(loaded: Loaded, t: Tables, context: str, recipe: str, sfx: str, figs: _Figures) -> list[str]:
    v = t.variants[(t.variants.context == context) & (t.variants.recipe == recipe)].copy()
    v["_o"] = v.vindex.fillna(1e9)
    v = v.sort_values(["_o", "label", "main_steps"]).drop(columns="_o")
    parts = [f"### {recipe}", "", "#### Variants", "", md.variants_section(v), ""]
    m = t.marginal[(t.marginal.context == context) & (t.marginal.recipe == recipe)] if len(t.marginal) else t.marginal
    parts += ["#### Marginal effect of each ingredient along the order", ""]
    if len(m):
        parts.append(f"Each prefix at {int(m.steps.iloc[0]):,} planned steps (the step count of most of its runs).\n")
        if m.metric.iloc[0] == "loss":
            parts.append("Not every prefix has a time to target, so this compares final val loss at the planned "
                         "step count instead.\n")
        parts += [figs.add(fig.waterfall, f"waterfall-{_slug(recipe)}{sfx}", f"waterfall of {recipe}", m, v, recipe,
                           context), md.marginal_section(m), ""]
    else:
        parts += [f"No prefix sweep: `remix run <recipe {recipe}> --prefixes`.", ""]
    curves, target = _curves(loaded, t, context, recipe)
    parts += ["#### Loss curves", "",
              figs.add(fig.loss_curves, f"curves-{_slug(recipe)}{sfx}", f"loss curves of {recipe}", curves, target,
                       recipe, context, missing="No curves recorded.\n") if curves else "No curves recorded.\n"]
    l = t.leave_one_out[(t.leave_one_out.context == context) & (t.leave_one_out.recipe == recipe)] \
        if len(t.leave_one_out) else t.leave_one_out
    parts += ["#### Leave one out", ""]
    if len(l):
        parts += [figs.add(fig.leave_one_out, f"leave-one-out-{_slug(recipe)}{sfx}", f"leave one out of {recipe}", l,
                           recipe, context), md.loo_section(l), ""]
    else:
        parts += [f"No leave-one-out sweep: `remix ablate <recipe {recipe}> --each`.", ""]
    c = t.changes[(t.changes.context == context) & (t.changes.recipe == recipe)] if len(t.changes) else t.changes
    if len(c):
        parts += ["#### Additions and swaps", "",
                  "Each `remix ablate --add` (or `--drop a --add b`) variant against the full recipe at the same "
                  "step count (Δ < 0: faster, or a lower loss).\n", md.changes_section(c), ""]
    return parts


def _curves(loaded: Loaded, t: Tables, context: str, recipe: str) -> tuple[list, float]:
    """The val-loss curves of the recipe's largest sweep (its planned runs, not slope or search runs),
    labelled as the variants table labels them. Unstable runs are drawn too: the curve shows why."""
    mem = loaded.members
    runs = loaded.runs
    mine = mem[(mem.recipe == recipe) & (mem.role == "variant") & mem.identity.isin(runs.identity)]
    mine = mine[mine.identity.map(runs.context) == context]
    if not len(mine):
        return [], 0.0
    with_sweep = mine[mine.sweep_id.notna()]
    if len(with_sweep):
        prefixish = with_sweep.assign(p=with_sweep.rkind == "prefix").groupby("sweep_id").agg(p=("p", "sum"),
                                                                                              n=("p", "size"))
        best = prefixish.sort_values(["p", "n"], ascending=False).index[0]
        mine = mine[mine.sweep_id == best]
    v = t.variants[(t.variants.context == context) & (t.variants.recipe == recipe)]
    label_of = dict(zip(v.variant, v.label))
    mine = mine.assign(variant=mine.identity.map(runs.variant))
    # panels in the recipe's order: prefixes by index; the full recipe, then each drop where its ingredient sits
    names = max((loaded.records[i].ingredients for i in mine.identity), key=len)
    position = {n["name"]: k for k, n in enumerate(names)}
    rank = mine.apply(lambda m: m.rindex if not pd.isna(m.rindex) else
                      -1 if m.rkind == "full" else position.get(str(m.ingredient).split(",")[0], len(position)), axis=1)
    mine = mine.assign(_rank=rank).sort_values("_rank", kind="stable")
    order = {k: i for i, k in enumerate(dict.fromkeys(mine.variant))}
    curves = []
    for m in mine.drop_duplicates("identity").itertuples():
        r = loaded.records[m.identity]
        pts = [(p.step, p.train_time_ms / 1000.0, p.val_loss) for p in r.curve if p.val_loss is not None]
        curves.append((label_of.get(m.variant, m.rkey), order[m.variant], pts))
    return curves, float(runs.loc[mine.identity.iloc[0], "target"])


def _csv(t: Tables, out: Path) -> list[Path]:
    paths = []
    for name, df in [("variants", t.variants), ("seeds", t.seeds), ("marginal", t.marginal),
                     ("leave_one_out", t.leave_one_out), ("interaction", t.interaction), ("changes", t.changes)]:
        if not len(df):
            continue
        p = out / f"{name}.csv"
        df = df.assign(runs=df.identities.map(lambda ids: " ".join(sorted(ids)))) if name == "seeds" else df
        df.drop(columns=[c for c in ("times", "losses", "identities") if c in df.columns]).to_csv(p, index=False)
        paths.append(p)
    return paths


def _history_figures(out: Path, report: Report) -> list[Path]:
    """The speedrun's own published record times (reports/records_plot.py, when it exists)."""
    try:
        from reports.records_plot import plot_records
    except ImportError:
        return []
    try:
        from history.catalogue import read_catalogue
        from history.data import default_history
        h = default_history()
        paths = [Path(p) for p in plot_records(h.records, h.baselines, read_catalogue().names, out)]
    except Exception as e:   # the history figure is an extra: its failure must not cost the report
        report.notes.append(f"speedrun history figure skipped: {type(e).__name__}: {e}")
        return []
    report.files += paths
    return paths


def _document(loaded: Loaded, results: Path, recipe: str | None, body: list[str], history: list[Path],
              out: Path, target: float | None = None) -> str:
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = [f"# remix report{f': {recipe}' if recipe else ''}", "",
            f"Generated {now} by `remix report` from {len(loaded.runs)} run record(s) in `{results}`"
            f"{f' ({len(loaded.skipped)} file(s) skipped, listed at the end)' if loaded.skipped else ''}. "
            "Every number and figure below is computed from those records; none is typed in."
            + (f" Times are to val loss {target:g} (`--target`), not the recipes' own targets." if target else ""),
            "",
            md.setup_section(loaded.runs), md.MODES, ""]
    tail = []
    if history:
        tail += ["## The speedrun's published records", "",
                 "For orientation only: these are the speedrun's own reported times (history/records.toml), "
                 "not remix measurements.", "", md.figure(history, out, "speedrun records"), ""]
    tail.append(md.skipped_section(loaded.skipped, results))
    return "\n".join(head + body + tail).rstrip() + "\n"
