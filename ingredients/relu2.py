"""ReLU² activation in the MLP: relu(x)².

Where from: #5 (replacing GELU). Requires: nothing. Math: changes it.
"""

import torch
from torch import nn

from ingredients._records import R5
from remix.slots import ACTIVATIONS
from remix.ingredient import ingredient
from remix.spec import C


class ReLUSquared(nn.Module):
    def forward(self, x):
        return torch.relu(x).square()


@ACTIVATIONS.register("relu2")
def relu2(cfg) -> nn.Module:
    return ReLUSquared()


@ingredient(name="relu2", summary="ReLU² instead of GELU in the MLP", category="architecture", provenance=R5,
            doc=__doc__)
def INGREDIENT(spec):
    return spec.set("model.activation", C("relu2"))
