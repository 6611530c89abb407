"""Re-tie the input embedding to the LM head, with the head's small init and the head's optimizer.

What: the separate input embedding goes; the input of layer 0 is a row lookup of the head's weight
(the padded table), followed by the embedding norm as before. The shared table starts at N(0, σ²)
with σ = 0.005 in the records' head scale (instead of a zero head and an N(0, 1) embedding; the norm
after the lookup makes the embedding's scale irrelevant to the input) and is trained with the head's
settings: the role `embed.token` joins M's Adam "head" group (0.22; the records' 0.008), getting the
gradients of both uses. remix's M head is √d larger than the records' (its soft-cap divides by
7.5·√d, so its lr 0.22 ≈ 0.008·√768), so σ becomes 0.005·√d there (option `width_scaled`: None =
decided when the model is built, from its logit transform: True for M's "sigmoid_width" soft-cap or a
width-scaled asymmetric rescale, whatever the order of the recipe).
Where from: #51 (12/19/25, 2.075 min, 2025-12-19_RetieLMHead, log 0828d309…), which also retuned its
FP8 head's scales (x 100/448, w 1.5/448, grad 0.75/448): remix's head is not FP8, so that part has no
counterpart here. Later: #53 untied the two again at 2/3 of training (a schedule, not here); #87
never unties. Requires: untied_head (this undoes it, on purpose). Math: changes it.
"""

import math
from dataclasses import dataclass, replace

import torch
from torch import nn

from remix.ingredient import Provenance, ingredient
from remix.slots import INITS
from remix.spec import C

R51 = Provenance("51", "12/19/25", "2.075 minutes", "2025-12-19_RetieLMHead", "embedding = lm_head rows, N(0, 0.005²)")


@dataclass(frozen=True)
class HeadNormalConfig:
    std: "float" = 0.005
    width_scaled: "bool | None" = None   # std · √d_model; None: when the model's logits divide z by √d


def width_scaled_logits(logits) -> bool:
    """Whether a logit transform reads the head's output divided by √d (remix's M head scale)."""
    return (logits.name == "softcap" and logits.args.get("form", "sigmoid_width") == "sigmoid_width") or \
           (logits.name == "asymmetric_softcap" and logits.args.get("width_scaled", True))


@INITS.register("head_normal", config=HeadNormalConfig)
def head_normal(cfg: HeadNormalConfig, w: torch.Tensor, model) -> None:
    scaled = width_scaled_logits(model.logits) if cfg.width_scaled is None else cfg.width_scaled
    nn.init.normal_(w, 0.0, cfg.std * (math.sqrt(model.d_model) if scaled else 1.0))


@ingredient(name="retie_embed_lm_head", summary="input embedding = head rows again, N(0, 0.005²) in head scale, head's lr",
            category="architecture", provenance=R51, options=HeadNormalConfig,
            requires=("untied_head",), refines=("untied_head",), doc=__doc__)
def INGREDIENT(spec, std, width_scaled):
    spec = (spec.set("model.tie_embeddings", True)
                .set("model.init.embed", C("head_normal", std=std, width_scaled=width_scaled)))
    head = spec.optim.get("head")
    if head is not None and "embed.token" not in head.roles:
        spec = replace(spec, optim={**spec.optim, "head": replace(head, roles=(*head.roles, "embed.token"))})
    return spec
