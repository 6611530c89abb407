"""Freeze the scalars for a while after each transition (a window or batch stage change).

What: from each transition step, for `steps` steps, the scalar Adam group neither steps (its step
count does not advance) nor keeps its gradients. Transitions are the stage starts ⌈N/3⌉, ⌈2N/3⌉ and
N (the extension's start). Where from: #52 (12/21/25, 2.037 min, 2025-12-21_SmoothedScalars, 40 steps;
frozen 654–693, 1307–1346, 1960–1999 of N = 1960) and #53; #54–#56 kept the machinery but never
called it, #57 removed it. Requires: adam_groups (the scalar group). Math: changes it.
"""

import math
from dataclasses import dataclass

from remix import registry
from remix.ingredient import Provenance, ingredient
from remix.slots import EVENTS
from remix.spec import C
from remix.stages import Event

R52 = Provenance("52", "12/21/25", "2.037 minutes", "2025-12-21_SmoothedScalars", "scalars frozen 40 steps at transitions")


@dataclass(frozen=True)
class FreezeConfig:
    at: "tuple[float, ...]" = (1 / 3, 2 / 3, 1.0)   # fractions of the scheduled steps
    steps: "int" = registry.steps(40)
    groups: "tuple[str, ...]" = ("scalar",)


class Freeze(Event):
    def __init__(self, cfg: FreezeConfig, steps: int):
        self.cfg = cfg
        self.steps = tuple(math.ceil(f * steps - 1e-9) for f in cfg.at)

    def apply(self, step: int, model, optimizers) -> None:
        for group in self.cfg.groups:
            optimizers.pause(group, step + self.cfg.steps)

    def reset(self, model, optimizers) -> None:
        optimizers.paused_until.clear()


@EVENTS.register("freeze", config=FreezeConfig)
def freeze(cfg: FreezeConfig, spec, horizon) -> Event:
    return Freeze(cfg, horizon.steps)


@ingredient(name="freeze_scalars", summary="the scalar group pauses 40 steps at each stage transition",
            category="schedule", provenance=R52, options=FreezeConfig, requires=("adam_groups",), doc=__doc__)
def INGREDIENT(spec, at, steps, groups):
    return spec.set("schedule.events.freeze_scalars", C("freeze", at=tuple(at), steps=steps, groups=tuple(groups)))
