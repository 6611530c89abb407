"""Sparse attention gate: each head's output is scaled by a sigmoid gate read from the attention's input.

What: in every attention layer (option `layers`: None = all of the plan's), per token and head h,
y_h ← σ(W_g·x[:12])_h·y_h, with x the layer's (normed) attention input, y_h head h's output of the
attention kernel (before the heads are joined and W_O), W_g (n_head × 12) per layer, zero-init (every
gate 0.5 at init). 12 = 768/64 (option `width`). Parameters: one (attention layers, n_head, width) tensor,
role `gate.attn`. Where it trains (option `optimizer`):
  * "muon" (#28–#55): with the block matrices (each layer's 6×12 matrix orthogonalised on its own;
    shape factor 1); the records' later NorMuon (#41+) is not modelled: remix's Muon group stands in;
  * "adam" (#56+, the default): an Adam group "attn_gate", lr 0.008, betas (0.65, 0.95), eps 1e-8, no
    decay (#56 also had cautious weight decay 0.005 and odd-step updates, not modelled; #57 moved the
    betas to (0.9, 0.99) and eps to 1e-10: set optim.attn_gate).
Without a Muon group in the spec (before `muon`), "muon" leaves the gate with the spec's `gate` group.
Where from: #28 (08/23/25, 2.812 min, 2025-08-23_SparseAttnGate; Muon lr 0.05), #56 (12/31/25, 1.894 min,
2025-12-31_GatesToCompiledAdam; the gates as one Adam-trained bank). Requires: nothing. Order: reads the
attention input after every other part changed it (part order 90). Math: changes it.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ingredients._topology import attention_layers, gate_width, own_adam_group, to_muon
from remix.ingredient import Provenance, ingredient
from remix.model.parts import LayerSet, Part
from remix.model.roles import declare
from remix.slots import PARTS
from remix.spec import C

R28 = Provenance("28", "08/23/25", "2.812 minutes", "2025-08-23_SparseAttnGate", "per-head sigmoid gate, Muon")
R56 = Provenance("56", "12/31/25", "1.894 minutes", "2025-12-31_GatesToCompiledAdam", "gates trained by Adam")

OPTIMIZERS = ("muon", "adam")


@dataclass(frozen=True)
class AttnGateConfig:
    width: "int" = 12
    layers: "tuple[int, ...] | None" = None   # None: every attention layer
    optimizer: "str" = "adam"

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")


class AttnGate(Part):
    order = 90   # reads the attention input last

    def __init__(self, cfg: AttnGateConfig, model, name: str):
        super().__init__()
        self.key = name
        self.width = gate_width(model, cfg.width, "sparse_attn_gate")
        attention = attention_layers(model)
        where = LayerSet(attention if cfg.layers is None else cfg.layers, model.n_layer, "sparse_attn_gate")
        self.slot = {layer: s for s, layer in enumerate(i for i in attention if i in where)}
        if not self.slot:
            raise ValueError("sparse_attn_gate: none of its layers has attention")
        self.weight = nn.Parameter(torch.empty(len(self.slot), model.n_head, self.width))
        declare(self, weight="gate.attn")

    def reset_parameters(self):
        with torch.no_grad():
            self.weight.zero_()

    def attaches(self, hook, layer):
        return layer in self.slot

    def attn_in(self, i, x, ctx):
        ctx.saved[self.key] = x[..., :self.width]
        return x

    def heads(self, i, y, ctx):
        u = ctx.saved[self.key]
        g = torch.sigmoid(F.linear(u, self.weight[self.slot[i]].type_as(u)))   # (B, T, heads)
        return g.unsqueeze(-1).type_as(y) * y


@PARTS.register("attn_gate", config=AttnGateConfig)
def attn_gate(cfg: AttnGateConfig, model, name: str) -> Part:
    return AttnGate(cfg, model, name)


@ingredient(name="sparse_attn_gate", summary="per-head sigmoid gate σ(W·x[:12]) on the attention output",
            category="architecture", provenance=(R28, R56), options=AttnGateConfig, refines=("muon",), doc=__doc__)
def INGREDIENT(spec, width, layers, optimizer):
    spec = spec.set("model.parts.sparse_attn_gate", C("attn_gate", width=width, layers=layers, optimizer=optimizer))
    if optimizer == "muon":
        return to_muon(spec, "gate.attn")
    return own_adam_group(spec, "attn_gate", "gate.attn", 0.008, (0.65, 0.95))
