"""block_mask_from_bounds: the BlockMask built from 128-token block bounds is create_block_mask's, field
for field, so FlexAttention runs the same tiles in the same order (the CPU builds both)."""

from __future__ import annotations

import pytest
import torch
from torch.nn.attention.flex_attention import create_block_mask

from ingredients.document_mask import DocumentCore
from remix.capability import kernels
from remix.model import build_model
from remix.model.block_masks import BLOCK, block_mask_from_bounds
from remix.recipe import RecipeError, load_recipe
from remix.runner import RunOptions, resolve_spec

from conftest import RECIPES, without_kernels

FIELDS = [("kv_num_blocks", "kv_indices"), ("full_kv_num_blocks", "full_kv_indices"),
          ("q_num_blocks", "q_indices"), ("full_q_num_blocks", "full_q_indices")]


def documents(seed: int, B: int, T: int, long_doc: bool) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    bos = torch.rand(B, T, generator=g) < 1 / 150          # documents of ~150 tokens
    if long_doc:
        bos[:, T // 4: 3 * T // 4] = False                   # and one spanning many blocks
    return bos.cumsum(-1)


def assert_same_mask(ref, got):
    for counts, indices in FIELDS:
        n = getattr(ref, counts)
        assert torch.equal(n, getattr(got, counts)), counts
        a, b = getattr(ref, indices), getattr(got, indices)
        for row in torch.nonzero(torch.ones_like(n, dtype=torch.bool)):   # the listed part of each row
            k = n[tuple(row)]
            assert torch.equal(a[tuple(row)][:k], b[tuple(row)][:k]), (indices, row.tolist())


@pytest.mark.parametrize("window, block_windows", [(1024, False), (300, False), (128, False), (129, False),
                                                   (1, False), (3, True), (1, True)])
@pytest.mark.parametrize("seed, long_doc", [(0, False), (1, True)])
def test_bounds_give_create_block_masks_mask(window, block_windows, seed, long_doc):
    B, T = 2, 16 * BLOCK
    docs = documents(seed, B, T, long_doc)
    limit = torch.tensor(window)   # a window schedule's device value

    def visible(b, h, q, k):
        distance = q // BLOCK - k // BLOCK if block_windows else q - k
        return (q >= k) & (distance < limit) & (docs[b, q] == docs[b, k])

    ref = create_block_mask(visible, B, None, T, T, device="cpu")
    assert_same_mask(ref, block_mask_from_bounds(docs, limit, visible, block_windows=block_windows))


def test_paired_head_positions_and_a_python_window_too():
    """paired_head_attention attends 2 positions per token (docs repeated); windows may be plain ints."""
    docs = documents(2, 1, 8 * BLOCK, False).repeat_interleave(2, dim=-1)
    T = docs.size(-1)

    def visible(b, h, q, k):
        return (q >= k) & (q - k < 700) & (docs[b, q] == docs[b, k])
    assert_same_mask(create_block_mask(visible, 1, None, T, T, device="cpu"),
                     block_mask_from_bounds(docs, 700, visible))


@pytest.mark.parametrize("block, T", [(0, 10 * BLOCK), (BLOCK, 10 * BLOCK), (8, 10 * BLOCK), (0, 1000)])
def test_document_cores_masks_are_the_same_built_either_way(block, T):
    """DocumentCore's FlexAttention masks (what a GPU forward builds), per window class, with the long and
    short windows as a schedule gives them (device tensors) and as positions of paired heads (slots 2)."""
    idx = torch.randint(1, 50, (2, T), generator=torch.Generator().manual_seed(4))
    idx[:, ::97] = 0
    windows = {"long": 640, "short": 320}
    pairs, bounds = (DocumentCore(windows, bos_id=0, block=block, mask_from=m) for m in ("pairs", "bounds"))
    assert bounds.bounds == (block in (0, BLOCK))   # block windows of another size: from pairs (the same mask)
    for slots in (1, 2):
        docs = bounds.documents(idx).repeat_interleave(slots, dim=-1)
        limits = {name: torch.tensor(bounds._limit(w)) for name, w in windows.items()}
        ref, got = pairs.flex_masks(docs, limits), bounds.flex_masks(docs, limits)
        for name in windows:
            assert_same_mask(ref[name], got[name])


def m_with(*names):
    r = without_kernels()
    for n in names:
        r = r.add(n)
    return resolve_spec(r, RunOptions(device="cpu", scale="tiny"))[0]


def test_the_ingredient_switches_document_masks_build_and_the_record_names_the_kernel():
    assert m_with().model.attention.args["mask_from"] == "pairs"
    spec = m_with("block_mask_from_bounds")
    assert spec.model.attention.args["mask_from"] == "bounds"
    assert kernels(build_model(spec.model, bos_id=256))["DocumentCore"] == "sdpa with a dense mask"   # a CPU
    with pytest.raises(RecipeError, match="block_mask_from_bounds builds document_mask's .*'varlen'"):
        m_with("varlen_attention", "block_mask_from_bounds")
    m = without_kernels().drop("document_mask")
    with pytest.raises(RecipeError, match="mask_from is pairs or bounds"):
        m.add("document_mask", options={"mask_from": "tokens"}).resolve()


def test_the_bounds_build_traces_as_one_graph():
    """On a GPU it runs inside the compiled forward: no graph break (dynamo, eager backend, on the CPU)."""
    import torch._dynamo
    docs = documents(3, 1, 8 * BLOCK, True)

    def visible(b, h, q, k):
        return (q >= k) & (q - k < 300) & (docs[b, q] == docs[b, k])

    def build(docs, limit):
        mask = block_mask_from_bounds(docs, limit, visible)
        return mask.kv_num_blocks, mask.full_kv_indices, mask.q_indices

    torch._dynamo.reset()
    traced = torch.compile(build, fullgraph=True, backend="eager")(docs, torch.tensor(300))
    for a, b in zip(traced, build(docs, torch.tensor(300))):
        assert torch.equal(a, b)
