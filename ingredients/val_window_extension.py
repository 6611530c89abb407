"""Final validation with longer windows than training ever used.

What: at the last validation only, long-window layers attend over `long` blocks (20 = 2,560 tokens) and
short ones over `short` (6), while training stopped at 11 (13 with extension steps); intermediate
validations keep the training windows. Where from: #31 (09/10/25, 2.656 min, 2025-09-10_Yarn: all
layers 13/6), #33 (layer 11 alone at 20 — not reproduced: remix has two window classes), #35
(09/21/25, 2.527 min, 2025-09-21_DropAttn: long layers 20, short 6; kept through #89).
Requires: window_stages. Math: changes the evaluated model (an evaluation-protocol change).
"""

from ingredients.window_stages import WindowStagesConfig  # noqa: F401  (the component it refines)
from remix.ingredient import Provenance, ingredient

R31 = Provenance("31", "09/10/25", "2.656 minutes", "2025-09-10_Yarn", "final validation at 13 blocks")
R35 = Provenance("35", "09/21/25", "2.527 minutes", "2025-09-21_DropAttn", "final validation: long 20, short 6")


@ingredient(name="val_window_extension", summary="the final validation looks 20 blocks back (short layers 6)",
            category="schedule", provenance=(R31, R35), options={"long": 20, "short": 6},
            requires=("window_stages",), doc=__doc__)
def INGREDIENT(spec, long, short):
    return spec.set("schedule.state.windows.final", (long, short))
