"""history/records.toml as typed data: every track-1 record and the two remixed baselines.

Loading validates everything a reader of the file could get wrong (a typo in a key, a date in the
README's MM/DD/YY form, a category outside the set, a time that disagrees with its text, a builds_on
that points forward), and names the file, the record and the key in the error.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import MISSING, dataclass, field, fields
from datetime import date
from functools import cache
from pathlib import Path

from history.errors import HistoryError
from history.readme import parse_time

RECORDS_FILE = Path(__file__).with_name("records.toml")

# The engine's eight ingredient categories, plus the two that only records have: a change of the
# evaluation or timing protocol, and the llm.c baseline that is no change at all.
CATEGORIES = ("architecture", "optimizer", "hyperparameters", "attention", "data", "precision",
              "schedule", "systems", "evaluation protocol", "baseline")


@dataclass(frozen=True)
class Record:
    number: int
    date: str
    time: str
    time_s: float
    description: str
    categories: tuple[str, ...]
    variant: str = ""                # "2.997" on a re-timing row of #21
    folder: str = ""
    log: str = ""
    script_log: str = ""
    script_commit: str = ""
    log_commit: str = ""
    readme_commit: str = ""
    pr: int = 0
    log_steps: int = 0
    log_val_loss: float = 0.0
    log_train_time_s: float = 0.0
    ingredients: tuple[str, ...] = ()
    reason: str = ""                 # why there is no ingredient (PyTorch upgrade, timing rule, same-math systems)
    missing: str = ""                # a training change of the record that no ingredient expresses yet
    eval_protocol_change: str = ""
    builds_on: str = ""
    note: str = ""

    @property
    def key(self) -> str:
        """'12', or '21 (2.997)' for a re-timing: the form the README order and Provenance use."""
        return f"{self.number} ({self.variant})" if self.variant else str(self.number)

    @property
    def retiming(self) -> bool:
        return bool(self.variant)

    @property
    def category(self) -> str:
        """The primary category (the first listed), used for colour in plots."""
        return self.categories[0]

    @property
    def minutes(self) -> float:
        return self.time_s / 60.0

    def coverage(self, names) -> str:
        """'all': its training changes are ingredients in `names`; 'part': some are (a name not there, or a
        change no ingredient expresses: `missing`); 'none': a reason says why it needs none; '?': neither."""
        if not self.ingredients:
            return "none" if self.reason else "?"
        if self.missing or any(n not in names for n in self.ingredients):
            return "part"
        return "all"


@dataclass(frozen=True)
class Baseline:
    name: str
    label: str
    time: str
    time_s: float
    date: str = ""
    recipe: str = ""


@dataclass(frozen=True)
class History:
    records: tuple[Record, ...]
    baselines: tuple[Baseline, ...]
    source: Path = field(default=RECORDS_FILE, compare=False)

    @property
    def numbered(self) -> tuple[Record, ...]:
        """One row per record number (re-timings left out)."""
        return tuple(r for r in self.records if not r.retiming)

    def get(self, key: str | int) -> Record:
        """A record by '12', 12, '#12' or '21 (2.997)' (spacing free)."""
        wanted = normalise_key(str(key))
        for r in self.records:
            if normalise_key(r.key) == wanted:
                return r
        keys = ", ".join(r.key for r in self.records if r.number == _leading_int(wanted))
        hint = f" (rows with that number: {keys})" if keys else ""
        raise HistoryError(f"no record {key!r} in {self.source.name}{hint}")

    def previous(self, record: Record) -> Record | None:
        """The record whose script this one is diffed against (builds_on)."""
        return self.get(record.builds_on) if record.builds_on else None


def normalise_key(key: str) -> str:
    key = key.strip().lstrip("#").strip()
    m = re.fullmatch(r"(\d+)\s*(?:\(\s*([\d.]+)\s*\))?", key)
    if not m:
        return key
    return f"{int(m.group(1))} ({m.group(2)})" if m.group(2) else str(int(m.group(1)))


def _leading_int(text: str) -> int | None:
    m = re.match(r"\d+", text)
    return int(m.group(0)) if m else None


_TYPES = {int: "an integer", float: "a number", str: "a string", tuple: "a list of strings"}


def _coerce(value, kind, where: str):
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise HistoryError(f"{where}: expected {_TYPES[tuple]}, got {value!r}")
        return tuple(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise HistoryError(f"{where}: expected {_TYPES[kind]}, got {value!r}")
    return value


def _build(cls, table: dict, where: str):
    """One dataclass from one TOML table: unknown keys, missing keys and wrong types are errors."""
    hints = {f.name: f for f in fields(cls)}
    kinds = {name: {"int": int, "float": float, "str": str}.get(f.type, tuple)
             for name, f in hints.items()}
    unknown = sorted(set(table) - set(hints))
    if unknown:
        raise HistoryError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(hints)})")
    required = [n for n, f in hints.items() if f.default is MISSING and f.default_factory is MISSING]
    missing = [n for n in required if n not in table]
    if missing:
        raise HistoryError(f"{where}: missing key {missing[0]!r}")
    return cls(**{k: _coerce(v, kinds[k], f"{where}: key {k!r}") for k, v in table.items()})


def _check_date(value: str, where: str):
    try:
        date.fromisoformat(value)
    except ValueError:
        raise HistoryError(f"{where}: key 'date': expected an ISO date YYYY-MM-DD, got {value!r}") from None


def load(path: str | Path = RECORDS_FILE) -> History:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HistoryError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise HistoryError(f"{path}: not valid TOML: {exc}") from None
    extra = sorted(set(raw) - {"record", "baseline"})
    if extra:
        raise HistoryError(f"{path}: unknown table {extra[0]!r} (expected [[record]] and [[baseline]])")
    if not isinstance(raw.get("record"), list) or not raw["record"]:
        raise HistoryError(f"{path}: no [[record]] tables")

    records: list[Record] = []
    seen: dict[str, int] = {}
    for i, table in enumerate(raw["record"], 1):
        label = f"#{table.get('number', '?')}" + (f" ({table['variant']})" if table.get("variant") else "")
        where = f"{path}: record {i} ({label})"
        rec = _build(Record, table, where)
        _check_date(rec.date, where)
        if not rec.categories:
            raise HistoryError(f"{where}: key 'categories': at least one category is needed")
        for c in rec.categories:
            if c not in CATEGORIES:
                raise HistoryError(f"{where}: key 'categories': {c!r} is not one of {', '.join(CATEGORIES)}")
        try:
            stated = parse_time(rec.time)
        except ValueError:
            raise HistoryError(f"{where}: key 'time': no time in {rec.time!r} (e.g. '3.4 minutes')") from None
        if abs(stated - rec.time_s) > 0.01 * stated:
            raise HistoryError(f"{where}: key 'time_s': {rec.time_s} s disagrees with time {rec.time!r} ({stated:g} s)")
        if rec.key in seen:
            raise HistoryError(f"{where}: key 'number': {rec.key} already used by record {seen[rec.key]}")
        if rec.ingredients and rec.reason:
            raise HistoryError(f"{where}: key 'reason': a record with ingredients needs no reason "
                               f"(use 'missing' for a change no ingredient expresses)")
        if rec.builds_on and normalise_key(rec.builds_on) not in seen:
            raise HistoryError(f"{where}: key 'builds_on': {rec.builds_on!r} is not an earlier record")
        seen[rec.key] = i
        records.append(rec)

    baselines = []
    for i, table in enumerate(raw.get("baseline", []), 1):
        b = _build(Baseline, table, f"{path}: baseline {i} ({table.get('name', '?')})")
        baselines.append(b)
    return History(records=tuple(records), baselines=tuple(baselines), source=path)


@cache
def default_history() -> History:
    return load(RECORDS_FILE)
