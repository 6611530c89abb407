"""One record's code from a clone, and its diff against the record it was built on."""

from __future__ import annotations

from dataclasses import dataclass

from history.data import History, Record
from history.errors import HistoryError
from history.repo import SpeedrunRepo
from history.scripts import Script, diff_scripts


@dataclass
class ScriptLookup:
    script: Script | None
    why_none: str = ""       # said to the user where a record has no script to diff


def record_script(repo: SpeedrunRepo, record: Record) -> ScriptLookup:
    """The record's training script: the one embedded in its log (script_log, else the README-linked
    log or the first log in a linked folder), else the root trainer at script_commit (#2, #3)."""
    log = record.script_log or (repo.pick_log(record.log) if record.log else None)
    if record.log and not record.script_log and log is None and not repo.exists(record.log):
        raise HistoryError(f"#{record.key}: {record.log} is not in the clone at HEAD")
    if record.script_log and not repo.exists(record.script_log):
        raise HistoryError(f"#{record.key}: {record.script_log} is not in the clone at HEAD")
    if log:
        script = repo.log_script(log, record.date)
        if script is not None:
            return ScriptLookup(script)
    if record.script_commit:
        return ScriptLookup(repo.root_script(record.script_commit))
    if log:
        return ScriptLookup(None, f"#{record.key}'s log ({log}) carries no script (llm.c format)")
    return ScriptLookup(None, f"#{record.key} has no log in the repository")


@dataclass
class RecordDiff:
    record: Record
    base: Record | None
    diff: str = ""
    why_none: str = ""
    new_source: str = ""
    old_source: str = ""


def record_diff(repo: SpeedrunRepo, history: History, record: Record, against: str | None = None,
                *, normalised: bool = False, context: int = 3) -> RecordDiff:
    base = history.get(against) if against else history.previous(record)
    if base is None:
        return RecordDiff(record, None, why_none=f"#{record.key} is the first record; there is nothing to diff against")
    new = record_script(repo, record)
    if new.script is None:
        return RecordDiff(record, base, why_none=new.why_none)
    old = record_script(repo, base)
    if old.script is None:
        return RecordDiff(record, base, why_none=old.why_none, new_source=new.script.source)
    text = diff_scripts(old.script, new.script, f"#{base.key}", f"#{record.key}",
                        normalised=normalised, context=context)
    return RecordDiff(record, base, diff=text, new_source=new.script.source, old_source=old.script.source,
                      why_none="" if text else f"the scripts of #{base.key} and #{record.key} are identical")
