"""Longer learning-rate cooldown: the linear decay to the floor takes the last 55% of the run.

What: schedule.lr.cooldown_frac = frac (the stable-then-cooldown schedule: multiplier 1 until
step/N reaches 1 − frac, then linear to the floor at N). M cools down over 0.4 (#21). Records, before
→ after (option `frac`):
  * #11 (11/10/24, 2024-11-10_UNetDoubleLr): warm-down 926 of 3242 → 900 of 3000 steps, 0.286 → 0.30;
  * #13 (11/24/24, 2024-11-24_WindowWarmup): 562 of 1875 → 640 of 1750 steps, 0.30 → 0.366;
  * #26 (07/13/25, 2.863 min, 2025-07-12_BosAlign): 0.4 → 0.45 (with BOS-aligned batches);
  * #31 (09/10/25, 2.656 min, 2025-09-10_Yarn): 0.45 → 0.5 (with YaRN);
  * #39 (09/30/25, 2.447 min, 2025-09-30_CustomBatching): 0.5 → 0.4 (with the smaller batch);
  * #40 (10/04/25, 2.358 min, 2025-10-04_Backout): 0.4 → 0.45;
  * #42 (10/27/25, 2.313 min, 2025-10-27_FixMuonLR): 0.45 → 0.5;
  * #46 (11/29/25, 2.203 min, 2025-11-29_BatchSizeSchedule): 0.5 → 0.55 (default; with the batch-size
    schedule); #54 went back to 0.5 and #62 to 0.55; #73 0.6.
Step counts (N) changed in every one of these records too; a run's length is remix's to choose.
Requires: stable_cooldown. Math: changes it.
"""

from remix.ingredient import Provenance, ingredient

R26 = Provenance("26", "07/13/25", "2.863 minutes", "2025-07-12_BosAlign", "cooldown 0.4 → 0.45")
R31 = Provenance("31", "09/10/25", "2.656 minutes", "2025-09-10_Yarn", "cooldown 0.45 → 0.5")
R39 = Provenance("39", "09/30/25", "2.447 minutes", "2025-09-30_CustomBatching", "cooldown 0.5 → 0.4")
R40 = Provenance("40", "10/04/25", "2.358 minutes", "2025-10-04_Backout", "cooldown 0.4 → 0.45")
R42 = Provenance("42", "10/27/25", "2.313 minutes", "2025-10-27_FixMuonLR", "cooldown 0.45 → 0.5")
R46 = Provenance("46", "11/29/25", "2.203 minutes", "2025-11-29_BatchSizeSchedule", "cooldown 0.5 → 0.55")


@ingredient(name="longer_cooldown", summary="lr cooldown over the last 55% of the run (records: 0.3 … 0.55)",
            category="schedule", provenance=(R26, R31, R39, R40, R42, R46), requires=("stable_cooldown",),
            refines=("stable_cooldown",), options={"frac": 0.55}, doc=__doc__)
def INGREDIENT(spec, frac):
    if not 0 < frac <= 1:
        raise ValueError(f"longer_cooldown: frac must be in (0, 1], got {frac}")
    return spec.set("schedule.lr.cooldown_frac", float(frac))
