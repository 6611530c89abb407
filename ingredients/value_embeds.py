"""Value embeddings: token-indexed tables whose rows are mixed into the values of chosen attention layers.

What: a value embedding is a table (rows × n_head·head_dim) looked up with the input tokens; its row,
split per head like v, enters attention layer i's v right after the q, k, v projections (v is neither
normed nor rotated, so its place relative to QK-norm and positions does not matter).
Layout (options `layers`, `tables`: layer `layers[j]` reads table `tables[j]`; tables may repeat), 12-layer
indices (records from #49 on have 11 layers: their j is j + 1 here):
  * #14: layers 0–11, tables 0–11 (one table per layer; #14 stored them as one wide table, same math);
  * #15/#16: layers 0–11, tables 0 1 2 3 4 5 5 4 3 2 1 0 (mirrored "U-net" of 6);
  * #17–#35 and record 21 (the default): layers 0 1 2 9 10 11, tables 0 1 2 0 1 2;
  * #36–#62: layers 1 2 9 10 11, tables 1 2 0 1 2 (layer 0 empty since #35);
  * #63–#69: layers 1 2 9 10 11, tables 0 1 2 3 4 (untied; #65 fused them into one parameter, same math);
  * #70+: layers 2 3 9 10 11, tables 0 1 2 3 4.
Tables: N(0, init_std²) (option `init_std`: 1.0, nn.Embedding's default, #14–#48; 0 = zeros #49–#69; 0.01
#70); rows = the data's vocabulary (`padded` false: 50,257, #14–#25 and record 21) or the head's padded
rows (`padded` true: 50,304, #26+). Role `embed.value`: A/M's adam_groups trains every `embed.*` with the
token embedding (lr 0.6), as record 21 does.
Mixing (option `mix`), per attention layer (λ0, λ1) (option `lambda_init`; None = (0.5, 0.5), or
(0.5, 1.0) for "output"), role `scalar.lambda.value` (the scalar Adam group, lr 0.04 as the records):
  * "interpolate" (#14): v ← (1 − λ)·v + λ·ve, one λ per layer, init lambda_init[1];
  * "lambdas" (#15–#46, record 21, the default): v ← λ0·v + λ1·ve; attention layers without a table
    v ← λ0·v (their λ1 gets no gradient);
  * "weights" (#47): λ0 multiplies all of W_qkv (here q, k and v after the projection: the same product),
    then v ← v + λ1·ve; q and k are normed right after, so this equals "lambdas" up to the norm's eps
    (with QK-norm, which every record from #5 has);
  * "output" (#48+): q, k, v as "weights", v ← v + ve (no λ on ve) and λ1 multiplies the output
    projection W_O (here the heads' output before it: the same product) in every attention layer.
Gates (option `gate`, #55+, on top of the mix, ve ← g⊙ve per head): g_h = 2σ(W_g·u)_h, W_g (n_head ×
12) per layer with a table, zero-init (g = 1 at init), u = the attention's (normed) input x[:12] ("x",
#55) or [x[:6], ve[:6]] ("x_ve", #70; the layers in `gate_x_layers` keep x[:12]: #70's paired-head
layers 3 and 10). Role `gate.value`; `gate_optimizer` "muon" trains it with the block matrices (#55 used
NorMuon, lr 0.023, cautious wd: remix's Muon group stands in) or "adam" (#56, the default): an Adam group
"value_gate", lr 0.008, betas (0.65, 0.95), eps 1e-8, no decay (#56 had cautious wd 0.005 and odd-step
updates, not modelled; #57 moved betas to (0.9, 0.99), eps 1e-10: set optim.value_gate).
Where from: #14 (12/04/24, 4.41 min, 2024-12-04_ValueEmbed), #15 (12/08/24, 3.95 min,
2024-12-08_UNetValueEmbedsTweaks), #16 (12/10/24, 3.80 min, 2024-12-10_MFUTweaks: separate tables, same math
as #15), #17 (12/17/24, 3.57 min, 2024-12-17_SparsifyEmbeds), #36 (09/23/25, 2.495 min,
2025-09-23_MuonCustomSizing), #47 (12/10/25, 2.193 min, 2025-12-10_SALambdaOnWeights), #48 (12/11/25, 2.170
min, 2025-12-11_NorMuonOptimsAndFixes), #49 (12/14/25, 2.146 min, zero init), #55 (12/29/25, 1.918 min,
2025-12-29_VeSkipGates), #56 (12/31/25, 1.894 min, 2025-12-31_GatesToCompiledAdam), #63 (01/26/26, 1.650 min,
2026-01-26-UntieValueEmbeddings), #70 (02/03/26, 1.521 min, 2026-02-03_VeTuned).
Defaults = record 21 exactly: 3 tables of 50,257 rows, N(0, 1), layers 0 1 2 9 10 11, "lambdas" (0.5, 0.5),
no gate (the form the records kept longest, #17–#46, and the one the record_21 recipe builds on; later
forms are options). Its tables are bf16 and its lambdas fp32: the precision ingredient's business.
Requires: nothing. Order: the mix runs after value_residual keeps the first layer's v (part order 40).
Math: changes it (#16 and #65 are same-math refactors of the forms here; "weights" equals "lambdas" up to
QK-norm's eps).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ingredients._topology import attention_layers, gate_width, own_adam_group, to_muon
from remix.ingredient import Provenance, ingredient
from remix.model.head import padded_vocab
from remix.model.parts import Part
from remix.model.roles import declare
from remix.slots import PARTS
from remix.spec import C

R14 = Provenance("14", "12/04/24", "4.41 minutes", "2024-12-04_ValueEmbed",
                 "a value embedding per layer, v ← (1−λ)v + λ·ve")
R15 = Provenance("15", "12/08/24", "3.95 minutes", "2024-12-08_UNetValueEmbedsTweaks",
                 "6 mirrored tables, v ← λ0·v + λ1·ve")
R17 = Provenance("17", "12/17/24", "3.57 minutes", "2024-12-17_SparsifyEmbeds", "3 tables at layers 0-2 and 9-11")
R36 = Provenance("36", "09/23/25", "2.495 minutes", "2025-09-23_MuonCustomSizing", "no table at the empty layer 0")
R47 = Provenance("47", "12/10/25", "2.193 minutes", "2025-12-10_SALambdaOnWeights", "λ0 on W_qkv")
R48 = Provenance("48", "12/11/25", "2.170 minutes", "2025-12-11_NorMuonOptimsAndFixes", "ve without λ, λ1 on W_O")
R49 = Provenance("49", "12/14/25", "2.146 minutes", "2025-12-14_PartialKeyOffset", "tables start at zero")
R55 = Provenance("55", "12/29/25", "1.918 minutes", "2025-12-29_VeSkipGates", "per-head value-embedding gates")
R56 = Provenance("56", "12/31/25", "1.894 minutes", "2025-12-31_GatesToCompiledAdam", "gates trained by Adam")
R63 = Provenance("63", "01/26/26", "1.650 minutes", "2026-01-26-UntieValueEmbeddings", "5 untied tables")
R70 = Provenance("70", "02/03/26", "1.521 minutes", "2026-02-03_VeTuned",
                 "layers 2 3 9 10 11, N(0, 0.01²), gate reads ve")

MIXES = ("interpolate", "lambdas", "weights", "output")
GATES = ("none", "x", "x_ve")
GATE_OPTIMIZERS = ("muon", "adam")


@dataclass(frozen=True)
class ValueEmbedConfig:
    layers: "tuple[int, ...]" = (0, 1, 2, 9, 10, 11)
    tables: "tuple[int, ...]" = (0, 1, 2, 0, 1, 2)    # the table each of `layers` reads
    init_std: "float" = 1.0                           # N(0, std²); 0: zeros
    padded: "bool" = False                            # rows: the data's vocabulary, or the head's padded rows
    mix: "str" = "lambdas"
    lambda_init: "tuple[float, float] | None" = None  # None: (0.5, 0.5); (0.5, 1.0) for "output"
    gate: "str" = "none"
    gate_x_layers: "tuple[int, ...]" = ()             # with gate "x_ve": layers whose gate reads x[:12]
    gate_width: "int" = 12
    gate_optimizer: "str" = "adam"

    def __post_init__(self):
        if len(self.layers) != len(self.tables) or not self.layers:
            raise ValueError(f"layers and tables must name the same number of layers (at least one), got "
                             f"{list(self.layers)} and {list(self.tables)}")
        if len(set(self.layers)) < len(self.layers):
            raise ValueError(f"a layer is listed twice in {list(self.layers)}")
        if sorted(set(self.tables)) != list(range(max(self.tables) + 1)):
            raise ValueError(f"tables must be numbered 0, 1, … without gaps, got {list(self.tables)}")
        if self.init_std < 0:
            raise ValueError(f"init_std must be ≥ 0, got {self.init_std}")
        for what, value, allowed in (("mix", self.mix, MIXES), ("gate", self.gate, GATES),
                                     ("gate_optimizer", self.gate_optimizer, GATE_OPTIMIZERS)):
            if value not in allowed:
                raise ValueError(f"{what} must be one of {', '.join(allowed)}, got {value!r}")
        if self.lambda_init is not None and len(self.lambda_init) != 2:
            raise ValueError(f"lambda_init is (λ0, λ1), got {self.lambda_init}")
        if self.gate_width % 2:
            raise ValueError(f"gate_width must be even (half x, half ve for 'x_ve'), got {self.gate_width}")


class ValueEmbeds(Part):
    order = 40   # after value_residual (30) keeps the first layer's raw v

    def __init__(self, cfg: ValueEmbedConfig, model, name: str):
        super().__init__()
        self.cfg, self.key = cfg, name
        n = model.n_layer
        layers = [i % n if -n <= i < n else _missing(i, n) for i in cfg.layers]
        attention = attention_layers(model)
        self.row = {layer: r for r, layer in enumerate(attention)}    # λ rows: every attention layer
        self.table_of = {layer: t for layer, t in zip(layers, cfg.tables)}
        for t in sorted(set(cfg.tables)):
            if not any(self.table_of[layer] == t and layer in self.row for layer in layers):
                raise ValueError(f"value_embeds: table {t} is read only by layers without attention "
                                 f"({[layer for layer in layers if self.table_of[layer] == t]})")
        self.gate_slot = {layer: s for s, layer in enumerate(layer for layer in layers if layer in self.row)}
        self.n_head, self.head_dim = model.n_head, model.head_dim
        rows = padded_vocab(model) if cfg.padded else model.vocab_size
        width = model.n_head * model.head_dim
        self.tables = nn.ModuleList(nn.Embedding(rows, width) for _ in range(max(cfg.tables) + 1))
        for table in self.tables:
            declare(table, weight="embed.value")
        self.lambdas = nn.Parameter(torch.empty(len(attention), 1 if cfg.mix == "interpolate" else 2))
        declare(self, lambdas="scalar.lambda.value")
        if cfg.gate != "none":
            self.width = gate_width(model, cfg.gate_width, "value_embeds")
            self.gate = nn.Parameter(torch.empty(len(self.gate_slot), model.n_head, self.width))
            declare(self, gate="gate.value")
            self.x_only = frozenset(i % n for i in cfg.gate_x_layers)

    def reset_parameters(self):
        cfg = self.cfg
        lam = cfg.lambda_init or ((0.5, 1.0) if cfg.mix == "output" else (0.5, 0.5))
        with torch.no_grad():
            for table in self.tables:
                if cfg.init_std > 0:
                    nn.init.normal_(table.weight, 0.0, cfg.init_std)
                else:
                    nn.init.zeros_(table.weight)
            if cfg.mix == "interpolate":
                self.lambdas.fill_(lam[1])
            else:
                self.lambdas[:, 0] = lam[0]
                self.lambdas[:, 1] = lam[1]
            if cfg.gate != "none":
                self.gate.zero_()

    def attaches(self, hook, layer):
        if hook == "heads":
            return self.cfg.mix == "output" and layer in self.row
        if self.cfg.mix == "interpolate":
            return layer in self.table_of and layer in self.row
        return layer in self.row

    def lookup(self, t: int, ctx) -> torch.Tensor:
        """Table t's rows for the input tokens, looked up once per forward."""
        key = f"{self.key}.{t}"
        if key not in ctx.saved:
            ctx.saved[key] = self.tables[t](ctx.idx)
        return ctx.saved[key]

    def gated(self, i, ve, x):
        if self.cfg.gate == "none":
            return ve
        w = self.width
        u = x[..., :w] if self.cfg.gate == "x" or i in self.x_only else \
            torch.cat((x[..., :w // 2], ve[..., :w // 2].type_as(x)), dim=-1)
        g = 2 * torch.sigmoid(F.linear(u, self.gate[self.gate_slot[i]].type_as(u)))   # (B, T, heads)
        return g.unsqueeze(-1) * ve.view(*ve.shape[:-1], self.n_head, self.head_dim)

    def qkv(self, i, q, k, v, x, ctx):
        mix, lam = self.cfg.mix, self.lambdas[self.row[i]]
        if mix == "lambdas":
            v = lam[0] * v
        elif mix in ("weights", "output"):
            q, k, v = lam[0] * q, lam[0] * k, lam[0] * v
        if i not in self.table_of:
            return q, k, v
        ve = self.lookup(self.table_of[i], ctx)
        ve = self.gated(i, ve, x).view_as(v)
        if mix == "interpolate":
            return q, k, (1 - lam[0]) * v + lam[0] * ve
        if mix == "output":
            return q, k, v + ve
        return q, k, v + lam[1] * ve

    def heads(self, i, y, ctx):
        return self.lambdas[self.row[i], 1] * y


def _missing(i, n):
    raise ValueError(f"value_embeds: layer {i} does not exist in a model of {n} layers")


@PARTS.register("value_embeds", config=ValueEmbedConfig)
def value_embeds(cfg: ValueEmbedConfig, model, name: str) -> Part:
    return ValueEmbeds(cfg, model, name)


@ingredient(name="value_embeds", summary="token-indexed value tables mixed into v (3 tables at 0-2, 9-11 by default)",
            category="architecture", provenance=(R14, R15, R17, R36, R47, R48, R49, R55, R56, R63, R70),
            options=ValueEmbedConfig, refines=("muon",), doc=__doc__)
def INGREDIENT(spec, layers, tables, init_std, padded, mix, lambda_init, gate, gate_x_layers, gate_width,
               gate_optimizer):
    spec = spec.set("model.parts.value_embeds", C(
        "value_embeds", layers=layers, tables=tables, init_std=init_std, padded=padded, mix=mix,
        lambda_init=lambda_init, gate=gate, gate_x_layers=gate_x_layers, gate_width=gate_width,
        gate_optimizer=gate_optimizer))
    if gate != "none":
        spec = to_muon(spec, "gate.value") if gate_optimizer == "muon" else \
            own_adam_group(spec, "value_gate", "gate.value", 0.008, (0.65, 0.95))
    return spec
