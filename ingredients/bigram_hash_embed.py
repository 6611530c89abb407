"""Bigram hash embedding: a learned table indexed by a hash of (previous token, token), added to the
residual stream of every layer with a learned weight per layer.

What: with x the row's token ids and V_b the table's rows, id_0 = V_b − 1 (reserved) and, for t ≥ 1,
    id_t = ((36313·x_t) XOR (27191·x_{t−1})) mod (V_b − 1)
(document boundaries ignored, as in the records: a document's first token hashes with the previous
document's last). B = table[id] (rows, `width`·d wide; zero-initialised, so the model starts as without
it). With the sign trick (#83) a fixed table S ∈ {±1}^{signs × width·d} (signs of N(0, 1) draws from a
generator seeded 0; the record drew it unseeded and broadcast rank 0's, so its exact signs cannot be
reproduced), and B = table[id] ⊙ S[(x_{t−1} XOR x_t) mod signs] (row 0 of S at t = 0): bigrams that
share a row get independent signs. B fills the first width·d channels of the stream (zeros after);
`width` is a fraction of the model's width so that --scale tiny keeps the variant's shape.
Injection (option `inject`), with λ_i one learned number per layer (init `lambda_init`):
  * "layer_input" (#62): before layer i, x ← x + λ_i·B, after x0 mixing, so with it the records'
    x ← r_i·x + a_i·x0 + λ_i·B (at layer 0, where x = x0: (r_0 + a_0)·x + λ_0·B);
  * "attention_output" (#73, #74, #77 … #89, so #83): the first chosen layer gets λ·B in its input
    stream (before x0 mixing; #77+ add it to x0 before the loop), every later chosen layer adds λ_i·B
    with its attention's output (a layer without attention gets none, as #77+'s layer 6). Uses the
    `attn_out` hook.
Layers (option `layers`, 0-based in the 12-layer model): None = every layer. #62 injects into all 11
of its layers, which are layers 1–11 here: where layer 0 is the empty layer of #35–#48 (no attention,
no MLP), give layers 1–11 for the records' injections (with None it gets one more, before layer 0).
Parameters: the table, role `embed.bigram`, trained by Adam lr 0.6 (0.008 × 75), betas (0.75, 0.95)
in the records (cautious wd_mul 5 there; remix's Adam has no decay): where the spec has M's Adam
"embed" group this adds a group `bigram` with those values and that group's eps; the λ's, role
`scalar.bigram`: #62 kept them in the scalars (Adam lr 0.04, betas (0.9, 0.99)), i.e. M's
scalar group (option lambda_lr None); #77+ and #83 gave them their own Adam group lr 0.008, betas
(0.9, 0.95), no decay (option lambda_lr = 0.008 adds a group `bigram_lambda` like that).
Records: #62 (01/19/26, 1.655 min, 2026-01-19_BigramHashEmbedding): V_b = 5·50,304, width 768, no signs,
layer_input, λ init 0.1, hash computed in the CPU loader. #68 (01/31/26, 1.535 min,
2026-01-31-BigramHashH2D) moved the same hash into the compiled forward: identical ids, a systems
change only (this ingredient always hashes in the forward, as #68). #73/#74 λ init 0.05 with the
attention output. #83 (05/20/26, 1.328 min, 2026-05-20_BigramsSignTrick, pr299): V_b = 15·50,304, width
192 of 768, 8,192 sign rows, attention_output, λ init 0.05, lambda_lr 0.008 (options size = 15,
width = 0.25, signs = 8192, inject = "attention_output", lambda_init = 0.05, lambda_lr = 0.008). #85 v3:
V_b = 7.5·50,304 (377,280), width 768 with signs (its λ's replaced by MUDD gates: not here). Defaults: #62.
Sizes are multiples of the padded vocabulary (50,304 in M). Requires: nothing (x0 mixing for the
records' full injection form). Math: changes it (5 × 38.6M more parameters at #62's size).
"""

from dataclasses import dataclass, fields, replace

import torch
import torch.nn.functional as F
from torch import nn

from remix.ingredient import Provenance, ingredient
from remix.model.head import padded_vocab
from remix.model.parts import LayerSet, Part
from remix.model.roles import declare
from remix.slots import PARTS
from remix.spec import C, OptimGroup

R62 = Provenance("62", "01/19/26", "1.655 minutes", "2026-01-19_BigramHashEmbedding",
                 "5·50304 × 768 table, before every layer, λ 0.1")
R68 = Provenance("68", "01/31/26", "1.535 minutes", "2026-01-31-BigramHashH2D", "same hash on the GPU (systems)")
R83 = Provenance("83", "05/20/26", "1.328 minutes", "2026-05-20_BigramsSignTrick",
                 "sign trick: 15·50304 × 192 table, ±1 signs from 8192 rows, with the attention output, λ 0.05")
INJECTIONS = ("layer_input", "attention_output")
BIGRAM = "bigram.rows"   # ctx.saved: the (B, T, d) term, computed once per forward


