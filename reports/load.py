"""Records -> pandas: one row per run, one row per (run, recipe, role it plays), and what was skipped.

Everything the report shows comes from here, i.e. from the JSON records in a results directory (and
the sweep manifests kept beside them); nothing is typed in by hand. A file that is not a valid remix
record (malformed JSON, a foreign schema, a field of the wrong type) is listed with the reason and
left out, never a crash.

Two things are kept apart: what a run *trains* (its `variant`: the record's variant_id, the spec less
step count and seed) and the *role* it plays in a recipe (prefix k, the full recipe, the recipe less X).
One variant can play several roles (the last prefix is the full recipe; dropping the last ingredient is
the second-to-last prefix; two recipes share a base), and a standalone `remix run` and a sweep's run of
the same thing are the same variant. The analysis pools runs by variant and reads roles only to know
what to compare.

A run that finished above the val loss it started from is `unstable` here even when an older record
says finished: its loss is not an effect of anything.
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

# schedule arguments that count steps: a record without variant_id had them scaled with its step count
_STEP_ARGS = ("warmup", "steps", "cooldown_steps")


@dataclass
class Loaded:
    root: Path
    runs: pd.DataFrame                      # one row per record (index: identity)
    members: pd.DataFrame                   # one row per (identity, recipe, role key); identity may be planned only
    records: dict[str, RunResult]           # by identity, for curves and provenance
    skipped: list[tuple[Path, str]] = field(default_factory=list)


RUN_COLUMNS = ["identity", "path", "status", "recipe", "seed", "target", "steps", "steps_done", "final_val_loss",
               "initial_val_loss", "ms_per_step", "train_time_ms", "tokens_per_step", "param_count", "hardware",
               "device", "device_count", "context", "variant", "ingredients", "torch", "cuda", "python", "remix",
               "git_commit", "data", "sweep_id", "role", "finished_at", "message"]
MEMBER_COLUMNS = ["identity", "recipe", "rkey", "rkind", "rindex", "rsize", "ingredient", "role", "sweep_id",
                  "planned_steps", "seed"]


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


def role_key(variant: dict[str, Any]) -> tuple[str, str, int | None, int | None, str]:
    """(role key, kind, prefix index, prefix count, the ingredient the role is about) of a record's variant.
    The last prefix keeps its prefix key (the analysis knows it is also the full recipe)."""
    kind = str(variant.get("kind", "full"))
    if kind == "prefix":
        k, size = variant.get("index"), variant.get("size")
        k = k if isinstance(k, int) and not isinstance(k, bool) else None
        size = size if isinstance(size, int) and not isinstance(size, bool) else None
        return f"prefix:{k}", "prefix", k, size, str(variant.get("last") or "")
    if kind == "full":
        return "full", "full", None, None, ""
    if kind in ("drop", "add"):
        names = variant.get({"drop": "dropped", "add": "added"}[kind]) or []
        names = [str(n) for n in names] if isinstance(names, list) else [str(names)]
        extra = [str(a) for a in variant.get("added", [])] if kind == "drop" else []
        key = f"{kind}:{','.join(names)}" + (f"+{','.join(extra)}" if extra else "")
        return key, kind, None, None, ",".join(names)
    return f"{kind}:{json.dumps(variant, sort_keys=True, default=str)}", kind, None, None, ""


def role_label(recipe: str, rkey: str, ingredient: str, index: int | None, size: int | None) -> str:
    if rkey == "full" or (index is not None and size is not None and index == size - 1):
        return recipe
    if rkey.startswith("prefix:"):
        return "base" if index == 0 else f"+{ingredient}"
    kind, _, rest = rkey.partition(":")
    if kind == "drop":   # "drop:a,b+c" (a swap: a and b out, c in) reads "−a,−b +c"
        out, _, added = rest.partition("+")
        return "−" + out.replace(",", ",−") + (" +" + added.replace(",", ",+") if added else "")
    return {"add": "+"}.get(kind, kind + " ") + rest.replace(",", ",+")


def variant_of(r: RunResult) -> str:
    """What the run trains: its recorded variant_id; for a record older than that field, its spec less the
    step count and the step-counted schedule arguments (which a scale shrank with the steps), and its data."""
    if r.variant_id:
        return r.variant_id
    spec = {k: v for k, v in r.spec.items()}
    spec["train"] = {k: v for k, v in (spec.get("train") or {}).items() if k != "steps"}
    schedule = spec.get("schedule")
    if isinstance(schedule, dict):
        spec["schedule"] = {name: ({k: v for k, v in c.items() if k not in _STEP_ARGS} if isinstance(c, dict) else c)
                            for name, c in schedule.items()}
    return stable_hash({"spec": spec, "data": r.data})


def _initial(r: RunResult) -> float | None:
    first = next((p.val_loss for p in r.curve if p.val_loss is not None), None)
    return float(first) if first is not None and math.isfinite(first) else None


def status_of(r: RunResult) -> str:
    """The record's status, except that a finished run above its initial val loss is unstable."""
    first = _initial(r)
    final = r.final_val_loss
    if r.status == "finished" and first is not None and final is not None and math.isfinite(final) and final > first:
        return "unstable"
    return r.status


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
                                       (r.sweep or {}).get("role", "variant"), (r.sweep or {}).get("id"),
                                       int(r.spec["train"]["steps"]), r.seed))
    for mpath, manifest in manifests(root):
        if isinstance(manifest, Exception):
            skipped.append((mpath, _reason(manifest)))
            continue
        for entry in [*manifest["runs"], *(manifest.get("aliases") or [])]:
            if not isinstance(entry, dict) or not isinstance(entry.get("identity"), str):
                continue
            ident = entry["identity"]
            rec = records.get(ident)
            variant = entry.get("variant") or (rec.variant if rec is not None else {})
            steps, seed = entry.get("steps"), entry.get("seed")
            if rec is None and not (isinstance(steps, int) and isinstance(seed, int)):
                continue   # a planned run is shown only when the manifest says what it would be
            member_rows.append(_member_row(ident, str(manifest.get("recipe")), variant if isinstance(variant, dict)
                                           else {}, str(entry.get("role", "variant")), manifest.get("id"),
                                           int(steps if rec is None else rec.spec["train"]["steps"]),
                                           int(seed if rec is None else rec.seed)))
    runs = pd.DataFrame(rows, columns=RUN_COLUMNS).set_index("identity", drop=False)
    members = pd.DataFrame(member_rows, columns=MEMBER_COLUMNS)
    if len(members):
        members = members.drop_duplicates(subset=["identity", "recipe", "rkey"]).reset_index(drop=True)
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
        "identity": r.identity, "path": str(path), "status": status_of(r), "recipe": r.recipe["name"],
        "seed": r.seed, "target": goal, "steps": int(r.spec["train"]["steps"]), "steps_done": r.steps_done,
        "final_val_loss": final, "initial_val_loss": _initial(r), "ms_per_step": r.ms_per_step,
        "train_time_ms": r.train_time_ms, "tokens_per_step": r.tokens_per_step, "param_count": r.param_count,
        "hardware": hw_label, "device": hw.get("device"), "device_count": hw.get("device_count"),
        "context": f"{hw_label} · {data} · target {goal:g}", "variant": variant_of(r),
        "ingredients": " > ".join(i["name"] for i in r.ingredients), "torch": sw.get("torch"),
        "cuda": sw.get("cuda"), "python": sw.get("python"), "remix": sw.get("remix"),
        "git_commit": sw.get("git_commit"), "data": str(data), "sweep_id": (r.sweep or {}).get("id"),
        "role": (r.sweep or {}).get("role", "variant"), "finished_at": r.finished_at, "message": r.message,
    }


def _member_row(identity: str, recipe: str, variant: dict[str, Any], role: str, sweep_id: Any, steps: int,
                seed: int) -> dict[str, Any]:
    rkey, kind, index, size, ingredient = role_key(variant)
    return {"identity": identity, "recipe": recipe, "rkey": rkey, "rkind": kind, "rindex": index, "rsize": size,
            "ingredient": ingredient, "role": role, "sweep_id": sweep_id, "planned_steps": steps, "seed": seed}
