"""remix's own Adam ("remix_adam"), for the records that changed Adam; torch's fused Adam stays for A and M.

Per parameter, per step t (η = the group's scheduled lr, g the gradient cast to the state's dtype):

    m ← β₁·m + (1−β₁)·g,   v ← β₂·v + (1−β₂)·g²
    u = η/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + eps)                  torch.optim.Adam's form of the step
    coptim s > 0 (#87):  keep = [u·g > 0], k̄ = max(mean(keep), floor),  u ← u + s·(u·keep/k̄ − u)
    decay "decoupled":   p ← p·(1 − η·wd·wd_mul) − u         (AdamW; nothing at weight_decay 0)
    decay "cautious":    p ← p − (u + η²·wd·wd_mul·[u·p > 0]·p)   (#50 with ≥, #53 on with >)

State dtype (#32, #56): "param" (torch's: the parameter's dtype), "float32" or "bfloat16"; the update is
computed in the state's dtype (fp32 at least for the master add) and written to the parameter once.
The records' DistAdam adds eps to √v before the bias correction (eps·√(1−β₂ᵗ) here): immaterial at their
eps of 1e-8/1e-10, and this form keeps remix_adam with no record option the same math as torch's Adam.

The step is one function of lists of tensors (foreach ops, step-varying numbers as 0-dim tensors), so on
CUDA it is compiled once per group (static shapes; `compile = false` turns it off).
"""

from __future__ import annotations

import math
import types
from dataclasses import asdict, dataclass, replace

import torch

from remix.optim.state import KeepsStateDtypes
from remix.slots import OPTIMIZERS
from remix.spec import OptimGroup

STATE_DTYPES = {"param": None, "float32": torch.float32, "bfloat16": torch.bfloat16}
DECAYS = ("decoupled", "cautious")


@dataclass(frozen=True)
class RemixAdamConfig:
    betas: "tuple[float, float]" = (0.9, 0.999)
    eps: "float" = 1e-8
    weight_decay: "float" = 0.0
    decay: "str" = "decoupled"        # decoupled (AdamW) | cautious (#50)
    wd_mul: "float" = 1.0             # per-label decay multiplier (#55: embed/head 150, value embeds 5, scalars 0)
    cautious_strict: "bool" = True    # mask [u·p > 0] (#53 on) or [u·p ≥ 0] (#50–#52)
    state_dtype: "str" = "param"      # param | float32 (#56) | bfloat16 (#32)
    coptim: "float" = 0.0             # #87's sign-agreement strength (0.5 there); 0: off
    coptim_floor: "float" = 1e-3
    compile: "bool" = True            # compile the step on CUDA

    def __post_init__(self):
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if self.eps <= 0 or self.weight_decay < 0 or self.wd_mul < 0:
            raise ValueError(f"expected eps > 0, weight_decay ≥ 0, wd_mul ≥ 0; got {self.eps}, "
                             f"{self.weight_decay}, {self.wd_mul}")
        if self.decay not in DECAYS:
            raise ValueError(f"decay must be one of {', '.join(DECAYS)}, got {self.decay!r}")
        if self.state_dtype not in STATE_DTYPES:
            raise ValueError(f"state_dtype must be one of {', '.join(STATE_DTYPES)}, got {self.state_dtype!r}")
        if not 0 <= self.coptim <= 1 or not 0 < self.coptim_floor <= 1:
            raise ValueError(f"expected 0 ≤ coptim ≤ 1 and 0 < coptim_floor ≤ 1, got {self.coptim}, "
                             f"{self.coptim_floor}")


def adam_step(params, grads, exp_avgs, exp_avg_sqs, hp, *, beta1: float, beta2: float, eps: float,
              decay: str, strict: bool, coptim: float, floor: float) -> None:
    """One step for lists of tensors. hp (float32, on the parameters' device) = [η/(1−β₁ᵗ), √(1−β₂ᵗ),
    the decay factor]: 1 − η·wd·wd_mul (decoupled) or η²·wd·wd_mul (cautious)."""
    step_size, bc2_sqrt, decay_factor = hp.unbind()
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
    denom = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_div_(denom, bc2_sqrt)
    torch._foreach_add_(denom, eps)
    updates = torch._foreach_div(exp_avgs, denom)
    torch._foreach_mul_(updates, step_size)
    for p, g, u in zip(params, grads, updates):
        if coptim:
            keep = (u * g > 0).to(u.dtype)
            mean_keep = keep.float().mean().clamp_min(floor).to(u.dtype)
            u = u + coptim * (u * keep / mean_keep - u)
        acc = torch.promote_types(u.dtype, p.dtype)
        x = p.to(acc)
        if decay == "cautious":
            product = u.to(acc) * x
            mask = (product > 0) if strict else (product >= 0)
            x = x - (u.to(acc) + decay_factor * mask.to(acc) * x)
        else:
            x = x * decay_factor - u.to(acc)
        p.copy_(x)


