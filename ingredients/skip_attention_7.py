"""No attention in layer 7: the layer keeps its MLP (and its x0 mix) but has no q, k, v, out projection,
value embedding or attention lambdas.

What: adds 7 to the layer plan's `no_attention` (12-layer index; the 11-layer scripts from #49 on call it
layer 6), so the model has 11 attention layers and 12 MLPs. Layer 7 is among the layers without a value
embedding; the long/short pattern still names it long, unused.
Where from: #17 (12/17/24, 3.57 min, 2024-12-17_SparsifyEmbeds, "drop an attention layer"); kept by every
later record (record 21 has it).
Why three ingredients (this one, drop_first_mlp, drop_first_attention) rather than one with options: each
is one record's change to the plan, made on top of the previous one (#17, then #30, then #35), so each can
be added or left out of a recipe on its own and `--prefixes` prices each; they add to the plan, never
replace it.
Requires: nothing (a model of at least 8 layers). Math: changes it.
"""

from ingredients._drops import drop
from remix.ingredient import Provenance, ingredient

R17 = Provenance("17", "12/17/24", "3.57 minutes", "2024-12-17_SparsifyEmbeds", "no attention in layer 7")


@ingredient(name="skip_attention_7", summary="layer 7 has no attention (its MLP stays)", category="architecture",
            provenance=R17, doc=__doc__)
def INGREDIENT(spec):
    return drop(spec, "no_attention", (7,), "skip_attention_7")
