"""Block mask from block bounds: document_mask's FlexAttention BlockMask built from each 128-token block's
first and last document id, instead of by evaluating the mask on every (query, key) pair.

What (document_mask's option mask_from = "bounds"): FlexAttention skips (query block, key block) tiles
that see nothing, runs the mask function only on partial tiles, and none on full ones; create_block_mask
finds which is which by evaluating the mask on all T² pairs (a 65,536-token row: 4.3·10⁹ evaluations, one
5.1 ms kernel per step on an H200, `benchmarks/results/h200_2026-12-02c/prof_M.txt`, in A and M alike).
Document ids never decrease along a row, so with lo_i, hi_i the ids at block i's first and last token and
d = i − j the distance in blocks, for a query block i and a key block j:
    some pair is visible  ⇔  d ≥ 0 and lo_i ≤ hi_j and lo_j ≤ hi_i and d·128 − 127 < window
    every pair is         ⇔  d > 0 and lo_i = hi_i = lo_j = hi_j and d·128 + 127 < window
(windows of whole blocks, document_mask's block = 128: d < window in blocks, for both). That is the
classification create_block_mask computes, from (T/128)² comparisons: the BlockMask is the same, tile for
tile and in the same order (tests/test_block_mask.py compares every field on random documents), so the
attention kernel does exactly the same work on the same tiles.
Kernel: FlexAttention on CUDA, where masks are built per forward (remix.model.block_masks); on a CPU
document_mask materialises dense masks and this option changes nothing. Block windows of another size
than 128 tokens keep create_block_mask (the same mask; the run's record says "from token pairs"), and
so do rows whose length is not a multiple of 128 (the record still says "block bounds (rows of whole
128-token blocks)": the length is only known at the forward).
Where from: #15 (12/08/24, 3.95 min, 2024-12-08_UNetValueEmbedsTweaks: the BlockMask built by hand from
the 128-token blocks' first and last document ids, every block within ⌈window/128⌉ listed as partial), #16
(12/10/24, 3.80 min, 2024-12-10_MFUTweaks: full and partial blocks listed apart); every FlexAttention
record after them (to #28) kept it, and #29 replaced FlexAttention by varlen_attention. The remixed
baselines' scripts (train_gpt_A.py, train_gpt_M.py) call create_block_mask, as #12 did; remix's A and M
recipes close with this ingredient (one H200: −3.5 ms/step on M, −2.9 on A,
benchmarks/results/h200_2026-12-03).
Requires: document_mask. Math: the same (the same mask, the same tiles).
"""

from ingredients._records import R15
from remix.ingredient import Provenance, ingredient
from remix.spec import SpecError

R16 = Provenance("16", "12/10/24", "3.80 minutes", "2024-12-10_MFUTweaks", "full and partial mask blocks apart")


@ingredient(name="block_mask_from_bounds", summary="document mask's BlockMask from 128-token block bounds, "
            "not from every token pair", category="systems", provenance=(R15, R16), requires=("document_mask",),
            refines=("document_mask",), math_equivalent=True, doc=__doc__)
def INGREDIENT(spec):
    if spec.model.attention.name != "document":
        raise SpecError("model.attention", f"block_mask_from_bounds builds document_mask's FlexAttention masks; "
                                           f"the attention here is {spec.model.attention.name!r} (put it before "
                                           f"the ingredient that replaced document_mask's core, or drop it)")
    return spec.set("model.attention.mask_from", "bounds")
