"""The MLP slot (model.mlp) and activations (model.activation): the base's up -> GELU -> down."""

from __future__ import annotations

from torch import nn

from remix.model.roles import Linear
from remix.slots import ACTIVATIONS, MLPS, build


class MLP(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.up = Linear(model.d_model, model.mlp_hidden, bias=model.bias, role="matrix.mlp.up")
        self.act = build(ACTIVATIONS, model.activation)
        self.down = Linear(model.mlp_hidden, model.d_model, bias=model.bias, role="matrix.mlp.down")

    def forward(self, x):
        return self.down(self.act(self.up(x)))

    def init_weights(self, init) -> None:
        init(self.up.weight, "mlp_up")
        init(self.down.weight, "mlp_down")


@MLPS.register("mlp")
def mlp(cfg, model) -> nn.Module:
    return MLP(model)


@ACTIVATIONS.register("gelu_tanh")
def gelu_tanh(cfg) -> nn.Module:
    return nn.GELU(approximate="tanh")
