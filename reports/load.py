"""Records -> pandas: one row per run, one row per (run, recipe variant it belongs to), and what was skipped.

Everything the report shows comes from here, i.e. from the JSON records in a results directory (and
the sweep manifests kept beside them); nothing is typed in by hand. A file that is not a valid remix
record (malformed JSON, a foreign schema, a field of the wrong type) is listed with the reason and
left out, never a crash.

A run can belong to several recipes' variants: two recipes whose base resolves to the same spec share
one base run (one identity, one record, naming the recipe that trained it first). The sweep manifests
say which other sweeps planned it, so `members` has one row per (run, recipe, variant).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from remix.results import STATUSES, RunResult
from remix.spec import stable_hash
from remix.sweep import manifests


@dataclass
class Loaded:
    root: Path
    runs: pd.DataFrame                      # one row per record (index: identity)
    members: pd.DataFrame                   # one row per (identity, recipe, vkey)
    records: dict[str, RunResult]           # by identity, for curves and provenance
    skipped: list[tuple[Path, str]] = field(default_factory=list)


RUN_COLUMNS = ["identity", "path", "status", "recipe", "seed", "target", "steps", "steps_done", "final_val_loss",
               "ms_per_step", "train_time_ms", "tokens_per_step", "param_count", "hardware", "device",
               "device_count", "context", "config", "ingredients", "torch", "cuda", "python", "remix",
               "git_commit", "data", "sweep_id", "role", "finished_at"]
MEMBER_COLUMNS = ["identity", "recipe", "vkey", "vkind", "vindex", "ingredient", "label", "full", "role", "sweep_id"]


def _num(value: Any, name: str, optional: bool = True) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}: expected a number, got {value!r}")


def check_record(r: RunResult) -> None:
    """The fields the report reads, with the types it needs; a ValueError names the first bad one."""
    if not isinstance(r.identity, str) or not r.identity:
        raise ValueError("identity: expected a non-empty string")
    if r.status not in STATUSES:
        raise ValueError(f"status: expected one of {', '.join(STATUSES)}, got {r.status!r}")
    for name in ("recipe", "variant", "spec", "hardware", "software"):
        if not isinstance(getattr(r, name), dict):
            raise ValueError(f"{name}: expected an object")
    if not isinstance(r.recipe.get("name"), str):
        raise ValueError("recipe.name: expected a string")
    if not isinstance(r.ingredients, list) or not all(isinstance(i, dict) and isinstance(i.get("name"), str)
                                                      for i in r.ingredients):
        raise ValueError("ingredients: expected a list of {name, options}")
    if isinstance(r.seed, bool) or not isinstance(r.seed, int):
        raise ValueError(f"seed: expected an integer, got {r.seed!r}")
    _num(r.target, "target", optional=False)
    steps = (r.spec.get("train") or {}).get("steps") if isinstance(r.spec.get("train"), dict) else None
    if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
        raise ValueError(f"spec.train.steps: expected a positive integer, got {steps!r}")
    for name in ("final_val_loss", "ms_per_step", "train_time_ms", "steps_done"):
        _num(getattr(r, name), name)
    if r.sweep is not None and not isinstance(r.sweep, dict):
        raise ValueError("sweep: expected an object or null")
    for i, p in enumerate(r.curve):
        _num(p.step, f"curve[{i}].step", optional=False)
        _num(p.train_time_ms, f"curve[{i}].train_time_ms", optional=False)
        _num(p.val_loss, f"curve[{i}].val_loss")


def hardware_label(hw: dict[str, Any]) -> str:
    name = str(hw.get("device_name") or hw.get("device") or "unknown device")
    if hw.get("device") == "cpu" and "cpu" not in name.lower():
        name = f"CPU ({name})"
    n = hw.get("device_count") or 1
    return f"{n}× {name}" if n != 1 else name


def variant_key(variant: dict[str, Any]) -> tuple[str, str, int | None, str, bool]:
    """(vkey, kind, prefix index, the ingredient the variant is about, whether it is the full recipe)."""
    kind = str(variant.get("kind", "full"))
    if kind == "prefix":
        k, size = variant.get("index"), variant.get("size")
        if isinstance(k, int) and isinstance(size, int) and k == size - 1:
            return "full", "prefix", k, str(variant.get("last") or ""), True
        return f"prefix:{k}", "prefix", k if isinstance(k, int) else None, str(variant.get("last") or ""), False
    if kind == "full":
        return "full", "full", None, "", True
    if kind in ("drop", "add", "only"):
        names = variant.get({"drop": "dropped", "add": "added", "only": "only"}[kind]) or []
        names = [str(n) for n in names] if isinstance(names, list) else [str(names)]
        extra = [str(a) for a in variant.get("added", [])] if kind == "drop" else []
        key = f"{kind}:{','.join(names)}" + (f"+{','.join(extra)}" if extra else "")
        return key, kind, None, ",".join(names), False
    return f"{kind}:{json.dumps(variant, sort_keys=True, default=str)}", kind, None, "", False


def variant_label(recipe: str, vkey: str, ingredient: str, index: int | None) -> str:
    if vkey == "full":
        return recipe
    if vkey.startswith("prefix:"):
        return "base" if index == 0 else f"+{ingredient}"
    kind, _, rest = vkey.partition(":")
    return {"drop": "−", "add": "+", "only": "only "}.get(kind, kind + " ") + rest


def _config(spec: dict[str, Any]) -> str:
    """The spec without its step count: runs of one configuration at several step counts share it."""
    train = dict(spec.get("train") or {})
    train.pop("steps", None)
    return stable_hash({**spec, "train": train})


def load_records(root: Path | str, target: float | None = None) -> Loaded:
    """`target`: measure time to this val loss instead of each record's own (the final losses are
    what the estimate uses, so any target near them can be asked of the same runs)."""
    root = Path(root)
    rows, records, skipped = [], {}, []
    member_rows: list[dict[str, Any]] = []
    paths = sorted(p for p in root.rglob("*.json") if p.is_file()) if root.is_dir() else []
    for path in paths:
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            r = RunResult.from_dict(data)
            check_record(r)
        except Exception as e:   # whatever is wrong with one file, the rest of the report still stands
            skipped.append((path, _reason(e)))
            continue
        if r.identity in records:
            old = records[r.identity]
            if (old.status == "finished") >= (r.status == "finished") and old.finished_at >= r.finished_at:
                skipped.append((path, f"duplicate of identity {r.identity} (kept the newer/finished one)"))
                continue
            rows = [row for row in rows if row["identity"] != r.identity]
            member_rows = [m for m in member_rows if m["identity"] != r.identity]
        records[r.identity] = r
        rows.append(_run_row(path, r, target))
        member_rows.append(_member_row(r.identity, r.recipe["name"], r.variant,
                                       (r.sweep or {}).get("role", "variant"), (r.sweep or {}).get("id")))
    for mpath, manifest in manifests(root):
        if isinstance(manifest, Exception):
            skipped.append((mpath, _reason(manifest)))
            continue
        for entry in manifest["runs"]:
            ident = entry.get("identity") if isinstance(entry, dict) else None
            if ident not in records:
                continue
            variant = entry.get("variant") or records[ident].variant
            member_rows.append(_member_row(ident, str(manifest.get("recipe")), variant if isinstance(variant, dict)
                                           else {}, str(entry.get("role", "variant")), manifest.get("id")))
    runs = pd.DataFrame(rows, columns=RUN_COLUMNS).set_index("identity", drop=False)
    members = pd.DataFrame(member_rows, columns=MEMBER_COLUMNS)
    if len(members):
        members = members.drop_duplicates(subset=["identity", "recipe", "vkey"]).reset_index(drop=True)
    return Loaded(root, runs, members, records, skipped)


def _reason(e: Exception) -> str:
    if isinstance(e, json.JSONDecodeError):
        return f"malformed JSON ({e.msg} at line {e.lineno})"
    if isinstance(e, TypeError):
        return f"not a remix run record (fields do not match the schema: {e})"
    return str(e) or type(e).__name__


def _run_row(path: Path, r: RunResult, target: float | None = None) -> dict[str, Any]:
    hw, sw = r.hardware, r.software
    data = r.data.get("name") if isinstance(r.data, dict) and r.data.get("name") else \
        (r.spec.get("data") or {}).get("source", "?")
    hw_label = hardware_label(hw)
    final = r.final_val_loss if r.final_val_loss is not None and math.isfinite(r.final_val_loss) else None
    goal = float(r.target if target is None else target)
    return {
        "identity": r.identity, "path": str(path), "status": r.status, "recipe": r.recipe["name"], "seed": r.seed,
        "target": goal, "steps": int(r.spec["train"]["steps"]), "steps_done": r.steps_done,
        "final_val_loss": final, "ms_per_step": r.ms_per_step, "train_time_ms": r.train_time_ms,
        "tokens_per_step": r.tokens_per_step, "param_count": r.param_count, "hardware": hw_label,
        "device": hw.get("device"), "device_count": hw.get("device_count"),
        "context": f"{hw_label} · {data} · target {goal:g}", "config": _config(r.spec),
        "ingredients": " > ".join(i["name"] for i in r.ingredients), "torch": sw.get("torch"),
        "cuda": sw.get("cuda"), "python": sw.get("python"), "remix": sw.get("remix"),
        "git_commit": sw.get("git_commit"), "data": str(data), "sweep_id": (r.sweep or {}).get("id"),
        "role": (r.sweep or {}).get("role", "variant"), "finished_at": r.finished_at,
    }


def _member_row(identity: str, recipe: str, variant: dict[str, Any], role: str, sweep_id: Any) -> dict[str, Any]:
    vkey, kind, index, ingredient, full = variant_key(variant)
    return {"identity": identity, "recipe": recipe, "vkey": vkey, "vkind": kind, "vindex": index,
            "ingredient": ingredient, "label": variant_label(recipe, vkey, ingredient, index), "full": full,
            "role": role, "sweep_id": sweep_id}
