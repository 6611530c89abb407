"""`remix report`: every figure, table and report.md regenerated from the run records.

Bad input (a missing directory, an unknown recipe, a results directory with no valid record, an output
folder that cannot be written) is one clear line on stderr and exit status 2, never a traceback; files
that are not records are listed and skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

out = Console()
err = Console(stderr=True)


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def report(results: Path = typer.Option(Path("results"), "--results", help="Directory of run records "
                                                                   "(what run and ablate call --out)."),
           out_dir: Path = typer.Option(Path("report"), "--out", help="Where the figures and report.md go."),
           recipe: Optional[str] = typer.Option(None, "--recipe", help="Only this recipe's sections."),
           history: bool = typer.Option(True, "--history/--no-history",
                                        help="Add the speedrun's published record times (a figure)."),
           target: Optional[float] = typer.Option(None, "--target",
                                                  help="Time to this val loss instead of the recipes' own "
                                                       "target (e.g. for --scale tiny runs).")) -> None:
    """Regenerate every figure, table and the Markdown report from the run records alone (the files of the
    previous report in --out are replaced, never left to go stale)."""
    from reports.build import ReportError, build_report
    try:
        rep = build_report(results, out_dir, recipe, history=history, target=target)
    except ReportError as e:
        _fail(str(e))
    for path, why in rep.skipped:
        err.print(f"[yellow]skipped[/yellow] {escape(str(path))}: {escape(str(why))}", highlight=False, soft_wrap=True)
    for note in rep.notes:
        err.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False, soft_wrap=True)
    figures = sum(1 for p in rep.files if p.suffix == ".png")
    out.print(f"{rep.records} record(s) -> {figures} figure(s) (PNG + SVG), "
              f"{sum(1 for p in rep.files if p.suffix == '.csv')} table(s): {rep.markdown}", highlight=False)


def register(app: typer.Typer) -> None:
    from remix.cli_status import status
    app.command("report")(report)
    app.command("status")(status)
