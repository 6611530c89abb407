"""The GPT: inputs -> residual stream over the layers -> final norm -> head -> loss.

Every choice comes from the spec through a registry when the model is built (remix.slots); forward
has no branches on configuration that torch.compile would have to see.
"""

from __future__ import annotations

import torch
from torch import nn

from remix.model.head import padded_vocab
from remix.model.parts import Context, Hooks
from remix.model.roles import declare, param_roles
from remix.model.stream import Layer
from remix.slots import ATTENTION, HEADS, LOGITS, LOSSES, NORMS, PARTS, POSITIONS, STREAMS, build


class GPT(nn.Module):
    def __init__(self, model, bos_id: int):
        super().__init__()
        self.bos_id = bos_id
        # A tied table is the head's weight, padded rows included; an untied one holds the data's ids only.
        self.embed = nn.Embedding(padded_vocab(model) if model.tie_embeddings else model.vocab_size, model.d_model)
        declare(self.embed, weight="embed.token")
        self.positions = build(POSITIONS, model.positions, model)
        self.core = build(ATTENTION, model.attention, model, bos_id)
        self.parts = nn.ModuleDict({name: build(PARTS, c, model, name) for name, c in model.parts.items()})
        self.hooks = Hooks(dict(self.parts), model.n_layer)
        self.embed_norm = build(NORMS, model.norm, model.d_model, model.bias) if model.embed_norm else nn.Identity()
        self.blocks = nn.ModuleList(Layer(model, i, self.positions, self.core, self.hooks.layer[i])
                                    for i in range(model.n_layer))
        self.stream = build(STREAMS, model.stream, model)
        self.final_norm = build(NORMS, model.norm, model.d_model, model.bias)
        self.head = build(HEADS, model.head, model, self.embed)
        self.logits = build(LOGITS, model.logits, model)
        self.loss = build(LOSSES, model.loss, model)
        for part in self.parts.values():
            part.bind(self)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor, state: dict | None = None) -> torch.Tensor:
        state = state or {}
        ctx = Context(idx, state, masks=self.core.prepare(idx, state), bos_id=self.bos_id)
        e = self.embed(idx)
        for hook in self.hooks.at("embed"):
            e = hook(e, ctx)
        x = ctx.x0 = self.embed_norm(self.positions.embed(e))
        x = self.stream(x, self.blocks, self.hooks, ctx)
        for hook in self.hooks.at("end"):
            x = hook(x, ctx)
        return self.loss(self.final_norm(x), self.head, self.logits, targets, ctx)

    def param_roles(self) -> dict[str, str]:
        """Each parameter's role, as declared by the module that owns it (remix.model.roles)."""
        return param_roles(self)
