"""Cautious weight decay for the Adam groups: decay only where the Adam step already pulls toward zero.

What it does
    Every Adam group (torch "adam" or remix_adam; AdamW groups keep their own decoupled decay) becomes remix's own Adam (remix_adam: the same Adam step as torch's) with decay
    "cautious", weight_decay 0.005 and a wd_mul per role. Per element, u the Adam step:
        mask = [u·p > 0]   (≥ 0 in variant "50");   p ← p − (u + η²·wd·wd_mul·mask·p)
    η = the group's scheduled lr (it appears twice: the decay follows the lr schedule squared).

Options (`variant`), wd_mul by role (roles not listed: 1):
    "50"  #50 (12/18/25, 2.128 min, 2025-12-18_CautiousWDAdam): mask [u·p ≥ 0]; scalars 0 (here scalar,
          vector and gate roles), everything else 1. Peak decay of M's embedding (lr 0.6): 0.6²·0.005 = 1.8e-3.
    "53"  #53 (12/22/25, 1.988 min, 2025-12-22_MultiTokenPrediction, "tweak CWD"): the mask made strict
          (default: the form whose multipliers suit M's learning rates, see below).
    "55"  #55 (12/29/25, 1.918 min, 2025-12-29_VeSkipGates) and on to #87: strict; value (and bigram)
          embeddings 5, token embedding 150, head 150, gates 0, lambdas and scalars 0. (#56 moved the
          attention and value-embedding gate banks to Adam with wd_mul 1: roles gate.attn and gate.value
          here, if a part declares them.) The 150s were chosen for #51–#55's tied embedding/head at lr
          0.008 (0.008²·0.005·150 = 4.8e-5 per step). The decay goes with lr², so at M's embedding lr 0.6
          and head lr 0.22 the same 150s decay 0.27 and 0.036 per step: use "55" with the records' lrs.
    Records step Adam on odd steps only from #39 (the decay then applies on those steps); remix steps it
    every step.

What it requires
    adam_groups (Adam groups for head, embeddings and scalars).

Does it change the math
    Yes.
"""

from remix.ingredient import Provenance, ingredient
from remix.optim.groups import per_role
from remix.optim.remix_adam import as_remix_adam

R50 = Provenance("50", "12/18/25", "2.128 minutes", "2025-12-18_CautiousWDAdam",
                 "cautious weight decay on Adam, wd 0.005")
R53 = Provenance("53", "12/22/25", "1.988 minutes", "2025-12-22_MultiTokenPrediction", "mask [u·p > 0] (strict)")
R55 = Provenance("55", "12/29/25", "1.918 minutes", "2025-12-29_VeSkipGates",
                 "wd_mul: value embeds 5, embed 150, lm_head 150, gates and scalars 0")

WD_MUL = {
    "50": {"head": 1.0, "embed": 1.0, "scalar": 0.0, "vector": 0.0, "gate": 0.0},
    "55": {"head": 150.0, "embed": 150.0, "embed.value": 5.0, "embed.bigram": 5.0, "scalar": 0.0,
           "vector": 0.0, "gate": 0.0, "gate.attn": 1.0, "gate.value": 1.0},
}
VARIANTS = {"50": (WD_MUL["50"], False), "53": (WD_MUL["50"], True), "55": (WD_MUL["55"], True)}


@ingredient(name="cautious_wd_adam",
            summary="Adam decays only where the step agrees: η²·0.005·wd_mul·[u·p > 0]·p",
            category="optimizer", provenance=(R50, R53, R55), options={"variant": "53", "weight_decay": 0.005},
            requires=("adam_groups",), doc=__doc__)
def INGREDIENT(spec, variant, weight_decay):
    if variant not in VARIANTS:
        raise ValueError(f"cautious_wd_adam variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    muls, strict = VARIANTS[variant]
    table = {role: {"wd_mul": m} for role, m in muls.items()}

    def change(group, values):
        return as_remix_adam(group, decay="cautious", weight_decay=float(weight_decay), cautious_strict=strict,
                             wd_mul=values.get("wd_mul", 1.0))
    return per_role(spec, table, change, optimizers=("adam", "remix_adam"))
