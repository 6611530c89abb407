"""Optimizer state that keeps its own dtypes through load_state_dict.

torch.optim.Optimizer.load_state_dict casts every floating-point state tensor to its parameter's dtype
(and would turn an integer mantissa word of a bf16 parameter into bf16 numbers). Muon's fp32 momentum
and 16-bit mantissas, and remix_adam's fp32 or bf16 moments, are restored as they were saved instead
(record #56 overrode load_state_dict for the same reason).
"""

from __future__ import annotations

import torch


class KeepsStateDtypes:
    """Mixin for a torch.optim.Optimizer: load_state_dict restores state tensors in their saved dtype."""

    def load_state_dict(self, state_dict: dict) -> None:
        saved = state_dict["state"]
        params = {old: p for old_group, group in zip(state_dict["param_groups"], self.param_groups)
                  for old, p in zip(old_group["params"], group["params"])}
        super().load_state_dict(state_dict)
        for old, values in saved.items():
            p = params.get(old)
            if p is None:
                continue
            for key, value in values.items():
                if isinstance(value, torch.Tensor):
                    self.state[p][key] = value.to(device=p.device, copy=True)
