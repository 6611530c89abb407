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

Linear kinds. A weight that a module uses as a linear map (y = x·Wᵀ + b) may be computed by another
kind than the plain one (cast W to x's dtype, F.linear): an FP8 matmul with its scales, say. The spec
chooses kinds by role (model.linears.<name> = a LINEARS component with `roles`, most specific prefix
wins); `apply_linear_kinds` gives each matching weight its kind module once, when the model is built.
A kind is an nn.Module `kind(x, w, b) -> y` that may keep buffers (an FP8 copy of W, scales) and may
define `after_optimizer_step(step)`, which the optimizers call after every step (remix.optim).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def declare(module: nn.Module, **roles: str) -> nn.Module:
    """Declares the roles of `module`'s own parameters: declare(self, weight="matrix.mlp.up")."""
    table = module.__dict__.setdefault("_roles", {})
    table.update(roles)
    return module


def declare_linear(module: nn.Module, **kinds: str) -> nn.Module:
    """Declares which of `module`'s parameters it uses as a linear weight, and the attribute that holds
    that weight's kind (None: plain): declare_linear(self, qkv_w="qkv_kind")."""
    module.__dict__.setdefault("_linears", {}).update(kinds)
    for attr in kinds.values():
        if not hasattr(module, attr):
            setattr(module, attr, None)
    return module


def linear(x, w, b, kind):
    """y = x·Wᵀ + b by `kind`, or plainly: W (and b) cast to x's dtype, F.linear."""
    if kind is not None:
        return kind(x, w, b)
    return F.linear(x, w.type_as(x), b.type_as(x) if b is not None else None)


class Linear(nn.Linear):
    """nn.Linear whose weight (and bias) carry a role, computed in the dtype of its input: a weight kept
    in fp32 (a master copy) is cast to the bf16 activations at use (records #10, #18's CastedLinear);
    where the dtypes already agree the cast is no operation. `kind` (None: that plain computation) is
    set by apply_linear_kinds where the spec chooses another for this role."""

    def __init__(self, d_in: int, d_out: int, *, bias: bool, role: str):
        super().__init__(d_in, d_out, bias=bias)
        declare(self, weight=role, bias="vector.bias")
        declare_linear(self, weight="kind")

    def forward(self, x):
        return linear(x, self.weight, self.bias, self.kind)


def apply_linear_kinds(model: nn.Module, spec_model) -> list[str]:
    """Gives every declared linear weight whose role one of spec_model.linears selects (the most specific
    role prefix wins across all of them) its kind module; returns the weights' names."""
    if not spec_model.linears:
        return []
    from remix.slots import LINEARS
    prefixes = {}
    for name, c in spec_model.linears.items():
        for prefix in c.args.get("roles", ()):
            if prefix in prefixes:
                raise ValueError(f"role {prefix!r} is in two linear kinds: {prefixes[prefix]!r} and {name!r}")
            prefixes[prefix] = name
    done = []
    for mname, module in list(model.named_modules()):
        roles, linears = module.__dict__.get("_roles", {}), module.__dict__.get("_linears", {})
        for pname, attr in linears.items():
            chosen = owner(roles.get(pname, ""), prefixes)
            if chosen is None:
                continue
            c = spec_model.linears[chosen]
            w = getattr(module, pname)
            shape = (w.shape[:-1].numel(), w.shape[-1])   # (out, in); a stacked (3, out, in) is one matrix
            with torch.device(w.device):   # the kind's buffers (FP8 copies, scales) keep their own dtypes
                kind = LINEARS.get(c.name)(LINEARS.config(c.name, c.args), spec_model, roles[pname], shape)
            if hasattr(kind, "bind"):    # a kind that keeps state of the weight (an FP8 copy) is told where it is
                kind.bind(module, pname)
            setattr(module, attr, kind)
            done.append(f"{mname}.{pname}" if mname else pname)
    return done


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
