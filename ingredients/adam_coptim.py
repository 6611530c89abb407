"""C-Optim for the value and bigram embeddings: rescale Adam's step by its sign agreement with the gradient.

What it does
    The Adam groups of the listed roles (their own groups, copies of the group that trained them) become
    remix_adam with coptim 0.5. Per parameter and step, u the Adam step and g this step's gradient:
        keep = [u·g > 0],   k̄ = max(mean(keep), 1e-3),   u ← u + 0.5·(u·keep/k̄ − u)
    i.e. u·(0.5 + 0.5·keep/k̄): elements whose step agrees with the current gradient are boosted, the
    others halved (an embedding row the batch did not touch has g = 0, so its momentum step is halved).
    Then any decay as configured (cautious_wd_adam). The mean is over the whole parameter: #87 took it
    over its rank's shard (1/8 of the rows on 8 GPUs), so remix computes what #87 did on one GPU.

Where it came from
    #87 (06/11/26, 1.256 min, 2026-06-11_RecursiveFromBest, log this_pr/00088a48…; found by an AI system,
    "Recursive"): value_embeds and bigram_embed only (strength 0.5; betas (0.75, 0.95), lr 0.6, wd_mul 5
    there, which per_label_betas and cautious_wd_adam give). #88 and #89 do not carry it.

What it requires
    adam_groups; it acts on parameters with the roles in `roles` (embed.value, embed.bigram by default:
    value or bigram embeddings from their ingredients). Without them it trains nothing differently.

Does it change the math
    Yes.
"""

from remix.ingredient import Provenance, ingredient
from remix.optim.groups import for_role
from remix.optim.remix_adam import ADAM_KINDS, as_remix_adam

R87 = Provenance("87", "06/11/26", "1.256 minutes", "2026-06-11_RecursiveFromBest",
                 "C-Optim sign-agreement step on value and bigram embeddings, strength 0.5")


@ingredient(name="adam_coptim",
            summary="Adam step rescaled by its sign agreement with the gradient, on value/bigram embeddings (#87)",
            category="optimizer", provenance=R87,
            options={"strength": 0.5, "roles": ("embed.value", "embed.bigram")}, requires=("adam_groups",),
            doc=__doc__)
def INGREDIENT(spec, strength, roles):
    for role in roles:
        spec = for_role(spec, role, lambda g: as_remix_adam(g, coptim=float(strength)), only=ADAM_KINDS)
    return spec
