"""The model: a GPT assembled from registered components (see remix.components)."""

from __future__ import annotations

import torch

from remix.model import attention, layers  # noqa: F401  (registers the base components)
from remix.model.gpt import GPT, padded_vocab
from remix.model.init import init_weights
from remix.spec import ModelSpec

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def build_model(model: ModelSpec, *, bos_id: int, device: torch.device | str = "cpu") -> GPT:
    """Builds and initialises the model; on the meta device, shapes only (for counts and validation)."""
    with torch.device(device):
        gpt = GPT(model, bos_id)
    if torch.device(device).type != "meta":
        init_weights(gpt, model)
    return gpt.to(DTYPES[model.param_dtype])


__all__ = ["GPT", "build_model", "init_weights", "padded_vocab", "DTYPES"]
