"""Higher learning-rate floor: the cooldown ends at 0.15 of the peak instead of 0.1.

What: schedule.lr.floor = floor; the linear cooldown interpolates from the peak to it and any steps
after the scheduled ones stay there. Before → after: 0.1 (#19 … #71, and M) → 0.15.
Where from: #72 (02/10/26, 1.496 min, 2026-02-10_ShortWindow, log Short-Window_1_1.txt), kept from #74
on (#73 lacks it). Not here, from the same record: the 896-token document cap in the first third and
the stage-3 short window of 256 tokens (schedules of the data and the windows), and its loss scale
2/grad_accum → 1/grad_accum (a gradient factor that Adam and Muon normalise away, up to Adam's eps).
Requires: stable_cooldown. Math: changes it.
"""

from remix.ingredient import Provenance, ingredient

R72 = Provenance("72", "02/10/26", "1.496 minutes", "2026-02-10_ShortWindow", "lr floor 0.1 → 0.15")


@ingredient(name="higher_lr_floor", summary="lr cooldown ends at 0.15 × peak (was 0.1)", category="schedule",
            provenance=R72, requires=("stable_cooldown",), refines=("stable_cooldown",), options={"floor": 0.15},
            doc=__doc__)
def INGREDIENT(spec, floor):
    if not 0 <= floor <= 1:
        raise ValueError(f"higher_lr_floor: floor must be in [0, 1], got {floor}")
    return spec.set("schedule.lr.floor", float(floor))
