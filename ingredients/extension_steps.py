"""Extension steps: the last `steps` steps of the run train at the floor learning rate, after the
scheduled cooldown has ended.

What: with N = train.steps, the stable-then-cooldown schedule is laid over the first N − E steps
(E = `steps`) and steps N − E … N − 1 keep its final value. The multiplier at step s is the
schedule's at min(s, progress_cap·(N − E)): progress_cap 1 gives exactly the floor in the extension
(#46 … #89); #35 … #40 and #42 … #45 capped the progress at 0.9999, so their extension ran at
floor + (1 − floor)·0.0001/cooldown_frac (0.10018 with cooldown 0.5, floor 0.1). Records (steps):
40 in #35 … #80 and #82 … #84, 10 in #81, #88, #89, 20 in #85, 11 in #87. Not here: #41's schedule,
which decayed over N + E (a refactor's side effect, undone by #42), and the records' other changes
at the extension (final windows, YaRN; see the stage ingredients).
Where from: #35 (09/21/25, 2.527 min, 2025-09-21_DropAttn): 1645 steps → 1640 + 40. Requires:
stable_cooldown (this replaces it with the same schedule plus the extension; the cooldown_frac,
floor and warm-up it had are kept). Math: changes it.
"""

from dataclasses import dataclass

from ingredients.stable_cooldown import StableCooldownConfig, stable_cooldown
from remix.ingredient import Provenance, ingredient
from remix.registry import steps
from remix.slots import LR_SCHEDULES
from remix.spec import C

R35 = Provenance("35", "09/21/25", "2.527 minutes", "2025-09-21_DropAttn", "1640 + 40 steps at the floor, progress cap 0.9999")


@dataclass(frozen=True)
class ExtendedCooldownConfig(StableCooldownConfig):
    extension: "int" = steps(40)
    progress_cap: "float" = 1.0

    def __post_init__(self):
        super().__post_init__()
        if self.extension < 0 or not 0 < self.progress_cap <= 1:
            raise ValueError(f"expected extension ≥ 0 and 0 < progress_cap ≤ 1, got {self.extension} and "
                             f"{self.progress_cap}")


@LR_SCHEDULES.register("stable_cooldown_extended", config=ExtendedCooldownConfig)
def stable_cooldown_extended(cfg: ExtendedCooldownConfig, total_steps: int):
    scheduled = max(1, total_steps - cfg.extension)
    base = stable_cooldown(StableCooldownConfig(cfg.warmup, cfg.cooldown_frac, cfg.floor), scheduled)
    last = cfg.progress_cap * scheduled
    return lambda step: base(min(step, last))


@ingredient(name="extension_steps", summary="the run's last 40 steps train at the floor lr, after the cooldown",
            category="schedule", provenance=R35, requires=("stable_cooldown",), refines=("stable_cooldown",),
            options={"steps": 40, "progress_cap": 1.0}, doc=__doc__)
def INGREDIENT(spec, steps, progress_cap):
    lr = spec.schedule.lr
    if lr.name not in ("stable_cooldown", "stable_cooldown_extended"):
        raise ValueError(f"extension_steps extends the stable_cooldown schedule; schedule.lr is {lr.name!r}")
    return spec.set("schedule.lr", C("stable_cooldown_extended", **{**lr.args, "extension": steps,
                                                                   "progress_cap": float(progress_cap)}))
