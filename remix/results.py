"""Run records: one self-describing JSON file per run, written atomically, found by identity.

A record holds everything needed to regenerate any plot without the code that made it:
the recipe (path and text), the variant, the resolved spec, the ingredients, seed, identity,
hardware, software, the loss curve, timing and status.

JSON has no NaN or infinity. A value that was one (a loss that blew up) is written as null, and the
record's `nonfinite` says which field it was and what it held, so null never silently means "missing".
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from remix.atomic import atomic_open

SCHEMA = "remix.run/1"
# unstable: trained to the end but finished above the val loss it started from (a learning rate or init
# that blew the run up without a NaN); diverged: stopped on a NaN/inf loss. Both are results, not errors:
# a sweep does not train them again.
STATUSES = ("finished", "unstable", "diverged", "interrupted", "failed", "running")
DONE = ("finished", "unstable", "diverged")


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
    variant: dict[str, Any]                      # kind (full|prefix|drop|add), and its details
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
    message: str = ""                            # why a run did not finish (or is unstable)
    # What the run trains, without its step count and seed (remix.runner.variant_identity): the runs of
    # one variant at several step counts and seeds share it, whichever command made them. "" in records
    # older than the field (the report then derives it from the spec).
    variant_id: str = ""
    nonfinite: dict[str, str] = field(default_factory=dict)   # JSON path -> "nan"/"inf"/"-inf", written as null
    # The clock between the points where the run synchronises anyway (validations) and its stage, window and
    # event boundaries: [{start, end, ms_per_step}], so a staged run's cost per stage can be read.
    segments: list[dict[str, Any]] = field(default_factory=list)
    compilations: int | None = None              # graphs dynamo compiled (one per stage and static state)
    kernels: dict[str, str] = field(default_factory=dict)   # component type -> the kernel it runs on this machine
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


def json_safe(value: Any, path: str = "") -> tuple[Any, dict[str, str]]:
    """(value with every NaN/±inf float replaced by None, {JSON path: what it was})."""
    if isinstance(value, float) and not math.isfinite(value):
        return None, {path or ".": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, dict):
        out, found = {}, {}
        for k, v in value.items():
            out[k], more = json_safe(v, f"{path}.{k}" if path else str(k))
            found.update(more)
        return out, found
    if isinstance(value, (list, tuple)):
        items = [json_safe(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return [v for v, _ in items], {k: w for _, more in items for k, w in more.items()}
    return value, {}


def write_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Writes strict JSON (no NaN) to a temp file in the same directory, then renames: readers never see
    half a record. Non-finite numbers must have been made null by the caller (`json_safe`)."""
    with atomic_open(path, "w") as f:
        json.dump(payload, f, indent=1, allow_nan=False)


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
        payload, nonfinite = json_safe(result.to_dict())
        payload["nonfinite"] = {**result.nonfinite, **nonfinite}
        write_atomic(path, payload)
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
        return r if r is not None and r.status in DONE else None

    def scan(self) -> Iterator[tuple[Path, RunResult | Exception]]:
        """Every record in the store; a malformed or foreign file yields its error instead of a result."""
        if not self.root.exists():
            return
        for path in sorted(self.root.rglob("*.json")):
            try:
                yield path, RunResult.from_dict(json.loads(path.read_text()))
            except (ValueError, TypeError, KeyError, json.JSONDecodeError, UnicodeDecodeError) as e:
                yield path, e
