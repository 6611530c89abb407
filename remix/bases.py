"""Bases: the spec a recipe starts from before any ingredient is applied.

`llmc_gpt2` is the speedrun's starting point (record #1, 45 minutes): llm.c's GPT-2 small trainer.
GPT-2 small (12 layers, 768 wide, 12 heads of 64), LayerNorm with biases, learned absolute positions,
GELU, tied embedding and head, GPT-2 init (N(0, 0.02), residual projections scaled by 1/√(2·12)),
AdamW (lr 6e-4, betas 0.9/0.95, eps 1e-8, weight decay 0.1 on matrices only), gradient clipping at 1.0,
700 warm-up steps then a cosine to zero, 524,288 tokens per step as 8 × 64 sequences of 1,024 tokens,
bf16 autocast over fp32 weights, 19,560 steps, validation every 250 steps on the first 10,485,760
val tokens in independent 1,024-token rows with dense causal attention.
"""

from __future__ import annotations

from remix.registry import Registry
from remix.spec import OptimGroup, Spec

BASES: Registry = Registry("base")


@BASES.register("llmc_gpt2")
def llmc_gpt2() -> Spec:
    decay = ("embed", "head", "matrix", "gate")   # every table and matrix (remix.model.roles)
    adamw = dict(betas=(0.9, 0.95), eps=1e-8)
    return Spec(optim={
        "decay": OptimGroup("adamw", decay, 6e-4, {**adamw, "weight_decay": 0.1}),
        "no_decay": OptimGroup("adamw", ("vector", "scalar"), 6e-4, {**adamw, "weight_decay": 0.0}),
    })


def base_spec(name: str) -> Spec:
    return BASES.get(name)()
