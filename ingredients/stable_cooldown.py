"""Learning rate: optional linear warm-up, constant, then a linear cooldown to a floor.

multiplier(step) = (step + 1)/warmup while step < warmup; 1 while step/N < 1 − cooldown_frac; then
w = (1 − step/N)/cooldown_frac and multiplier = w + floor·(1 − w), so the last step is ≈ floor.
A: warmup 256, cooldown_frac 0.3; M: warmup 0, cooldown_frac 0.4; both floor 0.1 (the defaults are M's).
Where from: #2 (constant then linear warm-down, replacing llm.c's cosine), #18 (as a fraction of the
run), #19 (down to 0.1 instead of 0). Requires: nothing. Math: changes it.
"""

from dataclasses import dataclass

from ingredients._records import R2, R18, R19
from remix.slots import LR_SCHEDULES
from remix.ingredient import ingredient
from remix.registry import steps
from remix.spec import C


@dataclass(frozen=True)
class StableCooldownConfig:
    warmup: "int" = steps(0)
    cooldown_frac: "float" = 0.4
    floor: "float" = 0.1

    def __post_init__(self):
        if self.warmup < 0 or not 0 < self.cooldown_frac <= 1 or not 0 <= self.floor <= 1:
            raise ValueError(f"expected warmup ≥ 0, 0 < cooldown_frac ≤ 1 and 0 ≤ floor ≤ 1; got warmup "
                             f"{self.warmup}, cooldown_frac {self.cooldown_frac}, floor {self.floor}")


@LR_SCHEDULES.register("stable_cooldown", config=StableCooldownConfig)
def stable_cooldown(cfg: StableCooldownConfig, total_steps: int):
    def multiplier(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        x = min(step / total_steps, 1.0)   # extension steps stay at the floor
        if x < 1 - cfg.cooldown_frac:
            return 1.0
        w = (1 - x) / cfg.cooldown_frac
        return w + cfg.floor * (1 - w)
    return multiplier


@ingredient(name="stable_cooldown", summary="constant lr (after an optional warm-up), then a linear cooldown to a floor",
            category="schedule", provenance=(R2, R18, R19),
            options=StableCooldownConfig, doc=__doc__)
def INGREDIENT(spec, warmup, cooldown_frac, floor):
    return spec.set("schedule.lr", C("stable_cooldown", warmup=warmup, cooldown_frac=cooldown_frac, floor=floor))
