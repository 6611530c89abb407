"""`remix report` and `remix status`: registered on the main CLI by `register(app)`.

Bad input (a missing directory, an unknown recipe, a results directory with no valid record) is one
clear line on stderr and exit status 2, never a traceback; files that are not records are listed and
skipped.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

out = Console()
err = Console(stderr=True)


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def report(results: Path = typer.Option(Path("results"), "--results", help="Directory of run records."),
           out_dir: Path = typer.Option(Path("report"), "--out", help="Where the figures and report.md go."),
           recipe: Optional[str] = typer.Option(None, "--recipe", help="Only this recipe's sections."),
           history: bool = typer.Option(True, "--history/--no-history",
                                        help="Add the speedrun's published record times (a figure)."),
           target: Optional[float] = typer.Option(None, "--target",
                                                  help="Time to this val loss instead of the recipes' own "
                                                       "target (e.g. for --scale tiny runs).")) -> None:
    """Regenerate every figure, table and the Markdown report from the run records alone."""
    from reports.build import ReportError, build_report
    try:
        rep = build_report(results, out_dir, recipe, history=history, target=target)
    except ReportError as e:
        _fail(str(e))
    for path, why in rep.skipped:
        err.print(f"[yellow]skipped[/yellow] {path}: {why}", highlight=False, soft_wrap=True)
    for note in rep.notes:
        err.print(f"[yellow]note:[/yellow] {note}", highlight=False, soft_wrap=True)
    figures = sum(1 for p in rep.files if p.suffix == ".png")
    out.print(f"{rep.records} record(s) -> {figures} figure(s) (PNG + SVG), "
              f"{sum(1 for p in rep.files if p.suffix == '.csv')} table(s): {rep.markdown}", highlight=False)


def status(results: Path = typer.Option(Path("results"), "--results", help="Directory of run records."),
           show_all: bool = typer.Option(False, "--all", help="List the runs of finished sweeps too.")) -> None:
    """What each sweep has done, what is running, what is left, with times."""
    from remix.results import ResultStore
    from remix.sweep import manifests, sweep_progress
    if not results.is_dir():
        _fail(f"{results}: no such results directory")
    store = ResultStore(results)
    found = manifests(results)
    if not found:
        out.print(f"no sweeps in {results} (single runs are listed by their records)")
    now = _dt.datetime.now(_dt.timezone.utc)
    progress = []
    for path, manifest in found:
        if isinstance(manifest, Exception):
            err.print(f"[yellow]skipped[/yellow] {path}: {manifest}", highlight=False)
            continue
        progress.append(sweep_progress(path, manifest, store, now))
    progress.sort(key=lambda p: str(p.manifest.get("updated_at", "")))
    for p in progress:
        _print_sweep(p, show_all)


def _print_sweep(p, show_all: bool) -> None:
    m = p.manifest
    n = len(p.runs)
    done, running = p.count("done", "diverged"), p.count("running")
    left = p.count("pending", "interrupted", "failed")
    runner = m.get("runner") or {}
    if p.runner_alive:
        who = f"[green]running[/green] (pid {runner.get('pid')}, {runner.get('executor')}, since {runner.get('started_at')})"
    elif p.runner_alive is None:
        who = f"runner on {runner.get('host')} (pid {runner.get('pid')}): cannot tell from here"
    else:
        who = "[dim]not running[/dim]" + (" — run the same command again to resume" if left else "")
    spent = sum(r.wall_s or 0 for r in p.runs if r.state in ("done", "diverged"))
    out.print(f"\n[bold]{m.get('recipe')}[/bold] {m.get('kind')} sweep {m.get('id')}: "
              f"{done}/{n} done, {running} running, {left} left · {who}", highlight=False)
    out.print(f"  time in finished runs {duration(spent)}; estimated time left "
              f"{duration(p.eta_s) if left or running else '0s'}", highlight=False)
    if left == 0 and running == 0 and not show_all:
        return
    t = Table("#", "variant", "seed", "steps", "state", "val loss", "train time", "wall", box=None, pad_edge=False)
    colour = {"done": "green", "running": "cyan", "interrupted": "yellow", "failed": "red", "diverged": "red",
              "pending": "dim"}
    for r in p.runs:
        e, rec = r.entry, r.record
        loss = f"{rec.final_val_loss:.4f}" if rec is not None and rec.final_val_loss is not None else "-"
        train = duration(rec.train_time_ms / 1000) if rec is not None and rec.train_time_ms else "-"
        t.add_row(str(e.get("index")), str(e.get("label", "")) + ("" if e.get("role") == "variant" else f" ({e.get('role')})"),
                  str(e.get("seed")), str(e.get("steps")), f"[{colour.get(r.state, 'white')}]{r.state}[/]", loss,
                  train, duration(r.wall_s))
    out.print(t)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("status")(status)
