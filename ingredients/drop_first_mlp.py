"""No MLP in layer 0: the first layer is attention only.

What: adds 0 to the layer plan's `no_mlp` (the record's skip list read [0, 12]; 12 is no layer). Layer 0
keeps its attention (and value embedding, if any).
Where from: #30 (09/05/25, 2.717 min, 2025-09-05_SkipMLPBlocks; scheduled steps 1670 → 1705). With
drop_first_attention (#35) the layer is empty. One ingredient per record change: see skip_attention_7.
Requires: nothing. Math: changes it.
"""

from ingredients._drops import drop
from remix.ingredient import Provenance, ingredient

R30 = Provenance("30", "09/05/25", "2.717 minutes", "2025-09-05_SkipMLPBlocks", "no MLP in layer 0")


@ingredient(name="drop_first_mlp", summary="layer 0 has no MLP (attention only)", category="architecture",
            provenance=R30, doc=__doc__)
def INGREDIENT(spec):
    return drop(spec, "no_mlp", (0,), "drop_first_mlp")
