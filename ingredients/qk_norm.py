"""QK-norm: parameter-free RMSNorm on each head's queries and keys.

What: q and k are normalised per head before the attention logits. Where from: #5 applied it after
RoPE; #14 moved it before RoPE, which is what A and M do (option `position`: before_rope | after_rope).
Requires: nothing (without RoPE the two positions are the same). Math: changes it.
"""

from ingredients._records import R5, R14
from remix.ingredient import ingredient
from remix.registry import RegistryError


@ingredient(name="qk_norm", summary="RMSNorm on queries and keys", category="architecture",
            provenance=(R5, R14), options={"position": "before_rope"}, doc=__doc__)
def INGREDIENT(spec, position):
    if position not in ("before_rope", "after_rope"):
        raise RegistryError(f"qk_norm option 'position' must be before_rope or after_rope, got {position!r}")
    return spec.set("model.qk_norm", position)
