"""No attention in layer 0; with drop_first_mlp (#30, as in the record) layer 0 is empty.

What: adds 0 to the layer plan's `no_attention`. In #35 the MLP was already gone (#30), so layer 0 did
nothing and the forward started at layer 1: its x0 mix, a value embedding listed for it and its U-net
push are unused. remix's parts read the plan and do the same for an empty layer: x0 mixing skips it and
the U-net pairs become 5→6, 4→7, 3→8, 2→9, 1→10 (layer 11 receives none), as in #35; value embeddings
still listed for layer 0 are not read there (#36 then dropped that entry: value_embeds' layout option).
Records from #49 on deleted the empty layer (11 layers, same math): their layer j is layer j + 1 here.
Where from: #35 (09/21/25, 2.527 min, 2025-09-21_DropAttn). One ingredient per record change: see
skip_attention_7. Requires: nothing (drop_first_mlp makes it #35's empty layer). Math: changes it.
"""

from ingredients._drops import drop
from remix.ingredient import Provenance, ingredient

R35 = Provenance("35", "09/21/25", "2.527 minutes", "2025-09-21_DropAttn", "no attention in layer 0 (layer 0 empty)")


@ingredient(name="drop_first_attention", summary="layer 0 has no attention (empty, with drop_first_mlp)",
            category="architecture", provenance=R35, refines=("skip_attention_7",), doc=__doc__)
def INGREDIENT(spec):
    return drop(spec, "no_attention", (0,), "drop_first_attention")
