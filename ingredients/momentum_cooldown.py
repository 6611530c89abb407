"""Muon momentum cool-down: over the run's last 50 steps the momentum falls linearly back to 0.85.

What: the momentum schedule becomes warm-up, plateau, cool-down:
    m(s) = start·(1 − s/warmup) + end·s/warmup                for s < warmup
    m(s) = end − (end − start)·(s − (N − cooldown))/cooldown    for s > N − cooldown
    m(s) = end                                                 otherwise
with the warm-up it had (M: 0.85 → 0.95 over 300 steps) and cooldown 50 steps (N = the run's
steps, extension included): m(N − 1) = 0.852 in M. The plateau value between the two is `end`, as
#41 … #89 compute it; #39 and #40 set the momentum only inside the two ramps, so between them it
stayed at the step-299 value 0.949667 (not reproduced).
Where from: #39 (09/30/25, 2.447 min, 2025-09-30_CustomBatching, momentum_cd_steps = 50). Requires:
muon_momentum_warmup (this extends its schedule). Math: changes it.
"""

from dataclasses import dataclass

from ingredients.muon_momentum_warmup import LinearWarmup, linear_warmup
from remix.ingredient import Provenance, ingredient
from remix.registry import steps
from remix.slots import MOMENTUM_SCHEDULES
from remix.spec import C

R39 = Provenance("39", "09/30/25", "2.447 minutes", "2025-09-30_CustomBatching", "momentum 0.95 → 0.85 over the last 50 steps")


@dataclass(frozen=True)
class WarmupCooldown(LinearWarmup):
    cooldown: "int" = steps(50)

    def __post_init__(self):
        super().__post_init__()
        if self.cooldown < 0:
            raise ValueError(f"cooldown must be ≥ 0 steps, got {self.cooldown}")


@MOMENTUM_SCHEDULES.register("warmup_cooldown", config=WarmupCooldown)
def warmup_cooldown(cfg: WarmupCooldown, total_steps: int):
    warmup = linear_warmup(cfg, total_steps)   # M's warm-up, value for value
    start_cd = total_steps - cfg.cooldown

    def momentum(step: int) -> float:
        if cfg.cooldown > 0 and step > start_cd and step >= cfg.steps:
            return cfg.end - (cfg.end - cfg.start) * (step - start_cd) / cfg.cooldown
        return warmup(step)
    return momentum


@ingredient(name="momentum_cooldown", summary="Muon momentum back down 0.95 → 0.85 over the last 50 steps",
            category="schedule", provenance=R39, requires=("muon", "muon_momentum_warmup"),
            refines=("muon_momentum_warmup",), options={"steps": 50}, doc=__doc__)
def INGREDIENT(spec, steps):
    m = spec.schedule.momentum
    if m.name not in ("linear_warmup", "warmup_cooldown"):
        raise ValueError(f"momentum_cooldown extends the linear_warmup momentum schedule; schedule.momentum is {m.name!r}")
    return spec.set("schedule.momentum", C("warmup_cooldown", **{**m.args, "cooldown": steps}))
