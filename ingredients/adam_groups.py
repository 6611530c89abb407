"""Separate Adam groups for the head, the embedding and the scalars, without weight decay.

What: the parameters outside the transformer blocks' matrices are trained by Adam (betas 0.8/0.95,
no weight decay) in three groups with their own learning rates: head 0.22, embedding 0.6 (a learned
position table and value embeddings, if any, go with it: every `embed.*` role), scalars 0.04 (vectors,
scalars and gates not routed elsewhere; empty in M). Matrices
stay where they are (with Muon, in its group). Where from: #8 (separate embedding/head learning
rates), #13 (betas 0.8), 21 (3.014) (head 0.22 for the width-scaled soft-cap). Requires: nothing.
Math: changes it.
"""

from dataclasses import replace

from ingredients._records import R8, R13, R21b
from remix.ingredient import ingredient
from remix.spec import OptimGroup

MOVED = {"head": ("head",), "embed": ("embed",), "scalar": ("vector", "scalar", "gate")}


@ingredient(name="adam_groups", summary="Adam (0.8, 0.95), no decay: head 0.22, embed 0.6, scalars 0.04",
            category="optimizer", provenance=(R8, R13, R21b),
            options={"head_lr": 0.22, "embed_lr": 0.6, "scalar_lr": 0.04, "beta1": 0.8}, refines=("muon",),
            doc=__doc__)
def INGREDIENT(spec, head_lr, embed_lr, scalar_lr, beta1):
    moved = {r for roles in MOVED.values() for r in roles}
    groups = {}
    for name, g in spec.optim.items():
        kept = tuple(r for r in g.roles if r not in moved)
        if kept:
            groups[name] = OptimGroup(g.optimizer, kept, g.lr, dict(g.args))
    adam = {"betas": (beta1, 0.95), "eps": 1e-8, "weight_decay": 0.0}
    lrs = {"head": head_lr, "embed": embed_lr, "scalar": scalar_lr}
    for name, roles in MOVED.items():
        groups[name] = OptimGroup("adam", roles, lrs[name], dict(adam))
    return replace(spec, optim=groups)
