"""From a recipe to a record: plan a run (resolve, scale, validate, identify), then execute it.

A RunPlan is plain, picklable data: a sweep is a list of plans, and any executor (this process, one
process per GPU, torchrun, Slurm) can take the same list.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from remix import env
from remix.options import RunOptions
from remix.recipe import Recipe, RecipeError, Resolved, line_of
from remix.results import ResultStore, RunResult, now
from remix.scale import SCALE_TARGETS, apply_scale
from remix.spec import Spec, SpecError, stable_hash
from remix.validate import validate_spec


@dataclass(frozen=True)
class RunPlan:
    recipe: Recipe
    spec: Spec
    seed: int
    identity: str
    hardware: dict
    software: dict
    source: dict[str, str] = field(default_factory=dict)   # path -> what set it (base, ingredient, override, --set)

    @property
    def variant(self) -> dict:
        return self.recipe.variant


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
    try:
        validate_spec(spec, world=options.world)
    except SpecError as e:
        origin = source.get(e.path, "")
        key = "" if str(e).lstrip("'").startswith(e.path) else e.path
        raise RecipeError(recipe.path, key, f"{e}" + (f" (set by {origin})" if origin else ""),
                          line=line_of(recipe.text, e.path)) from None
    return Resolved(spec, source, skipped)


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
    identity = stable_hash({"spec": spec.to_dict(), "seed": seed, "data": data_identity(spec.data.source),
                            "hardware": {k: hw[k] for k in ("device_name", "device_count")},
                            "software": {k: sw[k] for k in ("torch", "cuda", "remix", "code")}})
    return RunPlan(recipe, spec, seed, identity, hw, sw, source)


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
        sweep=sweep, tokens_per_step=spec.train.tokens_per_step, started_at=now())


def execute_plan(plan: RunPlan, store: ResultStore, *, force: bool = False, progress: bool = True,
                 sweep: dict | None = None) -> RunResult:
    """Trains the plan in this process and writes its record; a finished identity is not trained again."""
    done = store.finished(plan.identity)
    if done is not None and not force:
        return done
    from remix.training import train_plan   # torch-heavy; imported only when training
    return train_plan(plan, store, progress=progress, sweep=sweep)

