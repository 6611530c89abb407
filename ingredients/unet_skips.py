"""U-net skips: a later layer's input receives an earlier layer's output, through a learned weight or gate.

What: for each pair (s → d), the stream leaving layer s is kept, and before layer d runs
x ← x + g·h_s, where g is (option `form`):
  * "weight"  (#11): g = w, a learned scalar per pair, init 1 (`init`);
  * "sigmoid" (#32): g = σ(s), s init −1.5 (σ ≈ 0.182);
  * "input_gated" (#55): g = σ(s)·2σ(w·x0[:12]) per token, w ∈ R^{1×12} zero-init (so g = σ(s) at init),
    x0 the normed (smeared) embedding.
The skip is added before the layer's x0 mix (part order 10, x0 mixing 20): a decoder layer starts from
a·(x + g·h_s) + b·x0, as in the records.
Pairs (option `pairs`): None = the U-net of the layer plan: the non-empty layers of the first half
(i < n_layer/2) are the encoder, and the decoder layers n_layer/2, n_layer/2 + 1, … receive them last-in
first-out. With 12 layers that is 5→6, 4→7, 3→8, 2→9, 1→10, 0→11 (#11–#34; the first pair gives layer 6
(1 + w)·x at init), and with layer 0 emptied (#35, drop_first_attention + drop_first_mlp) 5→6, 4→7, 3→8,
2→9, 1→10, layer 11 receiving none. An explicit list of [source, destination] pairs replaces it: #45 and
#49 keep the single skip [[4, 7]] (12-layer indices; the 11-layer scripts from #49 on say 3 → 6).
Parameters: the pairs' scalars (n_pairs,), role `scalar.skip` (the scalar Adam group: lr 0.04, as the
records' `scalars`); the #55 gate w (n_pairs, 12), role `gate.skip`, in an Adam group of its own
("skip_gate": lr 0.008·0.05 = 0.0004, betas (0.65, 0.95), eps 1e-8, no decay, as #55; #57 moved its betas
to (0.9, 0.99) and its eps to 1e-10: set optim.skip_gate).
Which record used what: #11 (11/10/24, 7.2 min, 2024-11-10_UNetDoubleLr) form "weight", U-net pairs (record
21 uses this unchanged: 6 weights, init 1); #32 (09/11/25, 2.625 min, 2025-09-11_VectSigmoidBFloat16)
"sigmoid", init −1.5; #35 (09/21/25, 2.527 min, 2025-09-21_DropAttn) pairs re-paired by the plan; #45
(11/18/25, 2.248 min, 2025-11-18_RefineSkip) pairs [[4, 7]] (a long-window layer into the layer without
attention), #49 (12/14/25, 2.146 min, 2025-12-14_PartialKeyOffset) the same in 11 layers; #55 (12/29/25,
1.918 min, 2025-12-29_VeSkipGates) "input_gated". Not here: #73/#74/#77 take the source from inside layer 3
(hyper-connections).
Defaults: record 21's form (#11's, kept through #31), which the record_21 recipe builds on; the later forms
are options.
Requires: nothing; the U-net pairs need an even number of layers. Math: changes it.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ingredients._topology import active_layers, gate_width, own_adam_group
from remix.ingredient import Provenance, ingredient
from remix.model.parts import Part
from remix.model.roles import declare
from remix.slots import PARTS
from remix.spec import C

R11 = Provenance("11", "11/10/24", "7.2 minutes", "2024-11-10_UNetDoubleLr", "U-net skips, weights init 1")
R32 = Provenance("32", "09/11/25", "2.625 minutes", "2025-09-11_VectSigmoidBFloat16", "sigmoid skip gates, init −1.5")
R35 = Provenance("35", "09/21/25", "2.527 minutes", "2025-09-21_DropAttn", "pairs follow the empty layer 0")
R45 = Provenance("45", "11/18/25", "2.248 minutes", "2025-11-18_RefineSkip", "a single skip 4 → 7")
R49 = Provenance("49", "12/14/25", "2.146 minutes", "2025-12-14_PartialKeyOffset", "11 layers: the skip is 3 → 6")
R55 = Provenance("55", "12/29/25", "1.918 minutes", "2025-12-29_VeSkipGates", "input-dependent skip gate")

FORMS = ("weight", "sigmoid", "input_gated")


@dataclass(frozen=True)
class UNetConfig:
    form: "str" = "weight"
    init: "float | None" = None                      # the pairs' scalars; None: 1.0 for weight, −1.5 for the gates
    pairs: "tuple[tuple[int, int], ...] | None" = None   # None: the U-net of the layer plan
    gate_width: "int" = 12                           # channels of x0 the input gate reads

    def __post_init__(self):
        if self.form not in FORMS:
            raise ValueError(f"form must be one of {', '.join(FORMS)}, got {self.form!r}")
        for pair in self.pairs or ():
            if len(pair) != 2 or not pair[0] < pair[1]:
                raise ValueError(f"a pair is [source, destination] with source < destination, got {list(pair)}")


def unet_pairs(model) -> list[tuple[int, int]]:
    """(source, destination) of the U-net over the layer plan: encoder layers pushed, decoder layers pop."""
    n = model.n_layer
    if n % 2:
        raise ValueError(f"unet_skips: U-net pairs need an even number of layers, got {n}")
    half = n // 2
    encoder = [i for i in active_layers(model) if i < half]
    return list(zip(reversed(encoder), range(half, n)))


class UNetSkips(Part):
    order = 10   # the skip is added before the x0 mix (20); the push sees the layer's own output

    def __init__(self, cfg: UNetConfig, model, name: str):
        super().__init__()
        self.cfg, self.key = cfg, name
        pairs = unet_pairs(model) if cfg.pairs is None else [tuple(p) for p in cfg.pairs]
        for s, d in pairs:
            if not 0 <= s < d < model.n_layer:
                raise ValueError(f"unet_skips: pair {s} → {d} is outside layers 0..{model.n_layer - 1}")
        if len({d for _, d in pairs}) < len(pairs):
            raise ValueError(f"unet_skips: a layer receives two skips in {pairs}")
        self.source_of = {d: s for s, d in pairs}
        self.slot = {d: k for k, (_, d) in enumerate(pairs)}
        self.sources = frozenset(s for s, _ in pairs)
        self.lambdas = nn.Parameter(torch.empty(len(pairs)))
        declare(self, lambdas="scalar.skip")
        if cfg.form == "input_gated":
            self.width = gate_width(model, cfg.gate_width, "unet_skips")
            self.gate = nn.Parameter(torch.empty(len(pairs), self.width))
            declare(self, gate="gate.skip")

    def reset_parameters(self):
        init = self.cfg.init if self.cfg.init is not None else (1.0 if self.cfg.form == "weight" else -1.5)
        with torch.no_grad():
            self.lambdas.fill_(init)
            if self.cfg.form == "input_gated":
                self.gate.zero_()

    def attaches(self, hook, layer):
        return layer in self.source_of if hook == "before_layer" else layer in self.sources

    def after_layer(self, i, x, ctx):
        ctx.saved[f"{self.key}.{i}"] = x
        return x

    def before_layer(self, i, x, ctx):
        k = self.slot[i]
        skip = ctx.saved[f"{self.key}.{self.source_of[i]}"]
        if self.cfg.form == "weight":
            return x + self.lambdas[k] * skip
        g = torch.sigmoid(self.lambdas[k])
        if self.cfg.form == "input_gated":
            x0 = ctx.x0[..., :self.width]
            skip = 2 * torch.sigmoid(F.linear(x0, self.gate[k:k + 1].type_as(x0))) * skip
        return x + g * skip


@PARTS.register("unet", config=UNetConfig)
def unet(cfg: UNetConfig, model, name: str) -> Part:
    return UNetSkips(cfg, model, name)


@ingredient(name="unet_skips", summary="U-net skips from encoder to decoder layers (weights, sigmoid or input gates)",
            category="architecture", provenance=(R11, R32, R35, R45, R49, R55), options=UNetConfig, doc=__doc__)
def INGREDIENT(spec, form, init, pairs, gate_width):
    spec = spec.set("model.parts.unet_skips", C("unet", form=form, init=init, pairs=pairs, gate_width=gate_width))
    if form == "input_gated":
        spec = own_adam_group(spec, "skip_gate", "gate.skip", 0.008 * 0.05, (0.65, 0.95))
    return spec
