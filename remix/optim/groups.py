"""Spec helpers for ingredients that change optimizer groups: every group of a kind, or one role's group.

A record that gives "the MLP's down matrices" their own learning rate, or "the value embeddings" their
own betas, does it through roles: `for_role(spec, "matrix.mlp.down", change)` finds the group that trains
that role now (the most specific prefix that matches, remix.model.roles) and gives the role a group of
its own, a copy of that one with `change` applied; a group that already holds exactly that role is
changed in place. A role no parameter of the model has gets an empty group, which trains nothing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from remix.model.roles import owner
from remix.spec import OptimGroup, Spec, SpecError


def groups_of(spec: Spec, *optimizers: str) -> list[str]:
    return [name for name, g in spec.optim.items() if g.optimizer in optimizers]


def set_args(spec: Spec, optimizers: tuple[str, ...], **args) -> Spec:
    """Every group trained by one of `optimizers` gets `args` (none there: the spec as it was; an
    ingredient's `requires` puts the groups there in a recipe)."""
    names = groups_of(spec, *optimizers)
    return replace(spec, optim={n: (replace(g, args={**g.args, **args}) if n in names else g)
                                for n, g in spec.optim.items()})


def for_role(spec: Spec, role: str, change: Callable[[OptimGroup], OptimGroup], *,
             only: tuple[str, ...] | None = None) -> Spec:
    """`role` in a group of its own, changed by `change`. `only`: the optimizers the change is for (a role
    trained by another optimizer is left as it is: the change does not apply to it)."""
    prefixes = {p: name for name, g in spec.optim.items() for p in g.roles}
    current = owner(role, prefixes)
    if current is None:
        raise SpecError("optim", f"no optimizer group trains role {role!r} (groups cover: "
                                 f"{', '.join(sorted(prefixes)) or 'nothing'})")
    group = spec.optim[current]
    if only is not None and group.optimizer not in only:
        return spec
    groups = dict(spec.optim)
    if group.roles == (role,):
        groups[current] = change(group)
        return replace(spec, optim=groups)
    if role in group.roles:   # the group holds the role among others: it loses it
        groups[current] = replace(group, roles=tuple(r for r in group.roles if r != role))
    name = role.replace(".", "_")
    if name in groups:
        name = f"{current}_{name}"
    groups[name] = change(replace(group, roles=(role,), args=dict(group.args)))
    return replace(spec, optim=groups)


def with_args(**args) -> Callable[[OptimGroup], OptimGroup]:
    return lambda g: replace(g, args={**g.args, **args})



def per_role(spec: Spec, table: dict[str, dict], change: Callable[[OptimGroup, dict], OptimGroup], *,
             optimizers: tuple[str, ...]) -> Spec:
    """Gives each role the values of the most specific `table` prefix that matches it ({} where none does):
    a group (trained by one of `optimizers`) whose roles all get the same values is changed whole by
    change(group, values); one whose roles differ is split, a group per role; a table prefix more specific
    than any group's role (embed.value under embed) gets a group of its own. Other groups stay as they are."""
    def values(role: str) -> dict:
        return table.get(owner(role, {k: k for k in table}) or "", {})

    before, names = set(spec.optim), groups_of(spec, *optimizers)
    for name in names:
        group = spec.optim[name]
        if len({tuple(sorted(values(r).items())) for r in group.roles}) == 1:
            spec = replace(spec, optim={**spec.optim, name: change(group, values(group.roles[0]))})
        else:
            for role in group.roles:
                spec = for_role(spec, role, lambda g, role=role: change(g, values(role)))
    changed = set(names) | (set(spec.optim) - before)
    for key in table:
        prefixes = {p: n for n, g in spec.optim.items() for p in g.roles}
        holder = owner(key, prefixes)
        if key not in prefixes and holder in changed:
            spec = for_role(spec, key, lambda g, key=key: change(g, values(key)))
    return spec
