"""Varlen attention: the row is packed documents, attended one document at a time with a sliding window.

What (model.attention = "varlen"): the mask of document_mask (a query sees a key only if the key is not
later, in the same document, and fewer than `window` tokens back, itself included), computed the way
FlashAttention-3's varlen kernel does in #29: the rows of a micro-batch are flattened into one packed
sequence, documents start at the dataset's BOS token (and at each row's start), and the kernel gets
their cumulative starts (cu_seqlens, int32) and a window of (window − 1, 0) tokens in the FA convention
(#29's window_size = (bm_size, 0) is window = bm_size + 1 here). cu_seqlens is built in the compiled
graph from the tokens with a fixed length of max_num_docs + 1 (torch.nonzero_static; unused entries are
empty documents at the end), so its shape never changes.
  * max_num_docs (0: #29's rule, the next multiple of 128 above tokens/300: 256 for a 65,536-token row;
    #78 tabled 64 / 96 / 128 for 16K / 32K / 48K-token rows). A micro-batch with more documents stops the
    run with a device-side assertion rather than merge them.
  * max_doc_len (0: the row length): the longest document the kernel must expect in training; a
    smaller bound is exact only when the loader cuts documents to it (bos_aligned's max_doc_len, which
    this ingredient copies when it finds it; #29: 2,048). Evaluation rows are never cut, so evaluation
    always takes the row length. The flash kernel launches (bound / 128) × documents × heads programs,
    most of which return at once: with unbounded documents in 64K-token rows that overhead can exceed the
    attention itself (benchmarks/kernels_check.py measures it).
Kernels (option `backend`; the attribute `kernel` of the core says which runs, for the run's record):
    "auto"     torch's own varlen attention (torch.nn.attention.varlen.varlen_attn: PyTorch's flash
               kernel, FA2 generation, bf16/fp16, head_dim ≤ 256) on a CUDA GPU when this torch has it
               with a window; otherwise FlexAttention with the same mask; on a CPU, dense
               scaled_dot_product_attention with the materialised mask (the reference path);
    "varlen"   as auto, but warns when it has to fall back;   "flex"   FlexAttention (CUDA).
  FlashAttention 3 itself (the records' kernel, Hopper-only, from the kernels hub or a source build) is
  not a package this project can install; the flash kernel torch ships computes the same function.
Where from: #29 (09/03/25, 2.731 min, 2025-09-03_FA3: FA3 varlen with document boundaries, window in
tokens), #38 (09/29/25, the kernels-hub build), #78 (03/22/26, 1.426 min, 2026-03-22_VarlenMaxDocs:
smaller max_num_docs).
Requires: document_mask (this replaces its kernel, keeping its windows). Math: the same as
document_mask's (the same mask; kernels differ in rounding order).
"""

import inspect
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from remix.ingredient import Provenance, ingredient
from remix.registry import tokens
from remix.model.attention import Core
from remix.slots import ATTENTION
from remix.spec import C

R29 = Provenance("29", "09/03/25", "2.731 minutes", "2025-09-03_FA3", "FlashAttention-3 varlen, document boundaries")
R38 = Provenance("38", "09/29/25", "2.476 minutes", "2025-09-29_PolarExpress", "FA3 from the kernels hub")
R78 = Provenance("78", "03/22/26", "1.426 minutes", "2026-03-22_VarlenMaxDocs", "max_num_docs by tokens per rank")

BACKENDS = ("auto", "varlen", "flex")


@dataclass(frozen=True)
class VarlenConfig:
    window: "int" = tokens(1024)               # keys a query may see, itself included (FA's left window + 1)
    short_window: "int | None" = tokens(None)  # the short layers' window; None: window // 2
    max_num_docs: "int" = 0            # documents per micro-batch the kernel is given room for (0: #29's rule)
    max_doc_len: "int" = tokens(0)     # longest training document (0: the row length)
    backend: "str" = "auto"

    def __post_init__(self):
        if self.window < 1 or (self.short_window is not None and self.short_window < 1):
            raise ValueError(f"windows must be at least 1 token, got {self.window} and {self.short_window}")
        if self.max_num_docs < 0 or self.max_doc_len < 0:
            raise ValueError(f"max_num_docs and max_doc_len must be ≥ 0, got {self.max_num_docs}, {self.max_doc_len}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")


