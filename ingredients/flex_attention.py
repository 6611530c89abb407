"""Long rows with document masking: FlexAttention over 64K-token rows, causal within each document,
with a sliding window of 1,024 tokens.

What: each device trains on one row of 65,536 tokens (the global batch stays 524,288); a query sees
a key only if it is not later, in the same document (documents start at the dataset's BOS token,
doc id = running count of BOS), and fewer than `window` tokens back. Validation uses the same rows
and mask. Learned position tables do not reach 64K: if this ingredient meets one, positions become
none (attention is still causal, so order is implicit) — which is what dropping `rope` from A or M means.
On CUDA the kernel is FlexAttention with a block mask rebuilt from the tokens every forward; on a CPU
(tiny runs) the same mask is materialised for scaled_dot_product_attention (same math).
Where from: #12 (an evaluation-protocol change too: before it, validation used independent 1,024-token
rows). Requires: nothing. Math: changes it.
"""

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from ingredients._records import R12
from remix.components import ATTENTION
from remix.ingredient import ingredient
from remix.model.attention import Core
from remix.spec import C


@dataclass(frozen=True)
class DocumentConfig:
    window: "int" = 1024

    def __post_init__(self):
        if self.window < 1:
            raise ValueError(f"window must be at least 1 token, got {self.window}")


class DocumentCore(Core):
    def __init__(self, window: int, bos_id: int):
        super().__init__()
        self.window, self.bos_id = window, bos_id

    def documents(self, idx: torch.Tensor) -> torch.Tensor:
        return (idx == self.bos_id).cumsum(dim=-1)

    def prepare(self, idx: torch.Tensor):
        docs = self.documents(idx)
        if not idx.is_cuda:
            q = torch.arange(idx.size(-1), device=idx.device)
            causal = (q[:, None] >= q[None, :]) & (q[:, None] - q[None, :] < self.window)
            return (causal & (docs[:, :, None] == docs[:, None, :]))[:, None]   # (B, 1, T, T)
        from torch.nn.attention.flex_attention import create_block_mask
        window = self.window

        def visible(b, h, q, k):
            return (q >= k) & (q - k < window) & (docs[b, q] == docs[b, k])

        T = idx.size(-1)
        return create_block_mask(visible, idx.size(0), None, T, T, device=idx.device)

    def forward(self, q, k, v, ctx, scale: float) -> torch.Tensor:
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        if isinstance(ctx, torch.Tensor):
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=ctx, scale=scale)
        else:
            from torch.nn.attention.flex_attention import flex_attention
            y = flex_attention(q, k, v, block_mask=ctx, scale=scale)
        return y.transpose(1, 2)


@ATTENTION.register("document", config=DocumentConfig)
def document(cfg: DocumentConfig, model, bos_id: int) -> Core:
    return DocumentCore(cfg.window, bos_id)


@ingredient(name="flex_attention", summary="64K-token rows, document-causal mask with a 1,024-token window",
            category="attention", provenance=R12, options={"window": 1024, "seq_len": 65536}, doc=__doc__)
def INGREDIENT(spec, window, seq_len):
    model = replace(spec.model, attention=C("document", window=window), max_len=seq_len)
    if model.positions.name == "learned":
        model = replace(model, positions=C("none"))
    train = replace(spec.train, seq_len=seq_len, device_batch=1)
    return replace(spec, model=model, train=train, eval=replace(spec.eval, seq_len=None, device_batch=None))
