"""The data layer: shard format, datasets by source, the embedded corpus, and both loaders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import remix.data.loaders  # noqa: F401  (registers the loaders)
from remix.slots import LOADERS
from remix.data import DataError, load_tokens, open_dataset, read_header, write_shard
from remix.data.shards import HEADER_BYTES, MAGIC

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


# -- shards -------------------------------------------------------------------------------------------

def test_shard_round_trip(tmp_path):
    tokens = np.array([0, 1, 50256, 65535, 7], dtype=np.int64)
    path = write_shard(tmp_path / "x_train_000001.bin", tokens)
    head = read_header(path)
    assert head["tokens"] == 5 and head["bytes"] == HEADER_BYTES + 10
    header = np.frombuffer(path.read_bytes()[:HEADER_BYTES], dtype="<i4")
    assert list(header[:3]) == [MAGIC, 1, 5] and not header[3:].any()
    assert load_tokens(path).tolist() == tokens.tolist()
    assert not list(tmp_path.glob(".*"))  # no temp file left behind


def test_write_refuses_ids_that_do_not_fit_uint16(tmp_path):
    with pytest.raises(DataError, match="65535"):
        write_shard(tmp_path / "a.bin", [1, 65536])
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-2], "truncated"),
    (lambda b: b + b"\0\0", "trailing"),
    (lambda b: b[:100], "shorter than the 1024-byte header"),
    (lambda b: np.int32(123).tobytes() + b[4:], "magic number 123"),
    (lambda b: b[:4] + np.int32(7).tobytes() + b[8:], "version 7"),
])
def test_bad_shard_is_a_data_error_naming_the_file(tmp_path, damage, message):
    path = write_shard(tmp_path / "bad_val_000000.bin", np.arange(100))
    path.write_bytes(damage(path.read_bytes()))
    for read in (read_header, load_tokens):
        with pytest.raises(DataError, match=message) as e:
            read(path)
        assert str(path) in str(e.value)


def test_missing_shard(tmp_path):
    with pytest.raises(DataError, match="no such shard"):
        load_tokens(tmp_path / "nope.bin")


# -- datasets -----------------------------------------------------------------------------------------

def make_dir(root: Path, prefix="toy", val=(5000,), train=(8000, 8000), bos=50256, seed=0) -> Path:
    """Shards of random tokens with a BOS every ~50 tokens."""
    rng = np.random.default_rng(seed)
    for split, sizes, first in (("val", val, 0), ("train", train, 1)):
        for i, n in enumerate(sizes):
            t = rng.integers(0, min(bos, 1000), n)
            t[rng.random(n) < 0.02] = bos
            t[0] = bos
            write_shard(root / f"{prefix}_{split}_{first + i:06d}.bin", t)
    return root


def test_open_directory(tmp_path):
    ds = open_dataset(str(make_dir(tmp_path)))
    assert ds.name == "toy" and ds.bos_id == 50256 and ds.vocab_size == 50257
    assert [p.name for p in ds.train_files] == ["toy_train_000001.bin", "toy_train_000002.bin"]
    assert ds.train_tokens == 16000 and ds.val_tokens == 5000
    ident = ds.identity()
    assert [f["name"] for f in ident["files"]] == ["toy_val_000000.bin", "toy_train_000001.bin",
                                                  "toy_train_000002.bin"]
    assert ident == open_dataset(str(tmp_path)).identity()
    make_dir(tmp_path, seed=1)  # same names and sizes, other tokens
    assert open_dataset(str(tmp_path)).identity()["sample_sha256"] != ident["sample_sha256"]


def test_directory_with_several_prefixes_needs_one_named(tmp_path):
    make_dir(tmp_path, "a")
    make_dir(tmp_path, "b")
    with pytest.raises(DataError, match="several datasets"):
        open_dataset(str(tmp_path))
    assert open_dataset(str(tmp_path / "b")).name == "b"


def test_missing_data_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("REMIX_DATA", str(tmp_path))
    with pytest.raises(DataError, match=r"fineweb10B does not exist.*remix data fineweb --train-shards"):
        open_dataset("fineweb")
    (tmp_path / "fineweb10B").mkdir()
    with pytest.raises(DataError, match=r"no val and train shards.*remix data fineweb"):
        open_dataset("fineweb")
    with pytest.raises(DataError, match="remix data tokenize"):
        open_dataset(str(tmp_path / "nothing_here"))


def test_check_counts_what_the_run_needs(tmp_path, monkeypatch):
    monkeypatch.setenv("REMIX_DATA", str(tmp_path))
    make_dir(tmp_path / "fineweb10B", "fineweb")
    ds = open_dataset("fineweb")
    ds.check(val_tokens_needed=4999, train_tokens_needed=16000, allow_epochs=False)
    with pytest.raises(DataError, match=r"needs 5,001 val tokens.*hold 5,000"):
        ds.check(val_tokens_needed=5000, train_tokens_needed=1, allow_epochs=False)
    with pytest.raises(DataError, match=r"needs 16,001 tokens.*--train-shards 1\b.*allow_epochs"):
        ds.check(val_tokens_needed=10, train_tokens_needed=16001, allow_epochs=False)
    ds.check(val_tokens_needed=10, train_tokens_needed=10**9, allow_epochs=True)
    # In batches of 1024 each 8000-token shard gives 7 batches (7 * 1024 + 1 <= 8000).
    with pytest.raises(DataError, match="usable in batches of 1,024"):
        ds.check(val_tokens_needed=10, train_tokens_needed=7 * 1024 * 2 + 1, allow_epochs=False,
                 batch_tokens=1024)
    ds.check(val_tokens_needed=4096, train_tokens_needed=7 * 1024 * 2, allow_epochs=False,
             batch_tokens=1024, val_batch_tokens=1024)


def test_shared_enwiki_corpus_opens():
    if not SHARED.is_dir():
        pytest.skip("no shared corpus on this machine")
    ds = open_dataset(str(SHARED))
    assert ds.name == "enwiki" and ds.val_tokens == 10_486_784 and ds.train_tokens == 18_874_368
    ds.check(val_tokens_needed=10_485_760, train_tokens_needed=18_000_000, allow_epochs=False)
    assert load_tokens(ds.val_files[0])[0] == 50256


# -- the embedded corpus ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("REMIX_CACHE")
    os.environ["REMIX_CACHE"] = str(cache)
    try:
        yield open_dataset("embedded")
    finally:
        os.environ.pop("REMIX_CACHE") if old is None else os.environ.__setitem__("REMIX_CACHE", old)


def test_embedded_corpus(embedded):
    ds = embedded
    assert ds.name == "embedded" and ds.bos_id == 256 and ds.vocab_size == 257
    assert 1_000_000 <= ds.train_tokens <= 4_000_000 and ds.val_tokens >= 262_145
    for f in ds.val_files + ds.train_files:
        t = load_tokens(f)
        assert t.max() <= 256
    val = load_tokens(ds.val_files[0])
    assert val[0] == 256 and (val == 256).sum() > 100
    text = bytes(val[1:np.flatnonzero(val == 256)[1]].astype(np.uint8)).decode("utf-8")
    assert text.strip()  # a real document, valid UTF-8
    meta = json.loads((ds.root / "embedded_dataset.json").read_text())
    assert meta["tokens"] == {"val": ds.val_tokens, "train": ds.train_tokens}


def test_embedded_corpus_is_cached(embedded):
    from remix.data.embedded import ensure_embedded
    mtime = embedded.val_files[0].stat().st_mtime_ns
    assert ensure_embedded() == embedded.root
    assert embedded.val_files[0].stat().st_mtime_ns == mtime
    assert open_dataset("embedded").identity() == embedded.identity()


# -- loaders ------------------------------------------------------------------------------------------

def build(name, files, cfg=None, **kw):
    entry = LOADERS.entry(name)
    config = LOADERS.config(name, cfg or {})
    args = dict(seq_len=8, device_batch=2, accum=1, rank=0, world=1, bos_id=50256, device="cpu", cycle=False)
    args.update(kw)
    return entry.build(config, files, **args)


def test_rank_slice_takes_the_specified_slices(tmp_path):
    write_shard(tmp_path / "s_train_000001.bin", np.arange(190))
    write_shard(tmp_path / "s_train_000002.bin", np.arange(1000, 1100))
    files = sorted(tmp_path.glob("*.bin"))
    B, L = 2, 8  # G = 4 slices * 16 = 64
    steps = list(build("rank_slice", files, accum=4))
    # shard 1: pos 0, 64 (128 + 65 > 190 drops the tail); shard 2: pos 0 only.
    assert len(steps) == 3
    for step, base in zip(steps, [0, 64, 1000]):
        assert len(step) == 4
        for a, (x, y) in enumerate(step):
            assert x.dtype == torch.int32 and y.dtype == torch.int64 and x.shape == y.shape == (B, L)
            start = base + a * B * L
            assert x.flatten().tolist() == list(range(start, start + B * L))
            assert y.flatten().tolist() == list(range(start + 1, start + B * L + 1))
    # world 4 without accumulation covers the same tokens, one slice per rank.
    for r in range(4):
        per_rank = list(build("rank_slice", files, world=4, rank=r))
        assert len(per_rank) == 3
        for step, ref in zip(per_rank, steps):
            assert len(step) == 1
            assert torch.equal(step[0][0], ref[r][0]) and torch.equal(step[0][1], ref[r][1])


def test_rank_slice_cycles_only_when_asked(tmp_path):
    f = write_shard(tmp_path / "s_train_000001.bin", np.arange(40))
    assert len(list(build("rank_slice", [f], seq_len=8, device_batch=2))) == 2  # 0..16, 16..32 (+1)
    it = build("rank_slice", [f], seq_len=8, device_batch=2, cycle=True)
    firsts = [next(it)[0][0][0, 0].item() for _ in range(5)]
    assert firsts == [0, 16, 0, 16, 0]
    with pytest.raises(DataError, match="no shard holds one global batch"):
        build("rank_slice", [f], seq_len=32, device_batch=2)


def bos_shard(tmp_path, doc_lengths, bos=50256, name="d_train_000001.bin"):
    """Documents BOS, k, k, ... with k its index (so each token says which document it came from)."""
    toks = []
    for k, n in enumerate(doc_lengths):
        toks += [bos] + [k] * (n - 1)
    return write_shard(tmp_path / name, toks), toks


def record_26_starts(toks, n_rows, L, bos=50256):
    """Record #26 as described: per step, scan the BOS positions inside a window of 2 x G from the cursor;
    a row starts at a BOS once the next BOS is at least L tokens on; the cursor moves to that BOS."""
    toks, G, pos, steps = np.asarray(toks), n_rows * L, 0, []
    while pos + 2 * G + 1 <= len(toks):
        window = np.flatnonzero(toks[pos:pos + 2 * G] == bos) + pos
        starts, start = [], window[0]
        for end in window[1:]:
            if end - start >= L:
                starts.append(int(start))
                start = end
                if len(starts) == n_rows:
                    break
        assert len(starts) == n_rows
        steps.append(starts)
        pos = int(start)
    return steps


def test_bos_aligned_rows_start_at_bos(tmp_path):
    rng = np.random.default_rng(0)
    f, toks = bos_shard(tmp_path, rng.integers(2, 20, 400).tolist())
    B, L = 2, 16
    steps = list(build("bos_aligned", [f], seq_len=L, device_batch=B, accum=2))
    expected = record_26_starts(toks, 2 * B, L)
    assert len(steps) == len(expected) > 5
    toks = np.array(toks)
    for step, starts in zip(steps, expected):
        rows = [(x[b], y[b]) for x, y in step for b in range(B)]
        for (x, y), start in zip(rows, starts):
            assert x[0] == 50256
            assert x.tolist() == toks[start:start + L].tolist()
            assert y.tolist() == toks[start + 1:start + L + 1].tolist()
    # world 2 x accum 1 gives the same rows as world 1 x accum 2
    for r in range(2):
        mine = list(build("bos_aligned", [f], seq_len=L, device_batch=B, world=2, rank=r))
        assert len(mine) == len(steps)
        assert all(torch.equal(m[0][0], s[r][0]) and torch.equal(m[0][1], s[r][1]) for m, s in zip(mine, steps))


def test_bos_aligned_greedy_matches_record_26(tmp_path):
    # docs: 0:[0,5) 1:[5,8) 2:[8,20) 3:[20,23) 4:[23,40) ...; L=6 -> rows at 0 (next BOS >= 6 is 8),
    # 8 (next BOS >= 14 is 20), 20 (next >= 26 is 40)
    f, toks = bos_shard(tmp_path, [5, 3, 12, 3, 17] + [4] * 20)
    (step,) = list(build("bos_aligned", [f], seq_len=6, device_batch=1, accum=3))[:1]
    starts = [toks.index(int(x[0, 1])) - 1 for x, _ in step]
    assert starts == [0, 8, 20]


def test_bos_aligned_max_doc_len_packs_truncated_documents(tmp_path):
    f, toks = bos_shard(tmp_path, [10, 3, 7, 4, 30, 5] + [6] * 40)
    steps = list(build("bos_aligned", [f], {"max_doc_len": 4}, seq_len=11, device_batch=1, accum=2))
    (x0, y0), (x1, y1) = steps[0]
    row0 = x0[0].tolist() + [int(y0[0, -1])]
    row1 = x1[0].tolist() + [int(y1[0, -1])]
    B = 50256
    # docs cut to 4 tokens: [B,0,0,0] [B,1,1] [B,2,2,2] = 11, then the 12th token cuts doc 3 to [B]
    assert row0 == [B, 0, 0, 0, B, 1, 1, B, 2, 2, 2, B]
    # the next row starts at the next document (4); the rest of doc 3 is dropped
    assert row1 == [B, 4, 4, 4, B, 5, 5, 5, B, 6, 6, 6]
    for step in steps:
        for x, _ in step:
            assert x[0, 0] == B


def test_bos_aligned_uses_the_datasets_bos_id(embedded):
    it = build("bos_aligned", embedded.train_files, seq_len=64, device_batch=4, accum=2, bos_id=256)
    for _ in range(3):
        for x, y in next(it):
            assert (x[:, 0] == 256).all() and x.max() <= 256 and y.max() <= 256


def test_bos_aligned_survives_documents_longer_than_the_search_window(tmp_path):
    # The record asserted when 2 x G held too few BOS tokens; here the search goes on instead.
    f, _ = bos_shard(tmp_path, [300, 5, 400, 7, 500] + [3] * 50)
    steps = list(build("bos_aligned", [f], seq_len=4, device_batch=1, accum=2))
    assert steps and all(x[0, 0] == 50256 for step in steps for x, _ in step)
