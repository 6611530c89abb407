"""Smear: each token's raw embedding takes in a gated share of the previous token's.

What: on the raw token embedding e (before the embedding norm, so x0 = norm(smeared e)), along each row:
e_t ← e_t + λ·σ(w·e_t[:12])·e_{t−1} for t ≥ 1, e_0 unchanged. The gate reads the current token's first
12 channels (option `width`). No document masking: a BOS token takes in the previous document's last
token, in training and evaluation, as the records. w ∈ R^{1×12} zero-init, role `gate.smear`; λ a scalar,
init 0 (smear is off at init, and w gets no gradient until λ moves), role `scalar.smear` (the scalar Adam
group, lr 0.04). Where w trains (option `optimizer`):
  * "muon" (#34–#51): with the block matrices (a 1×12 matrix; the records' NorMuon from #41 on is not
    modelled: remix's Muon group stands in);
  * "adam" (#52+, the default): an Adam group "smear_gate", lr 0.008 × 0.01 = 8e-5, betas (0.65, 0.95),
    eps 1e-8, no decay (#57 moved the betas to (0.9, 0.99) and eps to 1e-10: set optim.smear_gate).
Without a Muon group in the spec, "muon" leaves w with the spec's `gate` group.
Where from: #34 (09/18/25, 2.547 min, 2025-09-18_Smear), #52 (12/21/25, 2.037 min, 2025-12-21_SmoothedScalars:
w to Adam). The records' rows are one per device; here every row of a batch is smeared on its own.
Requires: nothing. Math: changes it.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ingredients._topology import gate_width, own_adam_group, to_muon
from remix.ingredient import Provenance, ingredient
from remix.model.parts import Part
from remix.model.roles import declare
from remix.slots import PARTS
from remix.spec import C

R34 = Provenance("34", "09/18/25", "2.547 minutes", "2025-09-18_Smear", "smear the previous token's embedding in")
R52 = Provenance("52", "12/21/25", "2.037 minutes", "2025-12-21_SmoothedScalars", "smear gate trained by Adam")

OPTIMIZERS = ("muon", "adam")


@dataclass(frozen=True)
class SmearConfig:
    width: "int" = 12
    optimizer: "str" = "adam"

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")


class Smear(Part):
    def __init__(self, cfg: SmearConfig, model, name: str):
        super().__init__()
        self.width = gate_width(model, cfg.width, "smear")
        self.gate = nn.Parameter(torch.empty(1, self.width))
        self.lam = nn.Parameter(torch.empty(()))
        declare(self, gate="gate.smear", lam="scalar.smear")

    def reset_parameters(self):
        with torch.no_grad():
            self.gate.zero_()
            self.lam.zero_()

    def embed(self, e, ctx):
        cur, prev = e[:, 1:], e[:, :-1]
        g = torch.sigmoid(F.linear(cur[..., :self.width], self.gate.type_as(e)))   # (B, T−1, 1)
        return torch.cat((e[:, :1], cur + self.lam * g * prev), dim=1)


@PARTS.register("smear", config=SmearConfig)
def smear(cfg: SmearConfig, model, name: str) -> Part:
    return Smear(cfg, model, name)


@ingredient(name="smear", summary="e_t ← e_t + λ·σ(w·e_t[:12])·e_{t−1} on the raw embedding (λ from 0)",
            category="architecture", provenance=(R34, R52), options=SmearConfig, refines=("muon",), doc=__doc__)
def INGREDIENT(spec, width, optimizer):
    spec = spec.set("model.parts.smear", C("smear", width=width, optimizer=optimizer))
    if optimizer == "muon":
        return to_muon(spec, "gate.smear")
    return own_adam_group(spec, "smear_gate", "gate.smear", 0.008 * 0.01, (0.65, 0.95))
