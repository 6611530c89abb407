"""FlexAttention BlockMasks built from block bounds (ingredient block_mask_from_bounds has the card).

For a mask causal ∧ same document ∧ distance < limit, with document ids that never decrease along a row,
which (query block, key block) tiles see some pair and which see every pair follows from each 128-token
block's first and last id: (T/128)² comparisons instead of the T² evaluations of create_block_mask, and
the same BlockMask.
"""

import torch

BLOCK = 128   # FlexAttention's tile: the granularity at which it skips or masks


def listed(tiles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, n, n) bool → the counts (B, 1, n) and the key-block indices (B, 1, n, n) of a BlockMask: each
    query block's listed key blocks first, in increasing order (as create_block_mask lists them)."""
    counts = tiles.sum(-1, dtype=torch.int32)
    order = torch.argsort(tiles.to(torch.int8), dim=-1, descending=True, stable=True)
    return counts[:, None], order.to(torch.int32)[:, None]


def block_mask_from_bounds(docs: torch.Tensor, limit, mask_mod, block_windows: bool = False):
    """The BlockMask of mask_mod = causal ∧ same document ∧ distance < limit, for docs (B, T) the document
    id of each position (non-decreasing, T a multiple of 128); limit in tokens, or in blocks with
    block_windows (distance counted between 128-token blocks)."""
    from torch.nn.attention.flex_attention import BlockMask
    T = docs.size(-1)
    lo, hi = docs[:, ::BLOCK], docs[:, BLOCK - 1::BLOCK]                 # (B, n): first and last id per block
    blocks = torch.arange(T // BLOCK, device=docs.device)
    d = blocks[:, None] - blocks[None, :]                                # query block − key block
    share_some = (lo[:, :, None] <= hi[:, None, :]) & (lo[:, None, :] <= hi[:, :, None])
    single = lo == hi
    share_all = single[:, :, None] & single[:, None, :] & (lo[:, :, None] == lo[:, None, :])
    if block_windows:
        near_some = near_all = d < limit
    else:
        near_some, near_all = d * BLOCK - (BLOCK - 1) < limit, d * BLOCK + (BLOCK - 1) < limit
    full = share_all & near_all & (d > 0)
    partial = share_some & near_some & (d >= 0) & ~full
    return BlockMask.from_kv_blocks(*listed(partial), *listed(full), BLOCK_SIZE=BLOCK, mask_mod=mask_mod,
                                    seq_lengths=(T, T))
