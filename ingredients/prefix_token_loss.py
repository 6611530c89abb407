"""Prefix-token auxiliary loss: the head is also trained to predict the longest token that is a proper
byte prefix of the next token.

What it does
    A table maps each token T to the longest proper byte prefix of T that is itself a token (−1 where
    there is none): built from tiktoken's GPT-2 ranks (for each token's bytes b, the first of b[:k],
    k = len(b)−1 … 1, that is a token). So the 256 single-byte tokens, <|endoftext|> (50256, not a BPE
    rank) and the padding rows map to −1, and every other token has a prefix (its first byte at worst).
    The training loss (loss "prefix_token_ce", the cross-entropy of remix.model.head with everything it
    has: reduction, precision, multi-token weights) adds per position
        w_p·(logsumexp(ℓ_t) − ℓ_t[table[target_t]])      where table[target_t] ≥ 0
    on the same transformed logits and logsumexp. w_p = 0.25 for the first third of the run, then falls
    linearly to 0 at two thirds (schedule "thirds"; "fixed" keeps it), read each step from
    ctx.state["prefix_weight"] (a 0-dim float32 device tensor; the loss's step_state(step, steps) gives
    it) or, without step state, the fixed `weight`. Evaluation has no prefix term.

    The table is built lazily, when a model is first built on a real device (not on the meta device of
    validation), and cached as REMIX_CACHE/prefix_tokens/gpt2-v1.pt (~/.cache/remix without REMIX_CACHE).
    The GPT-2 files come from REMIX_GPT2_DIR, or ../shared/data/gpt2 beside the repository (encoder.json and
    vocab.bpe), or tiktoken's own cache or download.

    Tiny scale (the embedded corpus's 257 byte-level ids): the same definition applied to that vocabulary.
    Every token is a single byte (or the BOS), so none has a proper prefix that is a token: the table is
    all −1 and the term is exactly 0. The ingredient runs (its code path is built, compiled and tested)
    but trains exactly as without it; its effect can only be measured on GPT-2 tokens. Other vocabulary
    sizes are refused with an error when the model is built.

Where it came from
    #88 (07/13/26, 1.243 min, 2026-07-13_PrefixTokenPrediction/prefix-1375/1b20ccf2….txt, PR #337): the
    table as above (a non-persistent int64 buffer of the 50,304 padded rows), the term fused into the
    CE kernel beside the MTP terms, weight 0.25 over steps 0–454, linear to 0 over 455–909, 0 after
    (1365 scheduled steps + 10). #88's script lacks #87's changes; #89's lacks this loss.

What it requires
    Nothing (the record ran it with multi_token_prediction and the summed CE); tiktoken for GPT-2 tokens.

Does it change the math
    Yes (an auxiliary loss).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from remix.ingredient import Provenance, ingredient
from remix.model.head import CrossEntropy, CrossEntropyConfig, padded_vocab
from remix.slots import LOSSES
from remix.spec import SpecError

R88 = Provenance("88", "07/13/26", "1.243 minutes", "2026-07-13_PrefixTokenPrediction",
                 "prefix-token auxiliary loss, weight 0.25 fading out by 2/3 (PR #337)")

GPT2_VOCAB, BYTE_VOCAB = 50257, 257
SCHEDULES = ("fixed", "thirds")
TABLE_VERSION = 1


@dataclass(frozen=True)
class PrefixTokenConfig(CrossEntropyConfig):
    prefix_weight: "float" = 0.25
    prefix_schedule: "str" = "thirds"   # thirds: w for x < 1/3, w·(2 − 3x) to x = 2/3, then 0 | fixed

    def __post_init__(self):
        super().__post_init__()
        if self.prefix_weight < 0 or self.prefix_schedule not in SCHEDULES:
            raise ValueError(f"expected prefix_weight ≥ 0 and prefix_schedule in {SCHEDULES}, got "
                             f"{self.prefix_weight}, {self.prefix_schedule!r}")


def prefix_weight_at(cfg: PrefixTokenConfig, step: int, total_steps: int) -> float:
    if cfg.prefix_schedule == "fixed":
        return cfg.prefix_weight
    x = min(max(step / total_steps, 0.0), 1.0)
    return cfg.prefix_weight * min(max(2 - 3 * x, 0.0), 1.0)


# --- the table ------------------------------------------------------------------------------------

def prefix_table_from_ranks(ranks: dict[bytes, int], size: int) -> torch.Tensor:
    """table[id(b)] = id of the longest proper prefix of b that is a token, else −1; `size` rows."""
    table = [-1] * size
    for token, i in ranks.items():
        for k in range(len(token) - 1, 0, -1):
            j = ranks.get(token[:k])
            if j is not None:
                table[i] = j
                break
    return torch.tensor(table, dtype=torch.int64)


def _gpt2_ranks() -> dict[bytes, int]:
    from remix.data.errors import DataError
    from remix.data.tokenize_text import gpt2_encoding
    for d in (os.environ.get("REMIX_GPT2_DIR"), Path(__file__).resolve().parents[2] / "shared" / "data" / "gpt2"):
        if d and (Path(d) / "encoder.json").is_file() and (Path(d) / "vocab.bpe").is_file():
            return gpt2_encoding(d)._mergeable_ranks
    try:
        return gpt2_encoding(None)._mergeable_ranks
    except DataError as e:   # (tiktoken missing is one too) its advice names a flag of `remix tokenize`, not of a run
        raise DataError(f"prefix_token_loss builds its table from GPT-2's BPE files and found none: set "
                        f"REMIX_GPT2_DIR to a folder holding encoder.json and vocab.bpe ({e})") from e


def cache_path() -> Path:
    root = Path(os.environ["REMIX_CACHE"]) if os.environ.get("REMIX_CACHE") else Path.home() / ".cache" / "remix"
    return root / "prefix_tokens" / f"gpt2-v{TABLE_VERSION}.pt"


def gpt2_prefix_table() -> torch.Tensor:
    """The GPT-2 table over its 50,257 ids, from the cache or built (then cached, written atomically)."""
    path = cache_path()
    if path.is_file():
        table = torch.load(path, map_location="cpu")
        if table.shape == (GPT2_VOCAB,):
            return table
    table = prefix_table_from_ranks(_gpt2_ranks(), GPT2_VOCAB)
    from remix.atomic import atomic_open
    with atomic_open(path, "wb") as f:   # another run may be reading the cache
        torch.save(table, f)
    return table


def prefix_table(model) -> torch.Tensor:
    """The table for the model's vocabulary, padded with −1 to the head's rows, on the device being built on."""
    rows = padded_vocab(model)
    device = torch.empty(0).device
    if model.vocab_size not in (GPT2_VOCAB, BYTE_VOCAB):
        raise ValueError(f"prefix_token_loss knows GPT-2's {GPT2_VOCAB} token ids and the {BYTE_VOCAB} byte-level "
                         f"ids of the embedded corpus; this model has vocab_size {model.vocab_size}")
    table = torch.full((rows,), -1, dtype=torch.int64, device="cpu")
    if model.vocab_size == GPT2_VOCAB and device.type != "meta":
        table[:GPT2_VOCAB] = gpt2_prefix_table()
    return table.to(device)


# --- the loss -------------------------------------------------------------------------------------

class PrefixTokenCE(CrossEntropy):
    """CrossEntropy plus the prefix term (step state: "prefix_weight", a 0-dim float32 device tensor)."""

    def __init__(self, cfg: PrefixTokenConfig, model):
        super().__init__(cfg)
        self.register_buffer("prefix_of", prefix_table(model), persistent=False)

    def has_extras(self) -> bool:
        return True

    def extra_terms(self, targets, ctx):
        w = ctx.state["prefix_weight"] if "prefix_weight" in ctx.state else self.cfg.prefix_weight
        prefix = torch.where(targets >= 0, self.prefix_of[targets.clamp_min(0)], -1)
        return [(w, prefix)]

    def step_state(self, step: int, total_steps: int) -> dict:
        out = super().step_state(step, total_steps)
        if self.cfg.prefix_schedule != "fixed":
            out["prefix_weight"] = prefix_weight_at(self.cfg, step, total_steps)
        return out


@LOSSES.register("prefix_token_ce", config=PrefixTokenConfig)
def prefix_token_ce(cfg: PrefixTokenConfig, model) -> PrefixTokenCE:
    return PrefixTokenCE(cfg, model)


@ingredient(name="prefix_token_loss",
            summary="auxiliary loss: predict the next token's longest proper prefix token (#88)",
            category="architecture", provenance=R88, options={"weight": 0.25, "schedule": "thirds"}, doc=__doc__)
def INGREDIENT(spec, weight, schedule):
    loss = spec.model.loss
    if loss.name not in ("cross_entropy", "prefix_token_ce"):
        raise SpecError("model.loss", f"prefix_token_loss adds a term to the cross-entropy; the spec's loss is "
                                      f"{loss.name!r} (fused_softcap_ce's kernel has no such term: leave it out)")
    args = {**loss.args, "prefix_weight": float(weight), "prefix_schedule": schedule}
    return spec.set("model.loss", {"name": "prefix_token_ce", **args})
