"""Parts: what the speedrun added around the plain stack of blocks, each a registered module.

A part (a value embedding, a U-net skip, x0 mixing, a gate …) is named in `model.parts` and plugs
into the forward at fixed hook points. It overrides the hooks it needs; the model calls a hook only on
the layers the part attaches it to, and that choice is made once, when the model is built:

    embed(e, ctx)                 the raw token embedding, before the embedding norm   -> e
    before_layer(i, x, ctx)       the residual stream entering layer i                 -> x
    attn_in(i, x, ctx)            the attention's (normed) input, before projecting    -> x
    qkv(i, q, k, v, x, ctx)       projections of layer i (x: the attention's input)    -> q, k, v
    rotated(i, q, k, v, ctx)      the same after QK-norm and positions                 -> q, k, v
    attend(i, q, k, v, attn, ctx) computes layer i's attention in place of positions, the rotated
                                  hooks and the core (q, k after a QK-norm placed before positions;
                                  attn: the layer's Attention, whose pieces it may call); one part
                                  per layer at most (paired-head attention)                  -> y
    heads(i, y, ctx)              the core's output per head, before the out projection -> y
    attn_out(i, y, ctx)           the attention's output (B, T, d), before the stream adds it -> y
    after_layer(i, x, ctx)        the residual stream leaving layer i                  -> x
    end(x, ctx)                   the stream after the last layer, before the final norm -> x

Shapes: x (B, T, d); q, k, v, y (B, T, heads, head_dim). Several parts on one hook run in the order of
their `order` (then their order in the spec), so that x0 mixing sees the stream after a U-net skip was
added, as in the records. A part initialises its own parameters (`reset_parameters`) and declares
their roles (remix.model.roles).

The orders the catalogue uses (lower runs first on a shared hook), which reproduce the records' forward:
    10  U-net skips         before_layer: x + g·skip, before the x0 mix; after_layer: keeps the output
    20  x0 mixing           before_layer: a·x + b·x0
    30  value residual      qkv: keeps the first attention layer's raw v, then mixes
    40  value embeddings    qkv: mixes ve into v (after value residual kept the raw v); heads: λ1 (#48)
    50  the default         smear (embed), backout (after_layer keeps h, end subtracts it)
    90  attention gate      attn_in: reads the attention input after every other part changed it
A part leaves alone a layer that the layer plan empties (no attention, no MLP: #35's layer 0), as the
records' loop skipped it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

HOOKS = ("embed", "before_layer", "attn_in", "qkv", "rotated", "attend", "heads", "attn_out", "after_layer", "end")
LAYER_HOOKS = ("before_layer", "attn_in", "qkv", "rotated", "attend", "heads", "attn_out", "after_layer")


@dataclass
class Context:
    """What one forward pass shares between the model's pieces (built inside the compiled graph)."""
    idx: torch.Tensor                     # input tokens (B, T)
    state: dict[str, torch.Tensor]        # the step's values (device tensors): windows, loss weights …
    masks: Any = None                     # what the attention core prepared from the tokens
    x0: torch.Tensor | None = None        # the stream entering layer 0
    bos_id: int | None = None             # the data's document separator (parts that need documents)
    saved: dict[str, Any] = field(default_factory=dict)   # values parts pass between layers


class Part(nn.Module):
    order = 50   # lower runs first on a shared hook

    def attaches(self, hook: str, layer: int | None) -> bool:
        """Whether this part's `hook` runs at `layer` (None for the hooks outside the layers)."""
        return True

    def reset_parameters(self) -> None:
        """Initialises the part's parameters (called once, after the model is built)."""

    def bind(self, model) -> None:
        """Called once the model is built, for a part that reads another module's weights (the head's, say).
        Keep the reference out of the module tree: object.__setattr__(self, "_model", model)."""

    def embed(self, e, ctx):
        return e

    def before_layer(self, i, x, ctx):
        return x

    def attn_in(self, i, x, ctx):
        return x

    def qkv(self, i, q, k, v, x, ctx):
        return q, k, v

    def rotated(self, i, q, k, v, ctx):
        return q, k, v

    def attend(self, i, q, k, v, attn, ctx):
        raise NotImplementedError

    def heads(self, i, y, ctx):
        return y

    def attn_out(self, i, y, ctx):
        return y

    def after_layer(self, i, x, ctx):
        return x

    def end(self, x, ctx):
        return x


def overrides(part: Part, hook: str) -> bool:
    return getattr(type(part), hook) is not getattr(Part, hook)


class Hooks:
    """For each hook point (and layer), the parts' bound hook methods, in order. Plain Python lists built
    once: torch.compile traces straight through them."""

    def __init__(self, parts: dict[str, Part], n_layer: int):
        ordered = sorted(parts.values(), key=lambda p: p.order)   # stable: spec order breaks ties
        self.outside = {h: [getattr(p, h) for p in ordered if overrides(p, h) and p.attaches(h, None)]
                        for h in ("embed", "end")}
        self.layer = [{h: [getattr(p, h) for p in ordered if overrides(p, h) and p.attaches(h, i)]
                       for h in LAYER_HOOKS} for i in range(n_layer)]

    def at(self, hook: str, layer: int | None = None) -> list:
        return self.outside[hook] if layer is None else self.layer[layer][hook]


class LayerSet:
    """A part's `layers` argument: the indices it attaches to (negative counts from the end)."""

    def __init__(self, layers, n_layer: int, what: str):
        chosen = set()
        for i in layers:
            if not -n_layer <= i < n_layer:
                raise ValueError(f"{what}: layer {i} does not exist in a model of {n_layer} layers")
            chosen.add(i % n_layer)
        self.layers = frozenset(chosen)

    def __contains__(self, i) -> bool:
        return i in self.layers