class RemixAdam(KeepsStateDtypes, torch.optim.Optimizer):
    """Adam with the records' changes (see the module's docstring); groups carry RemixAdamConfig's fields."""

    def __init__(self, params, lr: float = 1e-3, **config):
        defaults = {"lr": lr, **asdict(RemixAdamConfig(**config))}
        self._compiled: dict[int, object] = {}   # per group
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for i, group in enumerate(self.param_groups):
            self._step_group(i, group)
        return loss

    def _step_group(self, index: int, group: dict) -> None:
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        beta1, beta2 = group["betas"]
        states = []
        for p in params:
            state = self.state[p]
            if "step" not in state:   # created on first use, so a restored empty state starts from zero
                dtype = STATE_DTYPES[group["state_dtype"]] or p.dtype
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(p, dtype=dtype)
                state["exp_avg_sq"] = torch.zeros_like(p, dtype=dtype)
            state["step"] += 1
            states.append(state)
        steps = {s["step"] for s in states}
        if len(steps) != 1:
            raise RuntimeError(f"remix_adam group {group.get('name', '?')!r}: its parameters are at different "
                               f"steps {sorted(steps)} (a parameter without a gradient on some step)")
        t = steps.pop()
        lr, wd = group["lr"], group["weight_decay"] * group["wd_mul"]
        factor = lr * lr * wd if group["decay"] == "cautious" else 1 - lr * wd
        exp_avgs = [s["exp_avg"] for s in states]
        hp = torch.tensor([lr / (1 - beta1 ** t), math.sqrt(1 - beta2 ** t), factor],
                          dtype=torch.promote_types(exp_avgs[0].dtype, torch.float32), device=params[0].device)
        grads = [p.grad if p.grad.dtype == m.dtype else p.grad.to(m.dtype) for p, m in zip(params, exp_avgs)]
        fn = adam_step
        if group["compile"] and params[0].is_cuda:
            if index not in self._compiled:
                self._compiled[index] = torch.compile(own_copy(adam_step), dynamic=False)
            fn = self._compiled[index]
        fn(params, grads, exp_avgs, [s["exp_avg_sq"] for s in states], hp, beta1=beta1, beta2=beta2,
           eps=group["eps"], decay=group["decay"], strict=group["cautious_strict"], coptim=group["coptim"],
           floor=group["coptim_floor"])


def own_copy(fn):
    """The same function with a code object of its own: dynamo keeps its compiled variants (and counts its
    recompile limit) per code object, so each group's static shapes and constants get their own cache."""
    return types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


@OPTIMIZERS.register("remix_adam", config=RemixAdamConfig)
def remix_adam(groups: list[dict], *, world: int, rank: int) -> torch.optim.Optimizer:
    """Every rank steps every parameter on the all-reduced gradients, as torch's Adam does."""
    return RemixAdam(groups)


ADAM_KINDS = ("adam", "adamw", "remix_adam")


def as_remix_adam(group: OptimGroup, **changes) -> OptimGroup:
    """An Adam/AdamW group as a remix_adam group with the same math, then `changes` to its arguments."""
    if group.optimizer == "remix_adam":
        return replace(group, args={**group.args, **changes})
    if group.optimizer not in ("adam", "adamw"):
        raise ValueError(f"not an Adam group: optimizer {group.optimizer!r}")
    args = dict(group.args)
    if group.optimizer == "adam" and args.get("weight_decay", 0.0):
        raise ValueError("torch Adam's weight decay is L2 (added to the gradient); remix_adam decays "
                         f"decoupled: a group with weight_decay {args['weight_decay']} cannot be converted")
    return OptimGroup("remix_adam", group.roles, group.lr, {**args, **changes})