def default_max_docs(tokens: int) -> int:
    """#29: the next multiple of 128 above tokens // 300 ('median doc length is ~400')."""
    return (tokens // 300 // 128 + 1) * 128


def varlen_kernel():
    """torch's varlen attention if this torch has it with a sliding window, else None."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    try:
        if "window_size" not in inspect.signature(varlen_attn).parameters:
            return None
    except (TypeError, ValueError):
        return None
    return varlen_attn


def cu_seqlens(idx: torch.Tensor, bos_id: int, max_docs: int) -> torch.Tensor:
    """Cumulative document starts of the flattened rows, (max_docs + 1,) int32: a document starts at a BOS
    token and at each row's start; unused entries repeat the total length (empty documents)."""
    B, T = idx.shape
    pos = torch.arange(T, device=idx.device)
    starts = ((idx == bos_id) | (pos == 0)).flatten()
    torch._assert_async(starts.sum() <= max_docs, "varlen attention: more documents than max_num_docs")
    first = torch.nonzero_static(starts, size=max_docs, fill_value=B * T)[:, 0]
    return torch.cat([first, first.new_full((1,), B * T)]).to(torch.int32)


class VarlenCore(Core):
    def __init__(self, cfg: VarlenConfig, windows: dict[str, int], bos_id: int, kernel: str):
        super().__init__()
        self.cfg, self.windows, self.bos_id = cfg, windows, bos_id
        self.kernel = kernel
        self.varlen = varlen_kernel() if kernel.startswith("varlen") else None

    def prepare(self, idx: torch.Tensor, state: dict):
        B, T = idx.shape
        if self.varlen is not None:
            max_docs = self.cfg.max_num_docs or default_max_docs(B * T)
            longest = self.cfg.max_doc_len if (self.training and self.cfg.max_doc_len) else T
            return cu_seqlens(idx, self.bos_id, max_docs), min(longest, T)
        docs = (idx == self.bos_id).cumsum(dim=-1)
        if self.kernel.startswith("flex"):
            from torch.nn.attention.flex_attention import create_block_mask

            def mask(window):
                def visible(b, h, q, k):
                    return (q >= k) & (q - k < window) & (docs[b, q] == docs[b, k])
                return create_block_mask(visible, B, None, T, T, device=idx.device)

            return {name: mask(w) for name, w in self.windows.items()}
        q = torch.arange(T, device=idx.device)
        same = docs[:, :, None] == docs[:, None, :]
        return {name: (same & (q[:, None] >= q[None, :]) & (q[:, None] - q[None, :] < w))[:, None]
                for name, w in self.windows.items()}   # (B, 1, T, T) per window class

    def forward(self, q, k, v, masks, window: str, scale: float) -> torch.Tensor:
        B, T, H, D = q.shape
        if self.varlen is not None:
            cu, longest = masks
            y = self.varlen(q.reshape(B * T, H, D), k.reshape(B * T, H, D), v.reshape(B * T, H, D), cu, cu,
                            longest, longest, scale=scale, window_size=(self.windows[window] - 1, 0))
            y = y[0] if isinstance(y, tuple) else y
            return y.view(B, T, H, D)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        if self.kernel.startswith("flex"):
            from torch.nn.attention.flex_attention import flex_attention
            y = flex_attention(q, k, v, block_mask=masks[window], scale=scale)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=masks[window], scale=scale)
        return y.transpose(1, 2)


def choose_kernel(cfg: VarlenConfig, device: torch.device) -> str:
    if device.type != "cuda":
        return "sdpa (dense masked reference)"
    if cfg.backend != "flex" and varlen_kernel() is not None:
        return "varlen_attn (torch flash)"
    if cfg.backend == "varlen":
        warnings.warn("varlen attention: this torch has no varlen_attn with a sliding window; "
                      "falling back to FlexAttention with the same mask")
    return "flex_attention"


@ATTENTION.register("varlen", config=VarlenConfig)
def varlen(cfg: VarlenConfig, model, bos_id: int) -> Core:
    windows = {"long": cfg.window}
    if model.layers.short_window:
        windows["short"] = cfg.short_window or cfg.window // 2
    return VarlenCore(cfg, windows, bos_id, choose_kernel(cfg, torch.get_default_device()))


@ingredient(name="varlen_attention", summary="document-causal sliding-window attention over packed documents "
            "(varlen flash kernel)", category="attention", provenance=(R29, R38, R78), options=VarlenConfig,
            requires=("document_mask",), refines=("document_mask",), math_equivalent=True, doc=__doc__)
def INGREDIENT(spec, window, short_window, max_num_docs, max_doc_len, backend):
    a = spec.model.attention
    if a.name == "document":   # keep document_mask's windows (the recipe's, scaled ones included)
        window = a.args.get("window", window)
        short_window = a.args.get("short_window", short_window)
    loader = spec.data.loader
    if not max_doc_len and loader.name == "bos_aligned":
        max_doc_len = loader.args.get("max_doc_len", 0) or 0
    return spec.set("model.attention", C("varlen", window=window, short_window=short_window,
                                         max_num_docs=max_num_docs, max_doc_len=max_doc_len, backend=backend))
