"""Per-label Adam betas: each kind of parameter gets the betas its record gave it.

What it does
    Adam groups are split by role where the table gives roles different betas (a role with no group of
    its own gets one, a copy of the group that trained it, keeping its lr); only `betas` changes.
    Table (β₁, β₂) by role, most specific prefix wins:

                            "52"            "57" (default; through #87)
        head                (0.65, 0.95)    (0.5, 0.95)
        embed (token)       (0.65, 0.95)    (0.5, 0.95)
        embed.value         (0.65, 0.95)    (0.75, 0.95)
        embed.bigram        —               (0.75, 0.95)   (#80's bigram embedding)
        scalar.lambda.x0    (0.65, 0.95)    (0.65, 0.95)   (x0 mixing's lambdas)
        gate                (0.65, 0.95)    (0.9, 0.99)    (smear, skip, attention and value gates)
        scalar, vector      (0.9, 0.99)     (0.9, 0.99)

    β₁ 0.65 for head and embeddings in "52" is #40's value, which #52 kept; M's adam_groups has 0.8.
    The records' per-label lr multipliers (smear gate ×0.01, skip gate ×0.05, scalars ×5 …) belong with
    the parts that bring those parameters.

Where it came from
    #52 (12/21/25, 2.037 min, 2025-12-21_SmoothedScalars): scalars moved to a second Adam with (0.9, 0.99)
    ("smooth scalars via beta increase"). #57 (01/04/26, 1.878 min, 2026-01-04_MixedPrecisionInterweavedOptimizer):
    "finer-grain Adam beta", the table above, kept (as a parameter table from #61) through #87. Also
    #27 (07/18/25) set DistAdam's lr multipliers per label, and #42/#48 Muon's (mlp_lr_multiplier).

What it requires
    adam_groups. Roles that no parameter of the model has get empty groups (nothing trains there).

Does it change the math
    Yes.
"""

from dataclasses import replace

from remix.ingredient import Provenance, ingredient
from remix.optim.groups import per_role
from remix.optim.remix_adam import ADAM_KINDS

R52 = Provenance("52", "12/21/25", "2.037 minutes", "2025-12-21_SmoothedScalars",
                 "scalars in an Adam with betas (0.9, 0.99)")
R57 = Provenance("57", "01/04/26", "1.878 minutes", "2026-01-04_MixedPrecisionInterweavedOptimizer",
                 "finer-grain Adam betas per label")

BETAS = {
    "52": {"head": (0.65, 0.95), "embed": (0.65, 0.95), "scalar.lambda.x0": (0.65, 0.95),
           "gate": (0.65, 0.95), "scalar": (0.9, 0.99), "vector": (0.9, 0.99)},
    "57": {"head": (0.5, 0.95), "embed": (0.5, 0.95), "embed.value": (0.75, 0.95), "embed.bigram": (0.75, 0.95),
           "scalar.lambda.x0": (0.65, 0.95), "gate": (0.9, 0.99), "scalar": (0.9, 0.99), "vector": (0.9, 0.99)},
}


@ingredient(name="per_label_betas", summary="Adam betas per kind of parameter (#52, #57)", category="hyperparameters",
            provenance=(R52, R57), options={"variant": "57"}, requires=("adam_groups",), doc=__doc__)
def INGREDIENT(spec, variant):
    if variant not in BETAS:
        raise ValueError(f"per_label_betas variant must be one of {', '.join(BETAS)}, got {variant!r}")
    table = {role: {"betas": b} for role, b in BETAS[variant].items()}

    def change(group, values):
        return replace(group, args={**group.args, **values}) if values else group
    return per_role(spec, table, change, optimizers=ADAM_KINDS)
