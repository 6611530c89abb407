"""Adam groups for parameters that the late records (#73 on) trained in groups of their own.

The records' Adam groups run at a base lr of 0.008 times a per-group `lr_mul`; their packed `scalars`
ran at lr_mul 5, i.e. 0.04, which is M's scalar group (lr 0.04, adam_groups). So a record's group with
`lr_mul` m becomes, in a spec, a group with the optimizer and eps of the group that trains the spec's
`scalar` roles and lr = (that group's lr) × m / 5, with the record's betas and no weight decay. On M this
is lr 0.008 · m; on a spec whose scalars train at another rate (A, the base) the ratio is kept.
"""

from __future__ import annotations

from dataclasses import replace

from remix.model.roles import owner
from remix.spec import OptimGroup, Spec, SpecError

RECORD_SCALAR_LR_MUL = 5.0   # the records' `scalars` group: 0.008 × 5 = M's scalar lr 0.04


def scalar_group(spec: Spec) -> tuple[str, OptimGroup]:
    """The name and group that train the role `scalar` in this spec (the most specific prefix wins)."""
    prefixes = {p: name for name, g in spec.optim.items() for p in g.roles}
    name = owner("scalar", prefixes)
    if name is None:
        raise SpecError("optim", "no optimizer group trains the role 'scalar'; the record's groups are set "
                                 "relative to it")
    group = spec.optim[name]
    # remix_adam is torch's Adam step with options (state dtype, cautious decay): adam_state_precision (#32)
    # and cautious_wd_adam (#50) turn the scalar group into one before the late records add theirs
    if group.optimizer not in ("adam", "adamw", "remix_adam"):
        raise SpecError(f"optim.{name}", f"optim.{name} trains the scalars with {group.optimizer!r}; the "
                                         "record's groups are Adam groups relative to an Adam scalar group")
    return name, group


def record_group(spec: Spec, roles: tuple[str, ...], lr_mul: float, betas: tuple[float, float]) -> OptimGroup:
    """An Adam group for `roles` as a record trained them with `lr_mul` and `betas` (see the module)."""
    _, like = scalar_group(spec)
    args = {**like.args, "betas": tuple(betas), "weight_decay": 0.0}
    return OptimGroup(like.optimizer, tuple(roles), like.lr * lr_mul / RECORD_SCALAR_LR_MUL, args)


def with_groups(spec: Spec, groups: dict[str, OptimGroup]) -> Spec:
    """The spec with these groups added (a group of the same name, from an earlier ingredient, is replaced)."""
    return replace(spec, optim={**spec.optim, **groups})