@dataclass(frozen=True)
class BigramConfig:
    size: "float" = 5.0                 # table rows = size × padded vocabulary
    width: "float" = 1.0                # table width as a fraction of the model's (#83: 0.25 = 192/768)
    signs: "int" = 0                    # rows of the ±1 sign table; 0: no sign trick
    inject: "str" = "layer_input"
    lambda_init: "float" = 0.1
    layers: "tuple[int, ...] | None" = None

    def __post_init__(self):
        if self.size <= 0 or self.signs < 0 or not 0 < self.width <= 1:
            raise ValueError(f"expected size > 0, signs ≥ 0, 0 < width ≤ 1; got {self.size}, {self.signs}, {self.width}")
        if self.inject not in INJECTIONS:
            raise ValueError(f"inject must be one of {', '.join(INJECTIONS)}, got {self.inject!r}")


@dataclass(frozen=True)
class BigramOptions(BigramConfig):
    lambda_lr: "float | None" = None    # None: the λ's train with the scalars; else their own Adam group


def bigram_ids(idx: torch.Tensor, rows: int) -> torch.Tensor:
    """(B, T) token ids -> (B, T) table rows: the reserved last row at t = 0, the hash after."""
    mod = rows - 1
    pair = torch.bitwise_xor(36313 * idx[:, 1:], 27191 * idx[:, :-1]) % mod
    return torch.cat([torch.full_like(idx[:, :1], mod), pair], dim=1)


def sign_rows(idx: torch.Tensor, signs: int) -> torch.Tensor:
    """(B, T) rows of the sign table: 0 at t = 0, (x_{t−1} XOR x_t) mod signs after."""
    pair = torch.bitwise_xor(idx[:, :-1], idx[:, 1:]) % signs
    return torch.cat([torch.zeros_like(idx[:, :1]), pair], dim=1)


class BigramHash(Part):
    def __init__(self, cfg: BigramConfig, model):
        super().__init__()
        self.cfg, self.d = cfg, model.d_model
        self.dim = max(1, round(cfg.width * model.d_model))
        self.rows = int(cfg.size * padded_vocab(model))
        self.where = LayerSet(range(model.n_layer) if cfg.layers is None else cfg.layers, model.n_layer, "bigram")
        self.first = min(self.where.layers, default=None)   # attention_output: the one injected into its input
        self.order = 25 if cfg.inject == "layer_input" else 15   # after / before x0 mixing (order 20)
        self.table = nn.Parameter(torch.empty(self.rows, self.dim))
        self.lambdas = nn.Parameter(torch.empty(model.n_layer))
        declare(self, table="embed.bigram", lambdas="scalar.bigram")
        if cfg.signs:
            g = torch.Generator(device="cpu").manual_seed(0)
            signs = torch.randn(cfg.signs, self.dim, generator=g, device="cpu").sign()
            self.register_buffer("signs", signs, persistent=False)

    def reset_parameters(self):
        with torch.no_grad():
            self.table.zero_()
            self.lambdas.fill_(self.cfg.lambda_init)

    def attaches(self, hook, layer):
        if hook == "embed":
            return True
        if layer not in self.where:
            return False
        if self.cfg.inject == "layer_input":
            return hook == "before_layer"
        return hook == ("before_layer" if layer == self.first else "attn_out")

    def embed(self, e, ctx):
        b = self.table[bigram_ids(ctx.idx, self.rows)]
        if self.cfg.signs:
            b = b * self.signs[sign_rows(ctx.idx, self.cfg.signs)].type_as(b)
        ctx.saved[BIGRAM] = F.pad(b, (0, self.d - self.dim)) if self.dim < self.d else b
        return e

    def before_layer(self, i, x, ctx):
        return x + self.lambdas[i] * ctx.saved[BIGRAM]

    def attn_out(self, i, y, ctx):
        return y + self.lambdas[i] * ctx.saved[BIGRAM]


@PARTS.register("bigram_hash", config=BigramConfig)
def bigram_hash(cfg: BigramConfig, model, name: str) -> Part:
    return BigramHash(cfg, model)


@ingredient(name="bigram_hash_embed", summary="hashed (previous, current) token table added to every layer's stream",
            category="architecture", provenance=(R62, R68, R83), options=BigramOptions, doc=__doc__)
def INGREDIENT(spec, lambda_lr, **config):
    names = [f.name for f in fields(BigramConfig)]
    args = {k: (tuple(v) if isinstance(v, list) else v) for k, v in config.items() if k in names}
    spec = spec.set("model.parts.bigram", C("bigram_hash", **args))
    groups = dict(spec.optim)
    embed = groups.get("embed")
    if embed is not None and embed.optimizer == "adam" and "bigram" not in groups:
        groups["bigram"] = OptimGroup("adam", ("embed.bigram",), 0.6, {**embed.args, "betas": (0.75, 0.95)})
    scalar = groups.get("scalar")
    if lambda_lr is not None and scalar is not None and scalar.optimizer == "adam" and "bigram_lambda" not in groups:
        groups["bigram_lambda"] = OptimGroup("adam", ("scalar.bigram",), float(lambda_lr),
                                             {**scalar.args, "betas": (0.9, 0.95), "weight_decay": 0.0})
    return replace(spec, optim=groups)
