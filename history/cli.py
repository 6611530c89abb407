"""`remix history`: the speedrun's records as data, checked against a clone of modded-nanogpt.

    remix history                     list history/records.toml
    remix history --repo PATH         list the records a clone's README and git history show, and
                                      check them against history/ and the ingredient catalogue
    remix history show N [--repo P]   one record's facts, ingredients, and the diff of its script
                                      against the record it was built on (the diff needs a clone)

The lead mounts `app` with `app.add_typer(history.cli.app, name="history")`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from history.catalogue import Catalogue, read_catalogue
from history.data import History, Record, default_history, load
from history.errors import HistoryError

app = typer.Typer(help="The speedrun's records, and a clone's history.", no_args_is_help=False,
                  add_completion=False)

REPO_HELP = "A clone of KellerJordan/modded-nanogpt (normal or bare)."
RECORDS_HELP = "The records file to use instead of history/records.toml."


def _history(path: Path | None) -> History:
    return load(path) if path else default_history()


def _console() -> Console:
    # Made per call, not at import, so COLUMNS and the terminal in use at run time decide the width.
    return Console(highlight=False)


def _errors(fn):
    """User errors print one red line on stderr and exit 2; no traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except HistoryError as exc:
            Console(stderr=True, highlight=False).print(Text(f"error: {exc}", style="red"), soft_wrap=True)
            raise typer.Exit(2) from None
    return wrapper


def _ingredients_text(record: Record | None, cat: Catalogue) -> Text:
    text = Text()
    for i, name in enumerate(record.ingredients if record else ()):
        if i:
            text.append(", ")
        text.append(name, style="green" if name in cat else "yellow")
    return text


def _coverage(record: Record | None, cat: Catalogue) -> Text:
    """'3/5': how many of the record's ingredients the catalogue has (blank where it names none)."""
    if record is None or not record.ingredients:
        return Text("")
    have = sum(1 for n in record.ingredients if n in cat)
    style = "green" if have == len(record.ingredients) else "yellow" if have else "red"
    return Text(f"{have}/{len(record.ingredients)}", style=style)


def _catalogue_notes(console: Console, history: History, cat: Catalogue) -> None:
    from history.check import catalogue_findings
    if cat.error:
        console.print(Text(f"note: {cat.error}", style="yellow"))
    with_ing = [r for r in history.records if r.ingredients]
    in_cat = [r for r in with_ing if any(n in cat for n in r.ingredients)]
    console.print(f"Records with ingredients: {len(with_ing)}; with ingredients in the catalogue: {len(in_cat)}"
                  + (f" (#{', #'.join(r.key for r in in_cat)})" if in_cat and len(in_cat) < 20 else ""))
    missing, mismatch = catalogue_findings(history, cat)
    if missing:
        console.print("Ingredients not yet in the catalogue: "
                      + "; ".join(f"{n} (#{', #'.join(keys)})" for n, keys in sorted(missing.items())))
    for line in mismatch:
        console.print(Text(f"provenance: {line}", style="yellow"))
    console.print(Text("ingredient names: green = in the catalogue, yellow = not yet; 'in cat.' = how many "
                       "of a record's ingredients the catalogue has; cover = all / part (a name not in the "
                       "catalogue, or a change no ingredient expresses) / none (its reason) / ? (unaccounted)",
                       style="dim"))


COVERAGE_STYLE = {"all": "green", "part": "yellow", "none": "dim", "?": "red"}
WIDE = 120   # below this many columns the table drops date, category and description (80-column terminals)


def _covered_text(record: Record, cat: Catalogue) -> Text:
    """The record's ingredients (green: in the catalogue, yellow: not yet), then what is missing; or its reason."""
    if not record.ingredients:
        return Text(record.reason or "no ingredients and no reason given", style="dim" if record.reason else "red")
    text = _ingredients_text(record, cat)
    if record.missing:
        text.append(f"; missing: {record.missing}", style="yellow")
    return text


