"""`remix data tokenize`: text -> GPT-2 shards, offline from the GPT-2 files in ../shared/data/gpt2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from remix.data import DataError, load_tokens, open_dataset
from remix.data.cli import app
from remix.data.tokenize_text import gpt2_encoding, tokenize_files

FIXTURES = Path(__file__).parent / "fixtures" / "data"
GPT2_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "gpt2"
# tiktoken caches each file under the sha1 of its URL (see GPT2_DIR / TIKTOKEN_CACHE.md)
CACHE_NAMES = {"vocab.bpe": "6d1cbeee0f20b3d9449abfede4726ed8212e3aee",
               "encoder.json": "6c7ea1a7e38e3a7f062df639a5b80947f075ffe6"}
BOS = 50256


@pytest.fixture
def tiktoken_offline(tmp_path, monkeypatch):
    """A tiktoken cache directory holding the GPT-2 files, so get_encoding('gpt2') needs no network."""
    if not GPT2_DIR.is_dir():
        pytest.skip(f"no GPT-2 files at {GPT2_DIR}")
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    for name, key in CACHE_NAMES.items():
        shutil.copyfile(GPT2_DIR / name, cache / key)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    return cache


def test_known_ids(tiktoken_offline):
    enc = gpt2_encoding()
    assert enc.encode_ordinary("Hello world") == [15496, 995]
    assert enc.n_vocab == 50257 and enc.eot_token == BOS


def test_known_ids_from_the_files_directly(tmp_path, monkeypatch):
    if not GPT2_DIR.is_dir():
        pytest.skip(f"no GPT-2 files at {GPT2_DIR}")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty"))  # nothing to fall back on
    assert gpt2_encoding(GPT2_DIR).encode_ordinary("Hello world") == [15496, 995]


def test_tokenize_text_file(tiktoken_offline, tmp_path):
    meta = tokenize_files([FIXTURES / "hello.txt", FIXTURES / "hello.txt", FIXTURES / "hello.txt"],
                          tmp_path / "out", val_tokens=3, shard_tokens=4, name="hi", workers=1)
    # stream: [BOS 15496 995] x 3 -> val = the first 3, train = 6 tokens in shards of 4
    assert load_tokens(tmp_path / "out" / "hi_val_000000.bin").tolist() == [BOS, 15496, 995]
    assert load_tokens(tmp_path / "out" / "hi_train_000001.bin").tolist() == [BOS, 15496, 995, BOS]
    assert load_tokens(tmp_path / "out" / "hi_train_000002.bin").tolist() == [15496, 995]
    assert meta["documents"] == 3 and meta["tokens"] == {"val": 3, "train": 6}
    ds = open_dataset(str(tmp_path / "out"))
    assert ds.name == "hi" and ds.bos_id == BOS and ds.vocab_size == 50257 and ds.train_tokens == 6


def test_val_cut_drops_the_rest_of_its_document(tiktoken_offline, tmp_path):
    tokenize_files([FIXTURES / "hello.txt"] * 3, tmp_path, val_tokens=2, shard_tokens=100, name="x", workers=1)
    assert load_tokens(tmp_path / "x_val_000000.bin").tolist() == [BOS, 15496]
    assert load_tokens(tmp_path / "x_train_000001.bin").tolist() == [BOS, 15496, 995] * 2


def test_jsonl_lines_and_parquet_agree(tiktoken_offline, tmp_path):
    enc = gpt2_encoding()
    texts = [json.loads(l)["text"] for l in (FIXTURES / "docs.jsonl").read_text().splitlines() if l.strip()]
    expected = [t for doc in texts for t in [BOS] + enc.encode_ordinary(doc)]
    assert expected.count(BOS) == len(texts)  # the "<|endoftext|>" in a text stays text

    def stream(out):
        return np.concatenate([load_tokens(f) for f in sorted(out.glob("*_val_*.bin")) + sorted(out.glob("*_train_*.bin"))]).tolist()

    tokenize_files([FIXTURES / "docs.jsonl"], tmp_path / "j", val_tokens=5, shard_tokens=7, workers=1)
    assert stream(tmp_path / "j")[:5] == expected[:5]
    assert stream(tmp_path / "j")[5:] == expected[expected.index(BOS, 5):]

    (tmp_path / "t.txt").write_text("\n".join(texts) + "\n")
    tokenize_files([tmp_path / "t.txt"], tmp_path / "l", val_tokens=5, shard_tokens=7, lines=True, workers=1)
    assert stream(tmp_path / "l") == stream(tmp_path / "j")

    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"body": texts, "n": list(range(len(texts)))}), tmp_path / "d.parquet")
    tokenize_files([tmp_path / "d.parquet"], tmp_path / "p", val_tokens=5, shard_tokens=7, field="body", workers=1)
    assert stream(tmp_path / "p") == stream(tmp_path / "j")


def test_several_processes_give_the_same_bytes(tiktoken_offline, tmp_path, monkeypatch):
    import remix.data.tokenize_text as tt
    monkeypatch.setattr(tt, "CHUNK_CHARS", 50)  # many small chunks, so the workers interleave
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(40):
        (docs / f"{i:03d}.txt").write_text(f"Document number {i}. " * (1 + i % 7))
    tokenize_files([docs], tmp_path / "one", val_tokens=100, shard_tokens=500, name="c", workers=1)
    tokenize_files([docs], tmp_path / "two", val_tokens=100, shard_tokens=500, name="c", workers=2)
    one = sorted(p.name for p in (tmp_path / "one").glob("*.bin"))
    assert one == sorted(p.name for p in (tmp_path / "two").glob("*.bin")) and len(one) > 2
    for name in one:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_errors_are_clear(tiktoken_offline, tmp_path):
    with pytest.raises(DataError, match="fewer than the"):
        tokenize_files([FIXTURES / "hello.txt"], tmp_path / "a", val_tokens=100, workers=1)
    assert not list((tmp_path / "a").glob("*.bin"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"body": "no text field"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: no string field 'text'"):
        tokenize_files([bad], tmp_path / "b", val_tokens=1, workers=1)
    tokenize_files([FIXTURES / "hello.txt"] * 2, tmp_path / "c", val_tokens=1, name="h", workers=1)
    with pytest.raises(DataError, match="already holds h shards"):
        tokenize_files([FIXTURES / "hello.txt"] * 2, tmp_path / "c", val_tokens=1, name="h", workers=1)
    tokenize_files([FIXTURES / "hello.txt"] * 2, tmp_path / "c", val_tokens=2, name="h", workers=1, overwrite=True)


def test_cli(tiktoken_offline, tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["tokenize", str(FIXTURES / "lines.txt"), "--lines", "--out", str(tmp_path / "o"),
                            "--val-tokens", "4", "--shard-tokens", "8", "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert open_dataset(str(tmp_path / "o")).train_tokens > 0
    r = runner.invoke(app, ["tokenize", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "o2")])
    assert r.exit_code == 2 and "missing.txt: no such file" in r.output and "Traceback" not in r.output
