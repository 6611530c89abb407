"""`remix status`: what each sweep has done, what is running, what is left, with times."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

out = Console()
err = Console(stderr=True)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def status(results: Path = typer.Option(Path("results"), "--results", "--out", help="Directory of run records."),
           show_all: bool = typer.Option(False, "--all", help="List the runs of finished sweeps too.")) -> None:
    """What each sweep has done, what is running, what is left, with times."""
    from remix.results import ResultStore
    from remix.sweep import manifests, sweep_progress
    if not results.is_dir():
        err.print(f"[red]error:[/red] {escape(str(results))}: no such results directory", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    store = ResultStore(results)
    found = manifests(results)
    if not found:
        out.print(f"no sweeps in {results} (single runs are listed by their records)")
    now = _dt.datetime.now(_dt.timezone.utc)
    progress = []
    for path, manifest in found:
        if isinstance(manifest, Exception):
            err.print(f"[yellow]skipped[/yellow] {escape(str(path))}: {escape(str(manifest))}", highlight=False)
            continue
        progress.append(sweep_progress(path, manifest, store, now))
    progress.sort(key=lambda p: str(p.manifest.get("updated_at", "")))
    for p in progress:
        _print_sweep(p, show_all)
    _print_jobs(store)


def _print_jobs(store) -> None:
    """The Slurm (or local submitit) jobs of --executor slurm, with the scheduler's state and the record's."""
    from remix.slurm import JobBook, job_state
    jobs = JobBook(store.root).read()
    if not jobs:
        return
    t = Table("run", "identity", "job", "job state", "record", "requeues", "submitted", box=None, pad_edge=False)
    for identity, e in sorted(jobs.items(), key=lambda kv: str(kv[1].get("submitted_at"))):
        record = store.find(identity)
        t.add_row(str(e.get("label", "")), identity, f"{e.get('cluster')} {e.get('job_id')}", job_state(e),
                  record.status if record is not None else "-", str(e.get("requeues", 0)), str(e.get("submitted_at")))
    out.print(f"\n[bold]jobs[/bold] (--executor slurm; logs in {JobBook(store.root).folder / 'jobs'})", highlight=False)
    out.print(t)


def _print_sweep(p, show_all: bool) -> None:
    m = p.manifest
    n = len(p.runs)
    done, running = p.count("done", "unstable", "diverged"), p.count("running")
    left = p.count("pending", "interrupted", "failed")
    runner = m.get("runner") or {}
    if p.runner_alive:
        who = f"[green]running[/green] (pid {runner.get('pid')}, {runner.get('executor')}, since {runner.get('started_at')})"
    elif p.runner_alive is None:
        who = f"runner on {runner.get('host')} (pid {runner.get('pid')}): cannot tell from here"
    else:
        who = "[dim]not running[/dim]" + (" — run the same command again to resume" if left else "")
    spent = sum(r.wall_s or 0 for r in p.runs if r.state in ("done", "unstable", "diverged"))
    out.print(f"\n[bold]{m.get('recipe')}[/bold] {m.get('kind')} sweep {m.get('id')}: "
              f"{done}/{n} done, {running} running, {left} left · {who}", highlight=False)
    out.print(f"  time in finished runs {duration(spent)}; estimated time left "
              f"{duration(p.eta_s) if left or running else '0s'}", highlight=False)
    if left == 0 and running == 0 and not show_all:
        return
    t = Table("#", "variant", "seed", "steps", "state", "val loss", "train time", "wall", box=None, pad_edge=False)
    colour = {"done": "green", "running": "cyan", "interrupted": "yellow", "failed": "red", "diverged": "red",
              "unstable": "red", "pending": "dim"}
    for r in p.runs:
        e, rec = r.entry, r.record
        loss = f"{rec.final_val_loss:.4f}" if rec is not None and rec.final_val_loss is not None else "-"
        train = duration(rec.train_time_ms / 1000) if rec is not None and rec.train_time_ms else "-"
        t.add_row(str(e.get("index")), str(e.get("label", "")) + ("" if e.get("role") == "variant" else f" ({e.get('role')})"),
                  str(e.get("seed")), str(e.get("steps")), f"[{colour.get(r.state, 'white')}]{r.state}[/]", loss,
                  train, duration(r.wall_s))
    out.print(t)
