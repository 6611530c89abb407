"""Run records: one self-describing JSON file per run, written atomically, found by identity.

A record holds everything needed to regenerate any plot without the code that made it:
the recipe (path and text), the variant, the resolved spec, the ingredients, seed, identity,
hardware, software, the loss curve, timing and status.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

SCHEMA = "remix.run/1"
STATUSES = ("finished", "diverged", "interrupted", "failed", "running")


@dataclass
class CurvePoint:
    step: int
    train_time_ms: float
    train_loss: float | None = None
    val_loss: float | None = None


@dataclass
class RunResult:
    identity: str
    status: str                                  # one of STATUSES
    recipe: dict[str, Any]                       # name, path, text
    variant: dict[str, Any]                      # kind (full|prefix|drop|add|only), and its details
    ingredients: list[dict[str, Any]]            # [{name, options}] in applied order
    seed: int
    target: float
    spec: dict[str, Any]
    hardware: dict[str, Any]                     # device, device_name, device_count (world size)
    software: dict[str, Any]                     # python, torch, cuda, remix, git_commit
    data: dict[str, Any] = field(default_factory=dict)   # the dataset's identity
    sweep: dict[str, Any] | None = None          # {id, kind, index, size} when part of a sweep
    curve: list[CurvePoint] = field(default_factory=list)
    steps_done: int = 0
    final_val_loss: float | None = None
    reached_target: bool | None = None
    train_time_ms: float = 0.0                   # the speedrun's clock: training steps only, eval excluded
    ms_per_step: float | None = None
    tokens_per_step: int = 0
    tokens_per_s: float | None = None
    peak_memory_mib: float | None = None
    param_count: int = 0
    started_at: str = ""
    finished_at: str = ""
    message: str = ""                            # why a run did not finish
    schema: str = SCHEMA

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunResult":
        if d.get("schema") != SCHEMA:
            raise ValueError(f"not a remix run record (schema {d.get('schema')!r}, expected {SCHEMA!r})")
        d = dict(d)
        d["curve"] = [CurvePoint(**p) for p in d.get("curve", [])]
        return cls(**d)


def now() -> str:
    """A record's timestamp: UTC, to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def write_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Writes JSON to a temp file in the same directory, then renames: readers never see half a record."""
    os.makedirs(path.parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=1, allow_nan=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ResultStore:
    """A directory of run records, one `<recipe>-<identity>.json` each."""

    def __init__(self, root: Path | str = "results"):
        self.root = Path(root)

    def path_for(self, result_or_identity: RunResult | str, name: str = "") -> Path:
        if isinstance(result_or_identity, RunResult):
            name, identity = result_or_identity.recipe.get("name", "run"), result_or_identity.identity
        else:
            identity = result_or_identity
        matches = sorted(self.root.glob(f"*{identity}.json")) if self.root.exists() else []
        return matches[0] if matches else self.root / f"{name or 'run'}-{identity}.json"

    def save(self, result: RunResult) -> Path:
        path = self.path_for(result)
        write_atomic(path, result.to_dict())
        return path

    def find(self, identity: str) -> RunResult | None:
        path = self.path_for(identity)
        if not path.exists():
            return None
        try:
            return RunResult.from_dict(json.loads(path.read_text()))
        except (ValueError, TypeError, json.JSONDecodeError):
            return None

    def finished(self, identity: str) -> RunResult | None:
        r = self.find(identity)
        return r if r is not None and r.status in ("finished", "diverged") else None

    def scan(self) -> Iterator[tuple[Path, RunResult | Exception]]:
        """Every record in the store; a malformed or foreign file yields its error instead of a result."""
        if not self.root.exists():
            return
        for path in sorted(self.root.rglob("*.json")):
            try:
                yield path, RunResult.from_dict(json.loads(path.read_text()))
            except (ValueError, TypeError, KeyError, json.JSONDecodeError, UnicodeDecodeError) as e:
                yield path, e
