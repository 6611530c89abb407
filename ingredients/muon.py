"""Muon: train the hidden matrices with momentum followed by Newton–Schulz orthogonalisation.

What it does
    Every >=2-D parameter inside the transformer blocks (role "matrix") leaves the group that held it
    and joins a new group "hidden" trained by Muon (lr 0.05, momentum 0.95, Nesterov, 5 Newton–Schulz
    steps). Embedding, positions, head and vectors stay with their Adam/AdamW groups. One Muon step:

        buf <- m*buf + (1-m)*g                      EMA momentum, in the parameter's dtype
        u   <- (1-m)*g + m*buf                      Nesterov direction (buf without Nesterov)
        O   <- NS5(u)                               quintic Newton–Schulz in bf16, per matrix
        p   <- p - lr * sqrt(max(1, rows/cols)) * O

    NS5: X <- u/(|u|_F + 1e-7), work on X^T when rows > cols, then 5 times
    A = X X^T, B = b A + c A^2, X <- a X + B X with (a, b, c) = (3.4445, -4.7750, 2.0315).
    A 3-D parameter (the (3, d, d) qkv weight) is a batch of independent matrices.

Where it came from
    Record #3 (10/04/24, 24.9 min) introduced it ("OrthogonalNesterov": sum-form momentum, no shape
    scale); #4 (10/11/24, 22.3 min, 2024-10-10_Muon) named it Muon and scaled updates by
    sqrt(max(rows, cols)); #6 spread the work over ranks; #8 changed the scale to sqrt(max(1, rows/cols));
    #11/#13 raised the lr to 0.04/0.05; #15 switched to EMA momentum, grouped parameters by size and
    all-gathered the updates; #20 orthogonalised the stacked qkv as a batch. The defaults here are the
    forms the remixed M baseline uses (those of record #21).

How it is built
    The optimizer is remix.optim.muon (the engine): a group's arguments name its pieces (momentum form,
    matrix view, orthogonaliser, normaliser, decay, state dtype, master weights), and the defaults are
    exactly the pieces described above. Other ingredients (polar_express, normuon, cautious_wd_muon,
    muon_sum_momentum, muon_mixed_precision, muon_qkvo_split, paired_head_muon, mlp_lr_multiplier)
    change those arguments on the "hidden" group, or add groups for more specific roles.

What it requires
    A spec whose parameters carry the "matrix" role (the base trainer's partition). The trainer sets
    each group's "lr" and "momentum" from the schedules before every step and hands Muon gradients
    already averaged across ranks. Runs on any device count: on N ranks each rank orthogonalises a
    share of every shape group and an all-gather hands every rank all the updates (the per-matrix math
    does not depend on N).

Does it change the math
    Yes (math_equivalent=False): the hidden matrices follow Muon's update instead of Adam's.

Speed
    Parameters of one shape are stacked and orthogonalised in one batched call (compiled on CUDA), so
    a step costs a handful of large matrix products per shape instead of dozens of small ones.
"""

from __future__ import annotations

from dataclasses import replace

from ingredients._records import R3, R4, R8, R13, R15, R20
from remix.ingredient import ingredient
from remix.optim.muon import Muon, MuonConfig, build_muon, update_scale  # noqa: F401  (the engine's Muon)
from remix.optim.orthogonalise import newton_schulz, orthogonalise  # noqa: F401
from remix.spec import OptimGroup, Spec, SpecError


# --- the ingredient -------------------------------------------------------------------------------

@ingredient(
    name="muon",
    summary="Train the hidden matrices with Muon (momentum + Newton–Schulz orthogonalisation)",
    category="optimizer",
    provenance=(R3, R4, R8, R13, R15, R20),
    options={"lr": 0.05, "momentum": 0.95, "nesterov": True, "ns_steps": 5},
    math_equivalent=False,
    doc=__doc__,
)
def apply(spec: Spec, *, lr: float, momentum: float, nesterov: bool, ns_steps: int) -> Spec:
    groups: dict[str, OptimGroup] = {}
    for name, group in spec.optim.items():
        roles = tuple(r for r in group.roles if r != "matrix")
        if roles:                       # a group left with no roles is dropped
            groups[name] = group if roles == group.roles else replace(group, roles=roles)
    if "hidden" in groups:
        raise SpecError("optim.hidden", "muon adds the group 'optim.hidden', but the spec already has one "
                                        f"holding roles {groups['hidden'].roles}")
    groups["hidden"] = OptimGroup("muon", ("matrix",), float(lr),
                                  {"momentum": float(momentum), "nesterov": nesterov, "ns_steps": ns_steps})
    return replace(spec, optim=groups)


INGREDIENT = apply
