"""Document masking with a sliding window, through FlexAttention: a query sees a key only if the key is
not later, in the same document, and fewer than `window` tokens back.

What: documents start at the dataset's BOS token (doc id = running count of BOS in the row). Layers the
layer plan marks short use `short_window` tokens (default: half the window, as #20's long/short rule).
With `block` > 0 the window counts whole blocks of that many tokens, as the hand-built block masks of
#16–#28 did: a query in block i sees keys in blocks i − n + 1 … i (causal within its own block), n =
window / block. A window schedule (schedule.state: window warm-up, stages) replaces the fixed windows
by step values `window` and `window_short` (tokens), read as device tensors: no recompile when they grow.
On CUDA the kernel is FlexAttention with block masks rebuilt from the tokens every forward (option
mask_from: "pairs", create_block_mask evaluating the mask on every token pair, as #12 and the remixed
baselines; "bounds", from each 128-token block's document ids: block_mask_from_bounds); on a CPU (tiny
runs) the same masks are materialised for scaled_dot_product_attention (same math). Validation uses the
same masks.
Where from: #12 (FlexAttention with a document mask and a 1,024-token window, together with 64K-token
rows: see long_rows; an evaluation-protocol change too); A and M keep the token-exact window of 1,024.
Requires: nothing. Math: changes it.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ingredients._records import R12
from remix.slots import ATTENTION
from remix.ingredient import ingredient
from remix.registry import tokens
from remix.model.attention import Core
from remix.model.block_masks import BLOCK, block_mask_from_bounds
from remix.spec import C


@dataclass(frozen=True)
class DocumentConfig:
    window: "int" = tokens(1024)              # tokens a query may look back (itself included)
    short_window: "int | None" = tokens(None)  # the short layers' window; None: window // 2
    block: "int" = tokens(0)                  # 0: windows count tokens; > 0: whole blocks of this many tokens
    mask_from: "str" = "pairs"                # how FlexAttention's BlockMask is built: pairs | bounds

    def __post_init__(self):
        if self.window < 1 or (self.short_window is not None and self.short_window < 1) or self.block < 0:
            raise ValueError(f"windows must be at least 1 token and block ≥ 0, got {self.window}, "
                             f"{self.short_window} and {self.block}")
        if self.mask_from not in ("pairs", "bounds"):
            raise ValueError(f"mask_from is pairs or bounds, got {self.mask_from!r}")


class DocumentCore(Core):
    STATE_KEYS = {"long": "window", "short": "window_short"}   # step values that replace the fixed windows

    def __init__(self, windows: dict[str, int], bos_id: int, block: int = 0, mask_from: str = "pairs"):
        super().__init__()
        self.windows, self.bos_id, self.block = windows, bos_id, block
        # block bounds where FlexAttention's tiles are the window's blocks too (token windows, or 128-token blocks)
        self.bounds = mask_from == "bounds" and block in (0, BLOCK)
        self.kernel = "sdpa with a dense mask" if torch.get_default_device().type != "cuda" else \
            "flex_attention, BlockMask from " + ("block bounds (rows of whole 128-token blocks)" if self.bounds else
                                                 "token pairs")

    def documents(self, idx: torch.Tensor) -> torch.Tensor:
        return (idx == self.bos_id).cumsum(dim=-1)

    def _distance(self, q, k):
        """How far back a key is, in the unit windows count (tokens, or blocks)."""
        return q // self.block - k // self.block if self.block else q - k

    def _limit(self, window):
        return window // self.block if self.block else window

    def prepare(self, idx: torch.Tensor, state: dict, slots: int = 1):
        """Masks per window class. With slots > 1 each token owns that many consecutive positions of the
        attended sequence (T·slots long; paired heads: 2), all in the token's document, and a window
        counts positions, not tokens (as #58 gives FA3 doubled cu_seqlens and the same window)."""
        docs = self.documents(idx)
        if slots > 1:
            docs = docs.repeat_interleave(slots, dim=-1)
        windows = {name: self._limit(state.get(self.STATE_KEYS[name], w)) for name, w in self.windows.items()}
        if not idx.is_cuda:
            q = torch.arange(docs.size(-1), device=idx.device)
            same = docs[:, :, None] == docs[:, None, :]
            near = self._distance(q[:, None], q[None, :])
            return {name: (same & (q[:, None] >= q[None, :]) & (near < w))[:, None]
                    for name, w in windows.items()}   # (B, 1, T, T) per window class
        return self.flex_masks(docs, windows)

    def flex_masks(self, docs: torch.Tensor, windows: dict) -> dict:
        """FlexAttention BlockMasks per window class (windows in the unit _distance counts), for docs (B, T)."""
        from torch.nn.attention.flex_attention import create_block_mask
        B, T = docs.shape
        bounds = self.bounds and T % BLOCK == 0   # otherwise the same mask, from every pair

        def mask(limit):
            def visible(b, h, q, k):
                return (q >= k) & (self._distance(q, k) < limit) & (docs[b, q] == docs[b, k])
            if bounds:
                return block_mask_from_bounds(docs, limit, visible, block_windows=self.block > 0)
            return create_block_mask(visible, B, None, T, T, device=docs.device)

        return {name: mask(w) for name, w in windows.items()}

    def forward(self, q, k, v, masks, window: str, scale: float) -> torch.Tensor:
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        mask = masks[window]
        if isinstance(mask, torch.Tensor):
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
        else:
            from torch.nn.attention.flex_attention import flex_attention
            y = flex_attention(q, k, v, block_mask=mask, scale=scale)
        return y.transpose(1, 2)


@ATTENTION.register("document", config=DocumentConfig)
def document(cfg: DocumentConfig, model, bos_id: int) -> Core:
    windows = {"long": cfg.window}
    if model.layers.short_window:   # masks only for the window classes some layer uses
        windows["short"] = cfg.short_window or cfg.window // 2
    return DocumentCore(windows, bos_id, cfg.block, cfg.mask_from)


@ingredient(name="document_mask", summary="document-causal attention with a 1,024-token sliding window",
            category="attention", provenance=R12, options=DocumentConfig, doc=__doc__)
def INGREDIENT(spec, window, short_window, block, mask_from):
    return spec.set("model.attention", C("document", window=window, short_window=short_window, block=block,
                                         mask_from=mask_from))
