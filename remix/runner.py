"""From a recipe to a plan: resolve, scale, validate and identify a run (remix.execute trains it).

A RunPlan is plain, picklable data: a sweep is a list of plans, and any executor (this process, one
process per GPU, torchrun, Slurm) can take the same list.

Two identities: `identity` is the run (spec, step count, seed, data, hardware, software: the cache key
of its record); `variant_id` is what it trains (the spec without its step count and seed, and the data):
a standalone `remix run`, a prefix of a sweep and a leave-one-out that train the same thing share it, at
any step count and seed, so the report pools them as one variant and never tells them apart by the
command that made them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from remix import env
from remix.batch import ORIGIN, fit_device_batch
from remix.options import RunOptions
from remix.recipe import Recipe, RecipeError, Resolved, line_of
from remix.results import RunResult, now
from remix.scale import SCALE_TARGETS, apply_scale
from remix.spec import Spec, SpecError, stable_hash
from remix.validate import validate_spec


class OutOfMemory(RuntimeError):
    """A run did not fit in its device's memory: said in one line, with what to shrink, not a traceback."""


@dataclass(frozen=True)
class RunPlan:
    recipe: Recipe
    spec: Spec
    seed: int
    identity: str
    hardware: dict
    software: dict
    source: dict[str, str] = field(default_factory=dict)   # path -> what set it (base, ingredient, override, --set)
    variant_id: str = ""                                    # what it trains: the spec less steps and seed

    @property
    def variant(self) -> dict:
        return self.recipe.variant

    @property
    def fitted(self) -> dict[str, str]:
        """{path: what was done} for a device batch lowered to split the step over the devices."""
        return {p: s for p, s in self.source.items() if s.startswith(ORIGIN)}


# More steps than anyone trains (a year at 300 ms/step): a typo or an overflow, refused before anything runs.
MAX_STEPS = 100_000_000


def resolve_spec(recipe: Recipe, options: RunOptions) -> Resolved:
    spec, source, skipped = recipe.resolve()
    if options.scale:
        scaled = apply_scale(spec, options.scale, options.steps)
        before = spec.paths()
        for path, value in scaled.paths().items():
            if before.get(path) != value:
                source[path] = f"scale {options.scale}"
        spec = scaled
    if options.steps is not None:   # the cooldown is a fraction of the run; warm-ups keep their step counts
        spec = spec.set("train.steps", options.steps)
        source["train.steps"] = "--steps"
    for path, value in options.sets:
        try:
            spec = spec.set(path, value)
        except SpecError as e:
            raise RecipeError("--set", path, str(e)) from None
        source[path] = "--set"
    spec, fitted = fit_device_batch(spec, options.world)
    source.update(fitted)   # what `remix show` and the run's console say about a lowered batch
    try:
        validate_spec(spec, world=options.world)
        _check_run(spec)
    except SpecError as e:
        raise _located(recipe, source, e) from None
    return Resolved(spec, source, skipped)


def _check_run(spec: Spec) -> None:
    """What a spec can be and still not be a run: no data source, a step count nobody could train."""
    if not str(spec.data.source).strip():
        raise SpecError("data.source", "data.source is empty; expected embedded, fineweb, fineweb100B, "
                                       "finewebedu10B or a directory of shards")
    if spec.train.steps > MAX_STEPS:
        raise SpecError("train.steps", f"train.steps = {spec.train.steps:,} is more than {MAX_STEPS:,} steps "
                                       "(about a year at 300 ms/step); expected a step count you mean to train")


def _origin(source: dict[str, str], path: str) -> str:
    """What set a path, or the fields under it (a component's arguments are paths of their own)."""
    if path in source:
        return source[path]
    under = {v for k, v in source.items() if k.startswith(path + ".") and v != "base"}
    return under.pop() if len(under) == 1 else ""


