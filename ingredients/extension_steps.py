"""Extension steps: train a few more steps after the schedule ends, at the floor learning rate.

What: train.extension_steps more steps after the scheduled N (the learning rate stays at its floor;
window schedules use their extension windows; the final validation comes after them).
Where from: #35 (09/21/25, 2.527 min, 2025-09-21_DropAttn: 40 steps), #42 (10/27/25, 2.313 min: the
extension trains at 13/6 blocks with YaRN-13), #81 (04/22/26, 1.363 min: 10 steps), #85 20, #87 11.
Requires: nothing. Math: changes it (more steps).
"""

from remix.ingredient import Provenance, ingredient

R35 = Provenance("35", "09/21/25", "2.527 minutes", "2025-09-21_DropAttn", "40 extension steps")
R81 = Provenance("81", "04/22/26", "1.363 minutes", "2026-04-22_MuddFormer", "10 extension steps")


@ingredient(name="extension_steps", summary="40 more steps after the schedule, at the floor lr",
            category="schedule", provenance=(R35, R81), options={"steps": 40}, doc=__doc__)
def INGREDIENT(spec, steps):
    return spec.set("train.extension_steps", steps)
