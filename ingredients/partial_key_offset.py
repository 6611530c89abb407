"""Partial key offset: in the long-window layers, the keys' static (non-rotating) dims come from the
previous token.

What: after QK-norm and RoPE, in each chosen layer, for every head and every t ≥ 1,
k[t, h, D] ← k[t−1, h, D] for the dims D that RoPE leaves unrotated; position 0 keeps its own key;
q and v are untouched. A query can then match "the token before this key" through those dims, which
lets one layer do induction (the records' README). The shift runs along the row and ignores document
boundaries (a document's first token gets the previous document's last key dims), in training and in
validation, as in the records. No parameters.
Dims (option `dims`, for head_dim D):
  * "static" (default): the dims the model's RoPE does not rotate, read from model.positions when the
    model is built: with the half-truncated RoPE of #17 (A, M) that is D/4 … D/2−1 and 3D/4 … D−1
    (#49's slice), with rope's interleaved pairing (#58) D/2 … D−1 (#62's slice);
  * "quarters": D/4 … D/2−1 and 3D/4 … D−1 whatever the RoPE (#49 … #61; from #58 to #61 the RoPE was
    interleaved, so these were 32 rotating + 32 static dims until #62 fixed the slice);
  * "upper_half": D/2 … D−1 (#62 … #89).
Layers (option `layers`): None (default) = the rule of the records' code, "every attention layer whose
window is the long one" (model.layers.short_window marks the short ones), less paired-head layers
(the records never offset those; all of theirs were short). In the 11-layer records that is layers 3
and 10, i.e. (4, 11) in the 12-layer numbering used here; M has no short windows, so there the rule
picks every layer (give layers = [4, 11] for the records' two).
Where from: #49 (12/14/25, 2.146 min, 2025-12-14_PartialKeyOffset); #54 (12/26/25, 2025-12-26_LogitRescale)
renamed it, same dims, same math; #62 (01/19/26, 1.655 min, 2026-01-19_BigramHashEmbedding) moved the
slice to D/2 … D−1 to follow #58's interleaved RoPE. Requires: rope (the static dims are RoPE's
zero frequencies; "truncated" frequencies for "static"). Math: changes it.
"""

from dataclasses import dataclass

import torch

from ingredients.paired_head_attention import paired_layers
from remix.ingredient import Provenance, ingredient
from remix.model.parts import LayerSet, Part
from remix.slots import PARTS
from remix.spec import C

R49 = Provenance("49", "12/14/25", "2.146 minutes", "2025-12-14_PartialKeyOffset",
                 "dims D/4–D/2 and 3D/4–D of the long-window layers' keys from the previous token")
R54 = Provenance("54", "12/26/25", "1.940 minutes", "2025-12-26_LogitRescale", "renamed key_shift → key_offset; same dims")
R62 = Provenance("62", "01/19/26", "1.655 minutes", "2026-01-19_BigramHashEmbedding", "dims D/2–D (interleaved RoPE)")
DIMS = ("static", "quarters", "upper_half")


@dataclass(frozen=True)
class KeyOffsetConfig:
    dims: "str" = "static"
    layers: "tuple[int, ...] | None" = None

    def __post_init__(self):
        if self.dims not in DIMS:
            raise ValueError(f"dims must be one of {', '.join(DIMS)}, got {self.dims!r}")


def offset_dims(dims: str, model) -> torch.Tensor:
    """A (head_dim,) bool mask of the dims whose key comes from the previous token."""
    D = model.head_dim
    if dims == "static":
        p = model.positions
        if p.name != "rope" or p.args.get("frequencies", "truncated") != "truncated":
            raise ValueError(f"partial_key_offset dims='static' needs rope with truncated frequencies (the dims it "
                             f"leaves static); the model's positions are {p.name} {p.args}")
        dims = "upper_half" if p.args.get("pairing", "half") == "interleaved" else "quarters"
    j = torch.arange(D, device="cpu")
    if dims == "upper_half":
        return j >= D // 2
    return ((j >= D // 4) & (j < D // 2)) | (j >= 3 * D // 4)


class KeyOffset(Part):
    def __init__(self, cfg: KeyOffsetConfig, model):
        super().__init__()
        if cfg.layers is None:
            skip = set(model.layers.short_window) | set(model.layers.no_attention) | paired_layers(model)
            layers = [i for i in range(model.n_layer) if i not in skip]
        else:
            layers = cfg.layers
        self.where = LayerSet(layers, model.n_layer, "key_offset")
        self.register_buffer("dims", offset_dims(cfg.dims, model), persistent=False)

    def attaches(self, hook, layer):
        return layer in self.where

    def rotated(self, i, q, k, v, ctx):
        previous = torch.cat([k[:, :1], k[:, :-1]], dim=1)   # position 0 keeps its own key
        return q, torch.where(self.dims, previous, k), v


@PARTS.register("key_offset", config=KeyOffsetConfig)
def key_offset(cfg: KeyOffsetConfig, model, name: str) -> Part:
    return KeyOffset(cfg, model)


@ingredient(name="partial_key_offset", summary="long-window layers take their keys' static dims from the previous token",
            category="attention", provenance=(R49, R54, R62), options=KeyOffsetConfig, requires=("rope",), doc=__doc__)
def INGREDIENT(spec, dims, layers):
    return spec.set("model.parts.key_offset", C("key_offset", dims=dims,
                                                layers=None if layers is None else tuple(layers)))
