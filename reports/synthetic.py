"""Synthetic run records from a known loss law, for the report's tests, fixtures and benchmark.

The law: a run tuned to s steps ends at L(s) = 2.9 + a / sqrt(s) (+ a small seed-dependent offset),
each ingredient scaling `a` (and ms/step) by its own factor, so every time-to-target and marginal
effect in a report built from these records is known in advance. Nothing here trains anything.

    python -m reports.synthetic DIR [--copies N]
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from remix.results import CurvePoint, ResultStore, RunResult
from remix.spec import stable_hash
from remix.sweep import SLOPE_FACTOR, Sweep, SweepRun, variant_label, write_manifest

FLOOR, BASE_A, TARGET = 2.9, 40.0, 3.28
HARDWARE = {"device": "cuda", "device_name": "NVIDIA H100 80GB HBM3", "device_count": 8}
SOFTWARE = {"python": "3.12.9", "torch": "2.7.0", "cuda": "12.6", "remix": "0.1.0", "git_commit": "0" * 40}

# name: (factor on a, factor on ms/step); ~1.0 factors are effects lost in seed noise
EFFECTS = {"rmsnorm": (0.93, 0.99), "rope": (0.85, 1.01), "relu2": (0.95, 1.0), "qk_norm": (1.0, 1.0),
           "tuned_adamw": (0.8, 1.0), "muon": (0.62, 1.04)}
RECIPES = {"adamw_baseline": ["rmsnorm", "rope", "relu2", "qk_norm", "tuned_adamw"],
           "muon_baseline": ["rmsnorm", "rope", "relu2", "qk_norm", "muon"]}
MAIN_STEPS = {"adamw_baseline": 4375, "muon_baseline": 2500}


@dataclass(frozen=True)
class Variant:
    recipe: str
    ingredients: tuple[str, ...]
    variant: dict[str, Any]


def law(ingredients: tuple[str, ...], steps: int, seed: int) -> tuple[float, float]:
    a, ms = BASE_A, 140.0
    for name in ingredients:
        fa, fm = EFFECTS.get(name, (1.0, 1.0))
        a, ms = a * fa, ms * fm
    noise = 0.0015 * math.sin(seed * 12.9898 + len(ingredients) * 78.233)   # deterministic, ~seed noise
    return FLOOR + a / math.sqrt(steps) + noise, ms * (1 + 0.002 * math.cos(seed * 3.1 + steps))


def record(v: Variant, steps: int, seed: int, sweep: dict[str, Any] | None) -> RunResult:
    loss, ms = law(v.ingredients, steps, seed)
    spec = {"model": {"ingredients": list(v.ingredients)}, "train": {"steps": steps, "tokens_per_step": 524288},
            "data": {"source": "fineweb"}}
    identity = stable_hash({"spec": spec, "seed": seed})
    every = max(steps // 10, 1)
    curve = []
    for t in list(range(0, steps, every)) + [steps]:
        extra = (1 - t / steps) * 0.35 + (2.0 if t == 0 else 0.0)   # before the cooldown a run sits higher
        curve.append(CurvePoint(t, t * ms, None if t == 0 else loss + extra + 0.05, loss + extra))
    return RunResult(
        identity=identity, status="finished", variant_id=stable_hash({"ingredients": list(v.ingredients)}),
        recipe={"name": v.recipe, "path": f"recipes/{v.recipe}.toml", "text": f"name = \"{v.recipe}\"\n"},
        variant=v.variant, ingredients=[{"name": n, "options": {}} for n in v.ingredients], seed=seed, target=TARGET,
        spec=spec, hardware=HARDWARE, software=SOFTWARE, data={"name": "fineweb10B"}, sweep=sweep, curve=curve,
        steps_done=steps, final_val_loss=loss, reached_target=loss <= TARGET, train_time_ms=steps * ms,
        ms_per_step=ms, tokens_per_step=524288, tokens_per_s=524288 / ms * 1000, param_count=124_000_000,
        started_at="2026-11-20T10:00:00+00:00", finished_at="2026-11-20T10:07:00+00:00")


def _variants(recipe: str, kind: str, names: list[str]) -> list[Variant]:
    if kind == "prefixes":
        n = len(names)
        return [Variant(recipe, tuple(names[:k]), {"kind": "prefix", "index": k, "size": n + 1,
                                                   "last": names[k - 1] if k else None}) for k in range(n + 1)]
    return [Variant(recipe, tuple(names), {"kind": "full"})] + [
        Variant(recipe, tuple(x for x in names if x != d), {"kind": "drop", "dropped": [d]}) for d in names]


def write_sweep(store: ResultStore, recipe: str, kind: str, seeds: int, main_steps: int | None = None,
                ingredients: list[str] | None = None) -> Sweep:
    """Records and manifest of one sweep, planned like remix.sweep.plan_sweep plans it."""
    main = main_steps or MAIN_STEPS.get(recipe, 2500)
    variants = _variants(recipe, kind, ingredients or RECIPES[recipe])
    ref = variants[-1] if kind == "prefixes" else variants[0]
    planned: list[tuple[Variant, int, int, str]] = []
    for seed in range(seeds):
        planned += [(v, main, seed, "variant") for v in variants]
        planned.append((ref, round(main * SLOPE_FACTOR), seed, "slope"))
    recs = [record(v, steps, seed, None) for v, steps, seed, _ in planned]
    runs = tuple(SweepRun(SimpleNamespace(identity=r.identity, seed=r.seed, variant=v.variant), i, role,
                          variant_label(v.variant, v.recipe, v.ingredients), steps)
                 for i, (r, (v, steps, seed, role)) in enumerate(zip(recs, planned)))
    sweep = Sweep(stable_hash({"kind": kind, "identities": [r.identity for r in recs]}), kind, recipe, runs)
    for i, r in enumerate(recs):
        if store.find(r.identity) is None:     # a run shared with an earlier sweep keeps its first record
            r.sweep = {"id": sweep.id, "kind": kind, "index": i, "size": len(recs), "role": planned[i][3]}
            store.save(r)
    write_manifest(store, sweep)
    return sweep


def write_single(store: ResultStore, recipe: str, ingredients: list[str], variant: dict[str, Any], steps: int,
                 seed: int) -> RunResult:
    """One run made by a plain `remix run` / `remix ablate` (no sweep, no manifest)."""
    r = record(Variant(recipe, tuple(ingredients), variant), steps, seed, None)
    if store.find(r.identity) is None:
        store.save(r)
    return r


def write_fixture_set(root: Path | str, seeds: int = 2, copies: int = 1) -> ResultStore:
    """Prefix and leave-one-out sweeps of both recipes (× `copies` on distinct step counts)."""
    store = ResultStore(root)
    for c in range(copies):
        for recipe in RECIPES:
            for kind in ("prefixes", "each"):
                write_sweep(store, recipe, kind, seeds, MAIN_STEPS[recipe] + 10 * c)
    return store


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m reports.synthetic DIR [--copies N]")
    n = int(sys.argv[sys.argv.index("--copies") + 1]) if "--copies" in sys.argv else 1
    s = write_fixture_set(sys.argv[1], copies=n)
    print(f"{sum(1 for _ in s.root.glob('*.json'))} records in {s.root}")
