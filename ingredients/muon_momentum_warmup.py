"""Muon momentum warm-up: start Muon's momentum low and raise it linearly over the first steps.

What it does
    The momentum of every group whose optimizer has one (Muon's "hidden" group) follows
        m(step) = start*(1-f) + end*f,   f = min(step/steps, 1)
    with start 0.85, end 0.95, steps 300 (the remixed M baseline): 0.85 at step 0, 0.90 at step 150,
    0.95 from step 300 on. A lower momentum early lets the first, largest gradients move the weights
    without a long memory of the random start.

Where it came from
    Record #9 (11/06/24, 8.2 min) warmed the momentum from 0.85 to 0.95 over 500 steps; record #13
    (11/24/24, 4.66 min) shortened that to 300 steps, the value kept since.

What it requires
    The muon ingredient (the schedule sets the momentum Muon reads; the trainer evaluates it each step
    and writes the value into the group's "momentum" before the optimizer steps).

Does it change the math
    Yes (math_equivalent=False): the first `steps` steps use a smaller momentum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from remix.slots import MOMENTUM_SCHEDULES
from remix.ingredient import Provenance, ingredient
from remix import registry
from remix.spec import Component, Spec


@dataclass(frozen=True)
class LinearWarmup:
    start: "float" = 0.85
    end: "float" = 0.95
    steps: "int" = registry.steps(300)

    def __post_init__(self):
        if not (0 <= self.start < 1 and 0 <= self.end < 1) or self.steps < 0:
            raise ValueError(f"expected momenta in [0, 1) and steps ≥ 0, got {self.start}, {self.end}, {self.steps}")


def linear_warmup(cfg: LinearWarmup, total_steps: int) -> Callable[[int], float]:
    """step -> momentum; total_steps is unused: the warm-up has a fixed length in steps."""
    def momentum(step: int) -> float:
        f = min(step / cfg.steps, 1.0) if cfg.steps > 0 else 1.0
        return cfg.start * (1 - f) + cfg.end * f
    return momentum


MOMENTUM_SCHEDULES.register("linear_warmup", config=LinearWarmup)(linear_warmup)


@ingredient(
    name="muon_momentum_warmup",
    summary="Warm Muon's momentum up linearly from 0.85 to 0.95 over the first 300 steps",
    category="schedule",
    provenance=[
        Provenance("9", "11/06/24", "8.2 minutes", folder="2024-11-06_ShortcutsTweaks",
                   note="Momentum warm-up 0.85 -> 0.95 over 500 steps"),
        Provenance("13", "11/24/24", "4.66 minutes", folder="2024-11-24_WindowWarmup",
                   note="Warm-up shortened to 300 steps (the baselines' value)"),
    ],
    options=LinearWarmup,
    requires=("muon",),
    math_equivalent=False,
    doc=__doc__,
)
def apply(spec: Spec, *, start: float, end: float, steps: int) -> Spec:
    schedule = Component("linear_warmup", {"start": float(start), "end": float(end), "steps": steps})
    return spec.set("schedule.momentum", schedule)


INGREDIENT = apply
