"""PyTorch's default nn.Linear init instead of GPT-2's N(0, 0.02).

What: every weight matrix (and a tied embedding table, which is the head's weight) starts at
U(±1/√fan_in), the Kaiming-uniform default of nn.Linear; later ingredients may set some of them
again (zero-init projections, the merged QKV's init, an untied head). In A this is the init of the
tied table and of the MLP's up-projection; in M of the MLP's up-projection.
Where from: the speedrun's scripts left GPT-2's `_init_weights` behind early on (the #4/#5 logs have
no custom init); the remixed baselines keep the default. Requires: nothing. Math: changes it (init).
"""

from ingredients._records import R5
from remix.ingredient import ingredient
from remix.spec import C


@ingredient(name="default_linear_init", summary="U(±1/√fan_in) weights instead of N(0, 0.02)",
            category="architecture", provenance=R5, doc=__doc__)
def INGREDIENT(spec):
    for kind in ("embed", "head", "qkv", "attn_out", "mlp_up", "mlp_down"):
        spec = spec.set(f"model.init.{kind}", C("torch_default"))
    return spec
