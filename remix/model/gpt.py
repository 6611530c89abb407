"""The GPT: token embedding -> blocks of (attention, MLP) with pre-norm residuals -> head -> loss.

Every choice comes from the spec through a registry when the model is built; forward has no
branches on configuration that torch.compile would have to see.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from remix.components import ACTIVATIONS, ATTENTION, LOGITS, NORMS, POSITIONS
from remix.model.attention import Attention
from remix.spec import ModelSpec


def padded_vocab(model: ModelSpec) -> int:
    m = model.vocab_multiple
    return (model.vocab_size + m - 1) // m * m


def build(registry, component, *args):
    return registry.get(component.name)(registry.config(component.name, component.args), *args)


class MLP(nn.Module):
    def __init__(self, model: ModelSpec):
        super().__init__()
        self.up = nn.Linear(model.d_model, model.mlp_hidden, bias=model.bias)
        self.act = ACTIVATIONS.get(model.activation)(None)
        self.down = nn.Linear(model.mlp_hidden, model.d_model, bias=model.bias)

    def forward(self, x):
        return self.down(self.act(self.up(x)))


class Block(nn.Module):
    def __init__(self, model: ModelSpec, positions, core):
        super().__init__()
        self.attn_norm = build(NORMS, model.norm, model.d_model, model.bias)
        self.attn = Attention(model, positions, core)
        self.mlp_norm = build(NORMS, model.norm, model.d_model, model.bias)
        self.mlp = MLP(model)

    def forward(self, x, ctx):
        x = x + self.attn(self.attn_norm(x), ctx)
        return x + self.mlp(self.mlp_norm(x))


class GPT(nn.Module):
    def __init__(self, model: ModelSpec, bos_id: int):
        super().__init__()
        self.spec = model
        vocab_out = padded_vocab(model)
        # A tied table is the head's weight, padded rows included; an untied one holds the data's ids only.
        self.embed = nn.Embedding(vocab_out if model.tie_embeddings else model.vocab_size, model.d_model)
        self.positions = build(POSITIONS, model.positions, model)
        self.core = build(ATTENTION, model.attention, model, bos_id)
        self.embed_norm = build(NORMS, model.norm, model.d_model, model.bias) if model.embed_norm else nn.Identity()
        self.blocks = nn.ModuleList(Block(model, self.positions, self.core) for _ in range(model.n_layer))
        self.final_norm = build(NORMS, model.norm, model.d_model, model.bias)
        self.head = nn.Linear(model.d_model, vocab_out, bias=False)
        if model.tie_embeddings:
            self.head.weight = self.embed.weight
        self.logits = build(LOGITS, model.logits, model)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        ctx = self.core.prepare(idx)
        x = self.embed_norm(self.positions.embed(self.embed(idx)))
        for block in self.blocks:
            x = block(x, ctx)
        logits = self.logits(self.head(self.final_norm(x)).float())
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)

    def param_roles(self) -> dict[str, str]:
        """Each parameter's role, which optimizer groups select by: embed, positions, head, matrix, vector."""
        roles = {}
        for name, p in self.named_parameters():
            if name == "embed.weight":
                roles[name] = "embed"
            elif name.startswith("positions."):
                roles[name] = "positions"
            elif name == "head.weight":
                roles[name] = "head"
            elif name.startswith("blocks.") and p.ndim >= 2:
                roles[name] = "matrix"
            else:
                roles[name] = "vector"
        return roles
