"""Roles: every parameter says what it is, and optimizer groups select parameters by role.

A role is a dotted name chosen by the module that creates the parameter (`matrix.attn.qkv`,
`embed.value`, `scalar.lambda`, `gate.attn` …). An optimizer group lists role prefixes; a parameter
goes to the group whose prefix matches it most specifically, so a record that gives "the MLP's
matrices" their own learning rate adds a group for `matrix.mlp` and leaves the `matrix` group alone.

The families the base and the catalogue use:
    embed.*    token, position, value and bigram tables     head       the LM head
    matrix.*   the blocks' projections (attn.qkv, attn.out, mlp.up, mlp.down)
    vector.*   biases and norm gains                         scalar.*   lambdas and skip weights
    gate.*     small learned gates (attn, value, skip, smear)
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn


def declare(module: nn.Module, **roles: str) -> nn.Module:
    """Declares the roles of `module`'s own parameters: declare(self, weight="matrix.mlp.up")."""
    table = module.__dict__.setdefault("_roles", {})
    table.update(roles)
    return module


class Linear(nn.Linear):
    """nn.Linear whose weight (and bias) carry a role, computed in the dtype of its input: a weight kept
    in fp32 (a master copy) is cast to the bf16 activations at use (records #10, #18's CastedLinear);
    where the dtypes already agree the cast is no operation."""

    def __init__(self, d_in: int, d_out: int, *, bias: bool, role: str):
        super().__init__(d_in, d_out, bias=bias)
        declare(self, weight=role, bias="vector.bias")

    def forward(self, x):
        bias = self.bias.type_as(x) if self.bias is not None else None
        return F.linear(x, self.weight.type_as(x), bias)


def param_roles(model: nn.Module) -> dict[str, str]:
    """Each parameter's role, by its name in `model` (a tied parameter once, under its first name)."""
    roles, seen = {}, set()
    for prefix, module in model.named_modules():
        declared = module.__dict__.get("_roles", {})
        for name, p in module.named_parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            full = f"{prefix}.{name}" if prefix else name
            if name not in declared:
                raise RoleError(f"parameter {full!r} ({type(module).__name__}) declares no role; the module that "
                                f"creates it must call remix.model.roles.declare(self, {name}=...)")
            roles[full] = declared[name]
    return roles


class RoleError(ValueError):
    pass


def matches(role: str, prefix: str) -> bool:
    return role == prefix or role.startswith(prefix + ".")


def owner(role: str, prefixes: dict[str, str]) -> str | None:
    """The group whose prefix matches `role` most specifically ({prefix: group}), or None."""
    best = max((p for p in prefixes if matches(role, p)), key=lambda p: p.count(".") + 1, default=None)
    return prefixes[best] if best is not None else None
