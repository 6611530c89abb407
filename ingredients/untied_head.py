"""Untie the embedding from the LM head.

What: a separate embedding table (the data's 50,257 rows, N(0, 1) init: nn.Embedding's default) and
a head of its own, zero-initialised, so the first logits are all equal. Dropping this ingredient
re-ties them. Where from: #8. Requires: nothing. Math: changes it (38.6M more parameters in GPT-2 small).
"""

from ingredients._records import R8
from remix.ingredient import ingredient
from remix.spec import C


@ingredient(name="untied_head", summary="separate embedding (N(0,1)) and zero-init head", category="architecture",
            provenance=R8, refines=("default_linear_init",), doc=__doc__)
def INGREDIENT(spec):
    return (spec.set("model.tie_embeddings", False)
                .set("model.init.embed", C("normal", std=1.0))
                .set("model.init.head", C("zero")))
