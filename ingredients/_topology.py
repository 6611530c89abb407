"""Shared by the topology parts (x0 mixing, U-net skips, value embeddings, gates, backout, smear): what the
layer plan leaves in each layer, and how a part's parameters are routed to the optimizer its record used.

A layer that the plan leaves with neither attention nor an MLP (record #35's layer 0) is *empty*: the
records skipped it altogether (their loop started at layer 1), so the parts do not attach there either
(no x0 mix, no U-net push, nothing saved).
"""

from __future__ import annotations

from dataclasses import replace

from remix.spec import OptimGroup, Spec, SpecError


def attention_layers(model) -> list[int]:
    """The layers that hold an attention (0-based, in order)."""
    return [i for i in range(model.n_layer) if i not in model.layers.no_attention]


def active_layers(model) -> list[int]:
    """The layers that hold an attention or an MLP, i.e. every layer the plan does not empty."""
    plan = model.layers
    return [i for i in range(model.n_layer) if i not in plan.no_attention or i not in plan.no_mlp]


def gate_width(model, width: int, what: str) -> int:
    """The number of leading channels a gate reads (12 = 768/64 in the records); checked against the width."""
    if not 1 <= width <= model.d_model:
        raise ValueError(f"{what}: a gate reads {width} channels, the model has {model.d_model}")
    return width


def _without_role(spec: Spec, role: str) -> Spec:
    groups = {}
    for name, g in spec.optim.items():
        roles = tuple(r for r in g.roles if r != role)
        if roles:
            groups[name] = g if roles == g.roles else replace(g, roles=roles)
    return replace(spec, optim=groups)


def to_muon(spec: Spec, role: str) -> Spec:
    """Trains `role` with the Muon group that holds the block matrices ("matrix"), as the records that put
    a gate into Muon did. Without such a group (a spec before `muon`), the role stays where its family goes."""
    for name, g in spec.optim.items():
        if g.optimizer == "muon" and "matrix" in g.roles:
            spec = _without_role(spec, role)
            g = spec.optim[name]
            return replace(spec, optim={**spec.optim, name: replace(g, roles=(*g.roles, role))})
    return spec


def own_adam_group(spec: Spec, group: str, role: str, lr: float, betas: tuple[float, float],
                   eps: float = 1e-8) -> Spec:
    """A new Adam group `group` (no weight decay) that trains exactly `role`."""
    spec = _without_role(spec, role)
    if group in spec.optim:
        raise SpecError(f"optim.{group}", f"optim.{group} already exists (roles {spec.optim[group].roles}); "
                                          f"cannot add it for {role!r}")
    adam = OptimGroup("adam", (role,), float(lr), {"betas": tuple(float(b) for b in betas), "eps": float(eps),
                                                  "weight_decay": 0.0})
    return replace(spec, optim={**spec.optim, group: adam})