def list_history(history: History, cat: Catalogue) -> None:
    console = _console()
    table = Table(title=f"Speedrun track-1 records ({history.source.name})", show_lines=False)
    wide = console.width >= WIDE
    columns = [("#", {"justify": "right", "no_wrap": True})]
    if wide:
        columns += [("date", {"no_wrap": True})]
    columns += [("min", {"justify": "right", "no_wrap": True})]
    if wide:
        columns += [("category", {"ratio": 1}), ("description", {"ratio": 3})]
    columns += [("cover", {"no_wrap": True}), ("ingredients, or why none", {"ratio": 3})]
    if wide:
        columns += [("eval", {"justify": "center", "no_wrap": True})]
    for col, kw in columns:
        table.add_column(col, **kw)
    for r in history.records:
        cover = r.coverage(cat.names)
        cells = [r.key] + ([r.date] if wide else []) + [r.time.replace(" minutes", "")]
        if wide:
            cells += [", ".join(r.categories), r.description]
        cells += [Text(cover, style=COVERAGE_STYLE[cover]), _covered_text(r, cat)]
        if wide:
            cells += [Text("changed", style="magenta") if r.eval_protocol_change else ""]
        table.add_row(*cells)
    console.print(table)
    console.print(f"{len(history.numbered)} numbered records, {len(history.records) - len(history.numbered)} "
                  f"re-timings; baselines: " + ", ".join(f"{b.name} {b.time} ({b.time_s:g} s)" for b in history.baselines))
    counts = {c: sum(1 for r in history.records if r.coverage(cat.names) == c) for c in COVERAGE_STYLE}
    console.print(f"Coverage: {counts['all']} all in the catalogue, {counts['part']} in part, {counts['none']} "
                  f"need none (reason given), {counts['?']} unaccounted for.")
    if not wide:
        console.print(Text("(narrow terminal: date, category and description left out; `remix history show N` "
                           "or --json has them)", style="dim"))
    _catalogue_notes(console, history, cat)


def history_json(history: History, cat: Catalogue) -> list[dict]:
    """Every record with its ingredients, or the reason it has none: `remix history --json`."""
    return [{"key": r.key, "number": r.number, "variant": r.variant, "date": r.date, "time": r.time,
             "time_s": r.time_s, "description": r.description, "categories": list(r.categories),
             "ingredients": [{"name": n, "in_catalogue": n in cat} for n in r.ingredients],
             "reason": r.reason, "missing": r.missing, "coverage": r.coverage(cat.names),
             "eval_protocol_change": r.eval_protocol_change, "builds_on": r.builds_on}
            for r in history.records]


def list_clone(path: Path, history: History, cat: Catalogue) -> None:
    from history.check import check_clone
    from history.repo import SpeedrunRepo
    repo = SpeedrunRepo(path)
    result = check_clone(repo, history, cat)
    console = _console()
    table = Table(title=f"Records in {path} (HEAD {result.head.short}, {result.head.date})")
    for col, kw in (("#", {"justify": "right", "no_wrap": True}), ("date", {"no_wrap": True}),
                    ("time", {"no_wrap": True}), ("description", {"ratio": 3}),
                    ("log added by", {"no_wrap": True}), ("ingredients", {"ratio": 2}),
                    ("in cat.", {"justify": "center", "no_wrap": True}), ("check", {"ratio": 2})):
        table.add_column(col, **kw)
    for item in result.rows:
        row = item.row
        commit = f"{item.added_by.short} {item.added_by.date}" if item.added_by else ("-" if not row.logs else "?")
        check = Text("; ".join(item.problems), style="red") if item.problems else Text("ok", style="green")
        table.add_row(row.key, row.date or "-", row.time.replace(" minutes", " min"), row.description, commit,
                      _ingredients_text(item.record, cat), _coverage(item.record, cat), check)
    console.print(table)
    retimings = len(result.rows) - result.numbered
    console.print(f"Found {result.numbered} numbered records ({len(result.rows)} README rows, {retimings} re-timings) "
                  f"in README.md at HEAD; {sum(1 for r in result.rows if r.added_by)} with the commit that added their log.")
    if result.only_in_history:
        console.print(Text("In history/ but not in the clone's README: #"
                           + ", #".join(r.key for r in result.only_in_history), style="red"))
    problems = result.problems
    console.print(Text(f"{len(problems)} disagreement(s) between the clone and history/"
                       + (":" if problems else "."), style="red" if problems else "green"))
    for line in problems:
        console.print(Text(f"  {line}", style="red"))
    _catalogue_notes(console, history, cat)


@app.callback(invoke_without_command=True)
@_errors
def main(ctx: typer.Context,
         repo: Optional[Path] = typer.Option(None, "--repo", help=REPO_HELP),
         records: Optional[Path] = typer.Option(None, "--records", help=RECORDS_HELP),
         as_json: bool = typer.Option(False, "--json", help="Print every record, its ingredients or the reason "
                                                             "it has none, as JSON.")) -> None:
    """List the records in history/ or, with --repo, those a clone shows, checked against history/."""
    ctx.obj = {"repo": repo, "records": records}
    if ctx.invoked_subcommand is not None:
        return
    history, cat = _history(records), read_catalogue()
    if as_json:
        import json
        print(json.dumps(history_json(history, cat), indent=1, ensure_ascii=False))
        return
    if repo is None:
        list_history(history, cat)
    else:
        list_clone(repo, history, cat)


