"""The model: a GPT assembled from registered components (see remix.slots)."""

from __future__ import annotations

import torch

from remix.model import attention, head, mlp, norms, positions, stream  # noqa: F401  (register the base)
from remix.model.gpt import GPT
from remix.model.head import padded_vocab
from remix.model.init import init_weights
from remix.model.roles import apply_linear_kinds, owner

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def build_model(model, *, bos_id: int, device: torch.device | str = "cpu") -> GPT:
    """Builds and initialises the model; on the meta device, shapes only (for counts and validation).

    Every parameter and buffer takes model.param_dtype, except parameters whose role a prefix in
    model.dtypes selects (the most specific prefix wins); then linear weights get the kinds that
    model.linears chooses for their roles (remix.model.roles)."""
    with torch.device(device):
        gpt = GPT(model, bos_id)
    if torch.device(device).type != "meta":
        init_weights(gpt, model)
    gpt = gpt.to(device=device, dtype=DTYPES[model.param_dtype])   # tables built on the CPU move here
    if model.dtypes:
        params = dict(gpt.named_parameters())
        prefixes = {p: p for p in model.dtypes}
        for name, role in gpt.param_roles().items():
            chosen = owner(role, prefixes)
            if chosen is not None:
                params[name].data = params[name].data.to(DTYPES[model.dtypes[chosen]])
    apply_linear_kinds(gpt, model)   # after the casts: a kind's buffers keep their own dtypes
    return gpt


__all__ = ["GPT", "build_model", "init_weights", "padded_vocab", "DTYPES"]
