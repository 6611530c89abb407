"""Paired-head attention: in chosen layers, heads h and h + H/2 share one softmax over twice the keys.

What (as record #58's code computes it, which the notes traced view by view): in a paired layer each
token's H heads are laid out on two consecutive positions of a sequence twice as long: position 2t
holds heads 0 … H/2−1 and position 2t+1 holds heads H/2 … H−1, as H/2 attention channels; channel c
is head c on even positions and head c + H/2 on odd ones. One causal softmax per channel runs over
that 2T-long sequence, so a query of head c (or c + H/2) attends to the keys of both heads of its
pair: head c's query at token t sees head c + H/2's keys up to t−1, head c + H/2's query sees both up
to t. Before that, RoPE rotates head h of token t at position 2t + (h mod 2) (heads 0, 2, 4 on even
positions, 1, 3, 5 on odd; so in channel 1 the even-position slot carries the odd rotation). With
document masking the documents keep their tokens' positions (#58 doubles FA3's cu_seqlens) and the
window is NOT doubled: it counts positions of the doubled sequence, so covers half as many tokens.
QK-norm, value embeddings (any `qkv`-hook part) and the parts' `rotated` hooks act per head as in
other layers; the output is put back in head order before the gates (`heads` hooks) and W_O.
No new parameters: the layer's own W_qkv and W_O (the record initialises them like other layers).
Layers (option `layers`, 0-based in the 12-layer model; the scripts from #49 on have 11 layers, whose
index j is j + 1 here): #58 (01/07/26, 1.820 min, 2026-01-07_PairedHeadAttention) pairs 11-layer
0, 2, 5, 9 = (1, 3, 6, 10) here, kept by #59–#86, #88, #89; #87 (06/11/26, 1.256 min,
2026-06-11_RecursiveFromBest) pairs 0, 5 = (1, 6). All of them are short-window layers in the records.
The README of #58 describes pairing heads 1 and 2; the code pairs h with h + 3 as above, followed here.
Requires: rope (the staggered positions; this sets its `span` to 2 so its tables cover 2T positions).
The attention core must accept `slots=2` in prepare (causal and document cores do). Related records
not in this ingredient: #80 orthogonalises Q and K per pair of heads in Muon (optimizer).
Math: changes it.
"""

from dataclasses import dataclass

import torch

from remix.ingredient import Provenance, ingredient
from remix.model.parts import LayerSet, Part
from remix.model.positions import Positions
from remix.slots import PARTS
from remix.spec import C

R58 = Provenance("58", "01/07/26", "1.820 minutes", "2026-01-07_PairedHeadAttention",
                 "11-layer 0, 2, 5, 9 (12-layer 1, 3, 6, 10)")
R87 = Provenance("87", "06/11/26", "1.256 minutes", "2026-06-11_RecursiveFromBest", "11-layer 0, 5 (12-layer 1, 6)")

MASKS = "paired_heads.masks"   # ctx.saved: the core's masks over the doubled sequence, built once per forward


@dataclass(frozen=True)
class PairedHeadsConfig:
    layers: "tuple[int, ...]" = (1, 3, 6, 10)


def paired_layers(model) -> frozenset[int]:
    """The layers a paired_heads part of this model spec pairs (other parts leave them alone by default)."""
    found = set()
    for c in model.parts.values():
        if c.name == "paired_heads":
            found |= LayerSet(c.args.get("layers", PairedHeadsConfig.layers), model.n_layer, "paired_heads").layers
    return frozenset(found)


def head_positions(T: int, H: int, device) -> torch.Tensor:
    """(T, H): head h of token t sits at position 2t + (h mod 2)."""
    t = torch.arange(T, device=device)[:, None]
    h = torch.arange(H, device=device)[None, :]
    return 2 * t + h % 2


class PairedHeads(Part):
    def __init__(self, cfg: PairedHeadsConfig, model):
        super().__init__()
        if model.n_head % 2:
            raise ValueError(f"paired_heads needs an even number of heads, got {model.n_head}")
        self.where = LayerSet(cfg.layers, model.n_layer, "paired_heads")

    def attaches(self, hook, layer):
        return layer in self.where

    def attend(self, i, q, k, v, attn, ctx):
        B, T, H, D = q.shape
        if type(attn.positions).rotate is not Positions.rotate:   # positions that rotate q and k
            if not hasattr(attn.positions, "rotate_at"):
                raise NotImplementedError(f"paired heads need positions that can rotate at given positions "
                                          f"(rotate_at); {type(attn.positions).__name__} cannot")
            q, k = attn.positions.rotate_at(q, k, head_positions(T, H, q.device))
        q, k, v = attn.rotated(q, k, v, ctx)
        if MASKS not in ctx.saved:
            ctx.saved[MASKS] = attn.core.prepare(ctx.idx, ctx.state, slots=2)

        def doubled(x):   # (B, T, H, D) -> (B, 2T, H/2, D): position 2t + j, channel c = head j·H/2 + c
            return x.reshape(B, 2 * T, H // 2, D)

        y = attn.core(doubled(q), doubled(k), doubled(v), ctx.saved[MASKS], attn.window, ctx.state.get("attn_scale", attn.scale))
        return y.reshape(B, T, H, D)


@PARTS.register("paired_heads", config=PairedHeadsConfig)
def paired_heads(cfg: PairedHeadsConfig, model, name: str) -> Part:
    return PairedHeads(cfg, model)


@ingredient(name="paired_head_attention", summary="heads h and h+H/2 share a softmax over a doubled sequence (#58)",
            category="attention", provenance=(R58, R87), options=PairedHeadsConfig, requires=("rope",), refines=("rope",), doc=__doc__)
def INGREDIENT(spec, layers):
    spec = spec.set("model.parts.paired_heads", C("paired_heads", layers=tuple(layers)))
    if spec.model.positions.name == "rope":
        spec = spec.set("model.positions.span", max(2, spec.model.positions.args.get("span", 1)))
    return spec
