"""Components against their formulas: schedules at chosen steps, RoPE frequencies, the document mask."""

import math

import pytest
import torch

from remix.slots import LR_SCHEDULES
from remix.validate import load_components

load_components()


def schedule(name, steps, **args):
    return LR_SCHEDULES.get(name)(LR_SCHEDULES.config(name, args), steps)


def test_adamw_baseline_schedule():
    lr = schedule("stable_cooldown", 4375, warmup=256, cooldown_frac=0.3, floor=0.1)
    assert lr(0) == pytest.approx(1 / 256) and lr(255) == pytest.approx(1.0)
    assert lr(3062) == 1.0                       # constant through step 3062 ...
    assert lr(3063) < 1.0                        # ... the cooldown starts at 3063
    assert lr(4374) == pytest.approx(0.1 + 0.9 * (1 - 4374 / 4375) / 0.3)   # ≈ 0.1007
    assert lr(4374) == pytest.approx(0.1007, abs=1e-4)


def test_muon_baseline_schedule():
    lr = schedule("stable_cooldown", 2500, warmup=0, cooldown_frac=0.4, floor=0.1)
    assert lr(0) == 1.0 and lr(1499) == 1.0
    assert lr(2000) == pytest.approx(0.5 + 0.1 * 0.5)   # x = 0.8: w = 0.5
    assert lr(2499) == pytest.approx(0.1009, abs=1e-4)


def test_llmc_cosine():
    lr = schedule("cosine", 19560, warmup=700, final=0.0)
    assert lr(0) == pytest.approx(1 / 700) and lr(699) == pytest.approx(1.0)
    assert lr(700 + (19560 - 700) // 2) == pytest.approx(0.5, abs=1e-3)
    assert lr(19559) == pytest.approx(0.0, abs=1e-6)


def test_truncated_rope_frequencies():
    from ingredients.rope import frequencies
    w = frequencies("truncated", 128, 10000.0)
    assert w.shape == (64,) and w[0] == 1.0 and w[31] == pytest.approx(1 / 1024)
    assert w[1] == pytest.approx((1 / 1024) ** (1 / 31)) and torch.all(w[32:] == 0)
    s = frequencies("standard", 64, 10000.0)
    assert s[0] == 1.0 and s[-1] == pytest.approx(10000 ** (-31 / 32))


def test_rope_rotates_pairs_by_position():
    from ingredients.rope import Rotary, frequencies
    rot = Rotary(frequencies("standard", 8, 10000.0), max_len=16)
    x = torch.randn(1, 16, 2, 8, dtype=torch.float64)
    y, _ = rot.rotate(x, x)
    t, j = 5, 1
    theta = t * 10000 ** (-j / 4)
    x1, x2 = x[0, t, :, j], x[0, t, :, j + 4]
    assert torch.allclose(y[0, t, :, j], (x1 * math.cos(theta) + x2 * math.sin(theta)).float().double(), atol=1e-5)
    assert torch.allclose(y[0, t, :, j + 4], (x2 * math.cos(theta) - x1 * math.sin(theta)).float().double(),
                          atol=1e-5)
    assert torch.allclose(y[0, 0], x[0, 0].float().double())   # position 0 is not rotated


def test_document_mask_equals_brute_force():
    from ingredients.document_mask import DocumentCore
    bos, window, T = 9, 5, 40
    torch.manual_seed(0)
    idx = torch.randint(0, 9, (2, T))
    idx[idx == 3] = bos
    mask = DocumentCore({"long": window}, bos).prepare(idx, {})["long"][:, 0]
    for b in range(2):
        doc = [sum(int(idx[b, s] == bos) for s in range(t + 1)) for t in range(T)]
        for q in range(T):
            for k in range(T):
                assert bool(mask[b, q, k]) == (k <= q and q - k < window and doc[q] == doc[k])


def test_document_attention_matches_masked_softmax():
    from ingredients.document_mask import DocumentCore
    core = DocumentCore({"long": 4, "short": 2}, 0)
    idx = torch.tensor([[0, 5, 6, 0, 7, 8, 9, 1]])
    q, k, v = (torch.randn(1, 8, 2, 4, dtype=torch.float64) for _ in range(3))
    y = core(q, k, v, core.prepare(idx, {}), "long", 0.12)
    mask = core.prepare(idx, {})["long"][0, 0]
    scores = torch.einsum("qhd,khd->hqk", q[0], k[0]) * 0.12
    ref = torch.einsum("hqk,khd->qhd", scores.masked_fill(~mask, -math.inf).softmax(-1), v[0])
    assert torch.allclose(y[0], ref, atol=1e-10)