def _located(recipe: Recipe, source: dict[str, str], e: SpecError) -> RecipeError:
    """A spec problem as a RecipeError that points at what set the bad value: an ingredient's options
    table (the option the message names, if any), the override's line, or the flag."""
    origin = _origin(source, e.path)
    message = f"{e}" + (f" (set by {origin})" if origin else "")
    key = "" if str(e).lstrip("'").startswith(e.path) else e.path
    if origin in recipe.names:
        options = dict(recipe.ingredients)[origin]
        named = [k for k in options if re.search(rf"\b{re.escape(k)}\b", str(e))]
        line = ((named and line_of(recipe.text, f"options.{origin}.{named[0]}"))
                or line_of(recipe.text, f"options.{origin}") or line_of(recipe.text, origin))
        return RecipeError(recipe.path, f"options.{origin}" + (f".{named[0]}" if named else ""), message, line=line)
    if origin in ("--set", "--steps"):
        return RecipeError(origin, key or e.path, str(e))
    if origin == "override":
        return RecipeError(recipe.path, key, message, line=line_of(recipe.text, f"overrides.{e.path}")
                           or line_of(recipe.text, e.path))
    return RecipeError(recipe.path, key, message)


def plan_run(recipe: Recipe, options: RunOptions = RunOptions()) -> RunPlan:
    target = options.target if options.target is not None else SCALE_TARGETS.get(options.scale)
    if target is not None:
        if target <= 0:
            raise RecipeError(recipe.path, "target", f"must be a positive val loss, got {target}")
        recipe = replace(recipe, target=target)
    spec, source, _ = resolve_spec(recipe, options)
    device = options.device or _default_device()
    seed = recipe.seed if options.seed is None else options.seed
    hw, sw = env.hardware(device, options.world), env.software(spec)
    data = data_identity(spec.data.source)
    identity = stable_hash({"spec": spec.to_dict(), "seed": seed, "data": data,
                            "hardware": {k: hw[k] for k in ("device_name", "device_count")},
                            "software": {k: sw[k] for k in ("torch", "cuda", "remix", "code")}})
    return RunPlan(recipe, spec, seed, identity, hw, sw, source, variant_identity(recipe, options, spec, data))


def variant_identity(recipe: Recipe, options: RunOptions, spec: Spec, data: str) -> str:
    """What a run trains, whatever its step count and seed: its spec as resolved at the recipe's own step
    count (a scale shrinks warm-ups with --steps, so the spec at the run's own count would differ by
    them), less train.steps, with the data's identity."""
    if options.steps is not None:
        spec = resolve_spec(recipe, replace(options, steps=None)).spec
    return stable_hash({"spec": without_steps(spec.to_dict()), "data": data})


def without_steps(spec: dict) -> dict:
    # The base gradient sync is left out too: specs from before the slot existed train the same thing, and
    # their records keep their variant.
    return {**spec, "train": {k: v for k, v in (spec.get("train") or {}).items()
                              if k != "steps" and not (k == "grad_sync" and v == BASE_GRAD_SYNC)}}


BASE_GRAD_SYNC = {"name": "all_reduce"}


def data_identity(source: str) -> str:
    """The dataset's own identity (files, sizes, header hashes) where it is there; else its name."""
    from remix.data import DataError, open_dataset
    try:
        return stable_hash(open_dataset(source).identity())
    except DataError:
        return source


def _default_device() -> str:
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def new_result(plan: RunPlan, sweep: dict | None = None) -> RunResult:
    r = plan.recipe
    spec = plan.spec
    return RunResult(
        identity=plan.identity, status="running",
        recipe={"name": r.name, "path": r.path, "text": r.text, "description": r.description},
        variant=dict(r.variant), ingredients=[{"name": n, "options": o} for n, o in r.ingredients],
        seed=plan.seed, target=r.target, spec=spec.to_dict(), hardware=plan.hardware, software=plan.software,
        sweep=sweep, tokens_per_step=spec.train.tokens_per_step, started_at=now(), variant_id=plan.variant_id)
