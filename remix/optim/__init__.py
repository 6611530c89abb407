"""Optimizers built from the spec's groups: parameters chosen by role, one torch optimizer per kind.

Post-step hooks: after every optimizer step, `Optimizers.step` calls each registered hook with the step
number (what an FP8 linear needs: re-quantise its weight copy, update delayed-scaling statistics; the
way torchtitan's converters have a post-optimizer hook). Every module of the model that defines
`after_optimizer_step(step)` is registered when the optimizers are built, and called once then (so its
state matches the initial weights), and again after a state restore (load_state_dicts)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
from torch import nn

from remix.slots import LR_SCHEDULES, MOMENTUM_SCHEDULES, OPTIMIZERS
from remix.optim import adam, muon, remix_adam, schedules  # noqa: F401  (registers the base components)
from remix.model.roles import owner
from remix.spec import OptimGroup, Spec


class PartitionError(ValueError):
    pass


def partition(roles: dict[str, str], groups: dict[str, OptimGroup]) -> dict[str, list[str]]:
    """Parameter names per group. A group lists role prefixes; a parameter goes to the group whose prefix
    matches its role most specifically (remix.model.roles), and every parameter must find one."""
    prefixes: dict[str, str] = {}
    for gname, g in groups.items():
        for prefix in g.roles:
            if prefix in prefixes:
                raise PartitionError(f"role {prefix!r} is in two optimizer groups: {prefixes[prefix]!r} and {gname!r}")
            prefixes[prefix] = gname
    out: dict[str, list[str]] = {g: [] for g in groups}
    for pname, role in roles.items():
        group = owner(role, prefixes)
        if group is None:
            raise PartitionError(f"parameter {pname!r} (role {role!r}) is in no optimizer group; "
                                 f"groups cover: {', '.join(sorted(prefixes)) or 'nothing'}")
        out[group].append(pname)
    return out


@dataclass
class Optimizers:
    """The run's optimizers and the schedules that drive their groups.

    A group that steps `every` k steps keeps accumulating its gradients in between (record #39: Adam on
    odd steps, on the sum of two steps' gradients); a paused group neither steps nor keeps its gradients
    (record #52's frozen scalars). Each group has an optimizer of its own, unless its optimizer batches
    work across groups (Muon: `spans_groups`), so groups can step on their own rhythm."""
    optimizers: list[torch.optim.Optimizer]
    lr_multiplier: Callable[[int], float]
    momentum: Callable[[int], float] | None
    every: list[int] = field(default_factory=list)          # per optimizer
    names: list[tuple[str, ...]] = field(default_factory=list)  # the groups each optimizer holds
    paused_until: dict[str, int] = field(default_factory=dict)  # group -> first step it steps again
    hooks: list[Callable[[int], None]] = field(default_factory=list)   # called with the step, after it
    current_step: int = 0

    def register_post_step(self, hook: Callable[[int], None]) -> None:
        self.hooks.append(hook)

    def run_hooks(self) -> None:
        for hook in self.hooks:
            hook(self.current_step)

    def set_step(self, step: int) -> None:
        self.current_step = step
        mult = self.lr_multiplier(step)
        m = self.momentum(step) if self.momentum is not None else None
        for opt in self.optimizers:
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * mult
                if m is not None and "momentum" in group:
                    group["momentum"] = m

    def step(self, step: int) -> None:
        for opt, every, names in zip(self.optimizers, self.every, self.names):
            if any(self.paused_until.get(n, 0) > step for n in names):
                opt.zero_grad(set_to_none=True)      # frozen: the gradients are discarded
            elif (step + 1) % every == 0:
                opt.step()
                opt.zero_grad(set_to_none=True)
        if self.hooks:
            with torch.no_grad():
                self.run_hooks()

    def pause(self, group: str, until: int) -> None:
        self.paused_until[group] = until

    def zero_grad(self) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)

    def state_dicts(self) -> list[dict]:
        return [opt.state_dict() for opt in self.optimizers]

    def load_state_dicts(self, states: list[dict]) -> None:
        for opt, state in zip(self.optimizers, states):
            opt.load_state_dict(state)
        self.paused_until.clear()
        self.current_step = 0   # a restore starts the run over: hooks see the weights as they are now
        if self.hooks:
            with torch.no_grad():
                self.run_hooks()


# Optimizer arguments that describe the model rather than the optimizer (a Muon view needs the head size):
# left None in the spec, they are filled from the model spec when the optimizer is built, so they follow
# --scale and any override of the model.
FROM_MODEL = ("head_dim",)


def from_model(args: dict, model) -> dict:
    return {k: (getattr(model, k) if k in FROM_MODEL and v is None else v) for k, v in args.items()}


def build_optimizers(model: nn.Module, spec: Spec, *, world: int = 1, rank: int = 0) -> Optimizers:
    params = dict(model.named_parameters())
    names = partition(model.param_roles(), spec.optim)
    instances: dict[tuple, list[dict]] = {}
    for gname, g in spec.optim.items():
        if not names[gname]:
            continue   # an empty group (M's scalar group) trains nothing
        cfg = OPTIMIZERS.config(g.optimizer, g.args)
        group = {"name": gname, "params": [params[n] for n in names[gname]], "lr": g.lr, "initial_lr": g.lr,
                 **(from_model(asdict(cfg), spec.model) if cfg is not None else {})}
        shared = getattr(OPTIMIZERS.get(g.optimizer), "spans_groups", False)
        instances.setdefault((g.optimizer, g.every, None if shared else gname), []).append(group)
    optimizers = [OPTIMIZERS.get(kind)(groups, world=world, rank=rank) for (kind, _, _), groups in instances.items()]
    every = [k for (_, k, _) in instances]
    held = [tuple(g["name"] for g in groups) for groups in instances.values()]
    total = spec.train.steps
    lr = LR_SCHEDULES.get(spec.schedule.lr.name)(LR_SCHEDULES.config(spec.schedule.lr.name, spec.schedule.lr.args),
                                                 total)
    mom_c = spec.schedule.momentum
    momentum = MOMENTUM_SCHEDULES.get(mom_c.name)(MOMENTUM_SCHEDULES.config(mom_c.name, mom_c.args), total)
    out = Optimizers(optimizers, lr, momentum, every, held)
    for module in model.modules():
        hook = getattr(module, "after_optimizer_step", None)
        if callable(hook):
            out.register_post_step(hook)
    if out.hooks:
        with torch.no_grad():
            out.run_hooks()
    return out
