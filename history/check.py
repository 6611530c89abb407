"""Compare a clone's record history with history/records.toml.

What the clone says (README rows at HEAD, the commit that added each linked log) against what
history/ says: rows missing on either side, rows whose time or date differ, log commits that moved
(a rewritten history, or a log re-added), commits of history/ that the clone lacks, and ingredients
that history/ names but the catalogue does not have yet (or cites for another record).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from history.catalogue import Catalogue
from history.data import History, Record, normalise_key
from history.readme import ReadmeRow
from history.repo import CommitInfo, SpeedrunRepo


@dataclass
class CloneRow:
    row: ReadmeRow
    record: Record | None           # the history/ entry with the same key
    added_by: CommitInfo | None     # the commit that added the linked log, per the clone
    problems: list[str] = field(default_factory=list)


@dataclass
class CloneCheck:
    head: CommitInfo
    rows: list[CloneRow]
    only_in_history: list[Record]
    ingredients_missing: dict[str, list[str]]          # ingredient -> record keys naming it
    provenance_mismatch: list[str]                      # catalogue vs history/ disagreements

    @property
    def numbered(self) -> int:
        return len({r.row.number for r in self.rows})

    @property
    def problems(self) -> list[str]:
        return [f"#{r.row.key}: {p}" for r in self.rows for p in r.problems]


def _same_commit(a: str, b: str) -> bool:
    n = min(len(a), len(b))
    return n >= 7 and a[:n] == b[:n]


def check_clone(repo: SpeedrunRepo, history: History, catalogue: Catalogue) -> CloneCheck:
    by_key = {normalise_key(r.key): r for r in history.records}
    rows: list[CloneRow] = []
    for row in repo.rows:
        record = by_key.get(normalise_key(row.key))
        added = repo.added_by(row.logs[0]) if row.logs else None
        item = CloneRow(row=row, record=record, added_by=added)
        if record is None:
            item.problems.append("not in history/records.toml")
        else:
            if abs(record.time_s - row.time_s) > 0.005 * row.time_s:
                item.problems.append(f"time {row.time!r} in the README, {record.time!r} in history/")
            if row.date and record.date != row.date:
                item.problems.append(f"date {row.date} in the README, {record.date} in history/")
            if added and record.log_commit and not _same_commit(added.sha, record.log_commit):
                item.problems.append(f"log commit moved: history/ says {record.log_commit}, the clone {added.short}")
            if not added and record.log_commit:
                item.problems.append(f"the clone has no commit adding {row.logs[0] if row.logs else 'the log'}")
            for what in ("log_commit", "readme_commit", "script_commit"):
                sha = getattr(record, what)
                if sha and repo.commit_info(sha) is None:
                    item.problems.append(f"{what} {sha} is not in the clone")
        rows.append(item)

    in_clone = {normalise_key(r.key) for r in repo.rows}
    only = [r for r in history.records if normalise_key(r.key) not in in_clone]

    missing, mismatch = catalogue_findings(history, catalogue)
    return CloneCheck(head=repo.commit_info(repo.head.hexsha), rows=rows, only_in_history=only,
                      ingredients_missing=missing, provenance_mismatch=mismatch)


def catalogue_findings(history: History, catalogue: Catalogue) -> tuple[dict[str, list[str]], list[str]]:
    """Ingredients history/ names that the catalogue lacks (name -> record keys), and catalogue
    ingredients whose provenance cites a record that history/ does not list them under."""
    missing: dict[str, list[str]] = {}
    for rec in history.records:
        for name in rec.ingredients:
            if name not in catalogue:
                missing.setdefault(name, []).append(rec.key)
    mismatch = []
    for name, cited in sorted(catalogue.cites.items()):
        listed = [r.key for r in history.records if name in r.ingredients]
        stray = [c for c in cited if normalise_key(c) not in {normalise_key(k) for k in listed}]
        if stray and listed:
            mismatch.append(f"{name}: the catalogue cites #{', #'.join(stray)}; history/ lists it under "
                            f"#{', #'.join(listed)}")
        elif stray:
            mismatch.append(f"{name}: the catalogue cites #{', #'.join(stray)}; no record in history/ lists it")
    return missing, mismatch