def _facts(console: Console, r: Record, history: History) -> None:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    rows = [("record", f"#{r.key}" + ("  (re-timing, not a new record)" if r.retiming else "")),
            ("date", r.date), ("time", f"{r.time} ({r.time_s:g} s)"), ("description", r.description),
            ("categories", ", ".join(r.categories)),
            ("folder", f"records/track_1_short/{r.folder}" if r.folder else "-"),
            ("log", r.log or "-")]
    if r.script_log:
        rows.append(("script from", r.script_log))
    if r.script_commit:
        rows.append(("script from", f"train_gpt2.py (+ run.sh) at {r.script_commit}"))
    rows += [("log commit", r.log_commit or "-"), ("README commit", r.readme_commit or "-"),
             ("PR", f"#{r.pr}" if r.pr else "-")]
    if r.log_steps:
        rows.append(("linked log", f"{r.log_steps} steps, final val {r.log_val_loss:.4f}, "
                                   f"train_time {r.log_train_time_s:g} s"))
    rows.append(("builds on", f"#{r.builds_on}" if r.builds_on else "-"))
    if r.eval_protocol_change:
        rows.append(("eval protocol", Text(r.eval_protocol_change, style="magenta")))
    if r.note:
        rows.append(("note", r.note))
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)


def _ingredients(console: Console, r: Record, cat: Catalogue) -> None:
    if cat.error:
        console.print(Text(f"note: {cat.error}", style="yellow"))
    if not r.ingredients:
        console.print(f"Ingredients: none. Why: {r.reason}" if r.reason else
                      Text("Ingredients: none, and no reason given in records.toml.", style="red"))
        return
    table = Table(title=f"Ingredients introduced or changed by #{r.key}", title_justify="left")
    table.add_column("ingredient")
    table.add_column("in the catalogue")
    table.add_column("summary")
    for name in r.ingredients:
        table.add_row(name, Text("yes", style="green") if name in cat else Text("not yet", style="yellow"),
                      cat.summaries.get(name, ""))
    console.print(table)
    if r.missing:
        console.print(Text(f"Missing (no ingredient yet): {r.missing}", style="yellow"))


def _print_diff(console: Console, diff: str) -> None:
    for line in diff.splitlines():
        style = ("bold" if line.startswith(("---", "+++")) else "green" if line.startswith("+")
                 else "red" if line.startswith("-") else "cyan" if line.startswith("@@") else "")
        console.print(Text(line, style=style), soft_wrap=True)


@app.command()
@_errors
def show(ctx: typer.Context,
         number: str = typer.Argument(..., help="Record number, e.g. 12, or '21 (2.997)' for a re-timing."),
         repo: Optional[Path] = typer.Option(None, "--repo", help=REPO_HELP),
         against: Optional[str] = typer.Option(None, "--against", help="Diff against this record instead of builds_on."),
         normalise: bool = typer.Option(False, "--normalise", help="Diff the scripts without comments and formatting (ast round trip)."),
         context: int = typer.Option(3, "--context", "-U", min=0, help="Lines of context in the diff."),
         records: Optional[Path] = typer.Option(None, "--records", help=RECORDS_HELP),
         ) -> None:
    """One record's facts, its ingredients, and the diff of its training script against the record
    it was built on."""
    parent = ctx.obj or {}
    repo = repo or parent.get("repo")
    history, cat = _history(records or parent.get("records")), read_catalogue()
    record = history.get(number)
    console = _console()
    _facts(console, record, history)
    console.print()
    _ingredients(console, record, cat)
    console.print()
    if repo is None:
        console.print(Text("The diff of the script needs a clone: remix history show "
                           f"{number} --repo PATH/TO/modded-nanogpt", style="dim"))
        return
    from history.repo import SpeedrunRepo
    from history.show import record_diff
    speedrun = SpeedrunRepo(repo)
    speedrun.rows            # fails early, and clearly, on a repository that is not modded-nanogpt
    result = record_diff(speedrun, history, record, against, normalised=normalise, context=context)
    if not result.diff:
        console.print(Text(f"No diff: {result.why_none}.", style="yellow"))
        return
    console.print(Text(f"Diff of #{record.key}'s script against #{result.base.key}'s"
                       + (" (normalised: comments and formatting removed)" if normalise else ""), style="bold"))
    console.print(Text(f"  #{result.base.key}: {result.old_source}\n  #{record.key}: {result.new_source}", style="dim"))
    _print_diff(console, result.diff)
