"""PyTorch's default nn.Linear init instead of GPT-2's N(0, 0.02).

What: every weight matrix (and a tied embedding table, which is the head's weight) starts at
U(±1/√fan_in), the Kaiming-uniform default of nn.Linear; later ingredients may set some of them
again (zero-init projections, the merged QKV's init, an untied head). In A this is the init of the
tied table and of the MLP's up-projection; in M of the MLP's up-projection.
Where from: #2 (commit 3e48a54c, "upgrade with rotary embeddings", removed GPT-2's N(0, 0.02)
`_init_weights`); the remixed baselines keep the default. Requires: nothing. Math: changes it (init).
"""

from ingredients._records import R2
from remix.ingredient import ingredient
from remix.spec import C


@ingredient(name="default_linear_init", summary="U(±1/√fan_in) weights instead of N(0, 0.02)",
            category="architecture", provenance=R2, doc=__doc__)
def INGREDIENT(spec):
    for kind in ("embed", "head", "qkv", "attn_out", "mlp_up", "mlp_down"):
        spec = spec.set(f"model.init.{kind}", C("torch_default"))
    return spec
