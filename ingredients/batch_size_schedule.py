"""Batch-size schedule: a third of the batch in the first third of the run, two thirds in the second,
the whole batch after, each stage with a higher learning-rate multiplier.

What: stages begin at ⌈N/3⌉ and ⌈2N/3⌉ (the window stages' boundaries); in stage k the rows are
`rows[k]` of train.seq_len long and the batch `batch[k]` of train.tokens_per_step (record #46 on
8 GPUs: 16,384 / 32,768 / 49,152 tokens per GPU, 131,072 / 262,144 / 393,216 per step). Each stage is
one compiled graph (made in the untimed warm-up); the loader switches geometry at the boundary and
keeps its place in the data. Learning rate (a schedule of its own, "staged_cooldown"): the peak is
lr_mul[k] after the fraction thresholds[k] of the run (1.0, 1.51 past 0.33, 1.93 past 0.66 in #46 —
thresholds that lead the batch switch by 7 and 14 steps, as the record's did); from 1 − cooldown_frac
(0.55) the multiplier is peak·w + floor·(1 − w), w = (1 − x)/cooldown_frac; extension steps at the floor.
Where from: #46 (11/29/25, 2.203 min, 2025-11-29_BatchSizeSchedule); #49 moved the thresholds to 1/3
and 2/3, #53 the multipliers to 1.52 and 1.73 (options). Requires: nothing (with bos_aligned's
max_doc_len the rows are packed documents, as the record's). Math: changes it.
"""

from dataclasses import dataclass

from remix.ingredient import Provenance, ingredient
from remix.slots import LR_SCHEDULES
from remix.spec import C

R46 = Provenance("46", "11/29/25", "2.203 minutes", "2025-11-29_BatchSizeSchedule", "batch 1/3, 2/3, 1 by thirds")


@dataclass(frozen=True)
class StagedCooldownConfig:
    thresholds: "tuple[float, ...]" = (0.33, 0.66)
    lr_mul: "tuple[float, ...]" = (1.0, 1.51, 1.93)
    cooldown_frac: "float" = 0.55
    floor: "float" = 0.1

    def __post_init__(self):
        if len(self.lr_mul) != len(self.thresholds) + 1:
            raise ValueError(f"lr_mul needs one multiplier per stage ({len(self.thresholds) + 1}), got {self.lr_mul}")
        if not 0 < self.cooldown_frac <= 1 or not 0 <= self.floor <= 1:
            raise ValueError(f"expected 0 < cooldown_frac ≤ 1 and 0 ≤ floor ≤ 1, got {self.cooldown_frac}, {self.floor}")


@LR_SCHEDULES.register("staged_cooldown", config=StagedCooldownConfig)
def staged_cooldown(cfg: StagedCooldownConfig, total_steps: int):
    def multiplier(step: int) -> float:
        x = step / total_steps
        if x >= 1:
            return cfg.floor
        peak = cfg.lr_mul[sum(x > t for t in cfg.thresholds)]
        if x < 1 - cfg.cooldown_frac:
            return peak
        w = (1 - x) / cfg.cooldown_frac
        return peak * w + cfg.floor * (1 - w)
    return multiplier


@ingredient(name="batch_size_schedule", summary="batch 1/3 → 2/3 → 1 by thirds, lr peak 1 → 1.51 → 1.93",
            category="schedule", provenance=R46,
            options={"batch": (1 / 3, 2 / 3, 1.0), "rows": (1 / 3, 2 / 3, 1.0), "thresholds": (0.33, 0.66),
                     "lr_mul": (1.0, 1.51, 1.93), "cooldown_frac": 0.55, "floor": 0.1},
            refines=("stable_cooldown",), doc=__doc__)
def INGREDIENT(spec, batch, rows, thresholds, lr_mul, cooldown_frac, floor):
    stages = spec.schedule.stages
    args = dict(stages.args) if stages.name == "staged" else {}
    spec = spec.set("schedule.stages", C("staged", **{**args, "batch": tuple(batch), "rows": tuple(rows)}))
    return spec.set("schedule.lr", C("staged_cooldown", thresholds=tuple(thresholds), lr_mul=tuple(lr_mul),
                                     cooldown_frac=cooldown_frac, floor=floor))
