"""Capabilities: what a component needs of the machine, checked before any training.

A registered component that cannot run without some hardware (FP8 tensor cores, Hopper) says so when it
registers: `@requires(FP8)` on its builder, under the registry's decorator. `check(spec, device)` walks
every component the spec names (remix.slots.slot_components) and raises a CapabilityError that names the
ingredient, the component and what it needs, before a model is built or a step is spent.

A component whose kernel has an exact fallback (a fused Triton kernel, a varlen attention core) needs
nothing: it falls back to its torch reference path and says which kernel runs in its `kernel` attribute;
`kernels(model)` collects them for the run's record.

An entry of `requires` may also be a function `(spec, cfg, device) -> str | None` for a requirement on
the spec on that device (a matrix dimension FP8 needs to be a multiple of 16): it returns what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Capability:
    name: str
    what: str                                   # what it needs, in words, for the error
    min_compute: tuple[int, int] | None = None  # a CUDA device of at least this compute capability
    torch_op: str | None = None                 # an attribute of torch the component calls

    def missing(self, device: str) -> str | None:
        """Why `device` lacks this capability, or None."""
        import torch
        if self.torch_op is not None and not hasattr(torch, self.torch_op):
            return f"torch {torch.__version__} has no torch.{self.torch_op}"
        if self.min_compute is not None:
            if not str(device).startswith("cuda") or not torch.cuda.is_available():
                return f"the device is {device!r}, not a CUDA GPU"
            have = torch.cuda.get_device_capability(torch.device(device))
            if tuple(have) < self.min_compute:
                name = torch.cuda.get_device_name(torch.device(device))
                return (f"{name} has compute capability {have[0]}.{have[1]}, "
                        f"below {self.min_compute[0]}.{self.min_compute[1]}")
        return None


FP8 = Capability("fp8", "FP8 tensor cores (a CUDA GPU of compute capability ≥ 8.9: Ada or Hopper) and "
                 "torch._scaled_mm", min_compute=(8, 9), torch_op="_scaled_mm")
HOPPER = Capability("hopper", "a Hopper GPU (CUDA compute capability ≥ 9.0)", min_compute=(9, 0))


class CapabilityError(RuntimeError):
    """A component the spec uses cannot run on this machine."""


def requires(*needs: Capability | Callable) -> Callable:
    """Marks a registry builder with what it needs: `@requires(FP8)` below `@HEADS.register(...)`."""
    def mark(build):
        build.requires = tuple(getattr(build, "requires", ())) + needs
        return build
    return mark


def ingredient_of(build) -> str:
    """The catalogue ingredient whose module registered `build` (or the module, for engine components)."""
    module = getattr(build, "__module__", "") or ""
    if module.startswith("ingredients."):
        import importlib
        ing = getattr(importlib.import_module(module), "INGREDIENT", None)
        if ing is not None:
            return ing.name
    return module or "?"


def problems(spec, device: str) -> list[str]:
    """Every requirement of the spec's components that `device` does not meet, as sentences."""
    from remix.slots import slot_components
    found = []
    for path, registry, component in slot_components(spec):
        if component.name not in registry:
            continue
        build = registry.get(component.name)
        needs = getattr(build, "requires", ())
        if not needs:
            continue
        cfg = registry.config(component.name, component.args)
        for need in needs:
            why = need.missing(device) if isinstance(need, Capability) else need(spec, cfg, device)
            if why:
                what = need.what if isinstance(need, Capability) else "its shape constraints"
                found.append(f"ingredient {ingredient_of(build)!r} ({path} = {component.name!r}) needs {what}: {why}")
    return found


def check(spec, device: str) -> None:
    """Raises CapabilityError listing every unmet requirement (call it before building anything)."""
    found = problems(spec, device)
    if found:
        raise CapabilityError("this machine cannot run the spec:\n  " + "\n  ".join(found))


def kernels(model, optimizers=()) -> dict[str, str]:
    """Which kernel each kernel-bearing component runs ({component type: kernel}), for the run's record;
    with the optimizers, also what Muon orthogonalises with where the orthogonaliser says (a kernel's)."""
    out: dict[str, str] = {}
    for module in model.modules():
        kernel = getattr(module, "kernel", None)
        if isinstance(kernel, str):
            out.setdefault(type(module).__name__, kernel)
    from remix.optim.orthogonalise import ORTHOGONALISERS
    for opt in optimizers:
        for group in opt.param_groups:
            name = group.get("orthogonaliser")
            kernel_on = getattr(ORTHOGONALISERS.get(name), "kernel", None) if name else None
            if kernel_on is not None and group["params"]:
                out.setdefault(f"{type(opt).__name__} {name}", kernel_on(group["params"][0].device))
    return out
