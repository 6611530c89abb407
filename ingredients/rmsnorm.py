"""RMSNorm without a learnable scale, in place of LayerNorm.

What: every norm (before attention, before the MLP, final, and the embedding norm if present)
becomes x / rms(x) over the last dimension, with no gain and no bias; eps is PyTorch's default for
the dtype. Where from: the speedrun's first script (#2 era, a modified llm.c trainer) already used it.
Requires: nothing. Math: changes it (LayerNorm also centres, and has a gain and a bias).
"""

from torch import nn

from ingredients._records import R2
from remix.slots import NORMS
from remix.ingredient import ingredient
from remix.model.norms import rms_norm
from remix.spec import C


class RMSNorm(nn.Module):
    def forward(self, x):
        return rms_norm(x)


@NORMS.register("rms")
def rms(cfg, dim: int, bias: bool) -> nn.Module:
    return RMSNorm()


@ingredient(name="rmsnorm", summary="parameter-free RMSNorm instead of LayerNorm", category="architecture",
            provenance=R2, doc=__doc__)
def INGREDIENT(spec):
    return spec.set("model.norm", C("rms"))
