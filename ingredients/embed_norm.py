"""A norm right after the token embedding.

What: x0 = norm(embed(tokens)) before block 0. Where from: #8 (with the untied head).
Requires: nothing. Math: changes it.
"""

from ingredients._records import R8
from remix.ingredient import ingredient


@ingredient(name="embed_norm", summary="normalise the token embedding before block 0", category="architecture",
            provenance=R8, doc=__doc__)
def INGREDIENT(spec):
    return spec.set("model.embed_norm", True)
