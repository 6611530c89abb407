"""Text files -> GPT-2 token shards in the speedrun's format, so any corpus can stand in for FineWeb.

Inputs, one or more of:
  *.txt, *.md and any other file   plain text: one document per file, or one per line with lines=True
  *.jsonl, *.json                  one JSON object per line; the document is its `field` ("text")
  *.parquet                        the `field` column, one document per row
(each may also be gzip-compressed: *.txt.gz, *.jsonl.gz). A directory stands for its files, sorted.

Each document is encoded with tiktoken's GPT-2 `encode_ordinary` (special-token text stays plain text)
and preceded by BOS 50256, as the speedrun's FineWeb shards are. Documents keep the order of the
inputs whatever the number of processes, so the output is the same byte for byte. The stream's first
val_tokens tokens form NAME_val_000000.bin (the document they end in is cut there and its rest is
dropped, so no text is in both splits); the rest is cut into shard_tokens-token train shards
NAME_train_000001.bin, ... (documents may run from one train shard into the next, as in FineWeb).
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import multiprocessing
import os
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from remix.data.dataset import GPT2_BOS, GPT2_VOCAB
from remix.data.errors import DataError
from remix.data.shards import write_shard
from remix.outdir import OutputError, writable_dir

DEFAULT_VAL_TOKENS = 10_485_760 + 1_024  # the speedrun's eval tokens, + room for the last target
DEFAULT_SHARD_TOKENS = 100_000_000       # FineWeb's shard size
GPT2_HASHES = {  # sha256 that tiktoken itself checks for the gpt2 encoding's files
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
}
CHUNK_CHARS = 1 << 20  # documents are sent to the workers in chunks of about this much text


# -- the encoder --------------------------------------------------------------------------------------

def gpt2_encoding(gpt2_dir: str | os.PathLike | None = None):
    """tiktoken's GPT-2 encoding; from encoder.json + vocab.bpe in gpt2_dir when given (no network)."""
    try:
        import tiktoken
    except ImportError:
        raise DataError("tokenizing needs tiktoken: pip install tiktoken") from None
    if gpt2_dir is None:
        try:
            return tiktoken.get_encoding("gpt2")
        except Exception as e:
            raise DataError(
                f"tiktoken could not load the GPT-2 encoding ({type(e).__name__}: {str(e)[:200]}). Without "
                "network, pass --gpt2-dir DIR holding encoder.json and vocab.bpe, or fill TIKTOKEN_CACHE_DIR "
                "(see docs/data.md)") from None
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    from tiktoken_ext.openai_public import ENDOFTEXT, r50k_pat_str

    d = Path(gpt2_dir)
    for name in GPT2_HASHES:
        if not (d / name).is_file():
            raise DataError(f"{d}: no {name} (the GPT-2 BPE files encoder.json and vocab.bpe are needed)")
    try:
        ranks = data_gym_to_mergeable_bpe_ranks(
            vocab_bpe_file=str(d / "vocab.bpe"), encoder_json_file=str(d / "encoder.json"),
            vocab_bpe_hash=GPT2_HASHES["vocab.bpe"], encoder_json_hash=GPT2_HASHES["encoder.json"])
    except ValueError as e:
        raise DataError(f"{d}: these are not OpenAI's GPT-2 files: {e}") from None
    return tiktoken.Encoding("gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                             special_tokens={ENDOFTEXT: GPT2_BOS}, explicit_n_vocab=GPT2_VOCAB)


_ENC = None  # the worker's encoder, made once per process


def _init_worker(gpt2_dir):
    global _ENC
    _ENC = gpt2_encoding(gpt2_dir)


def _encode_chunk(docs: list[str]) -> np.ndarray:
    """BOS + tokens of each document, concatenated."""
    encoded = _ENC.encode_ordinary_batch(docs, num_threads=1)
    out = np.empty(sum(len(t) + 1 for t in encoded), dtype=np.uint16)
    i = 0
    for t in encoded:
        out[i] = GPT2_BOS
        out[i + 1:i + 1 + len(t)] = t
        i += 1 + len(t)
    return out


# -- reading documents --------------------------------------------------------------------------------

def expand(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    files = []
    for p in map(Path, inputs):
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")))
        elif p.is_file():
            files.append(p)
        else:
            raise DataError(f"{p}: no such file or directory")
    if not files:
        raise DataError("no input files to tokenize")
    return files


def read_documents(path: Path, *, lines: bool = False, field: str = "text") -> Iterator[str]:
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    suffix = Path(name).suffix.lower()
    if suffix == ".parquet":
        yield from _parquet(path, field)
        return
    opener: Callable = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as raw:
            f = io.TextIOWrapper(raw, encoding="utf-8")
            if suffix in (".jsonl", ".json", ".ndjson"):
                for n, line in enumerate(f, 1):
                    if line.strip():
                        yield _json_text(line, field, path, n)
            elif lines:
                yield from (line.rstrip("\r\n") for line in f if line.strip())
            else:
                text = f.read()
                if text.strip():
                    yield text
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e})") from None
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read: {e}") from None


def _json_text(line: str, field: str, path: Path, n: int) -> str:
    try:
        obj = json.loads(line)
    except ValueError as e:
        raise DataError(f"{path}:{n}: not a JSON line: {e}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get(field), str):
        raise DataError(f"{path}:{n}: no string field {field!r} (use --field to name the text field)")
    return obj[field]


def _parquet(path: Path, field: str) -> Iterator[str]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"{path}: reading Parquet needs pyarrow: pip install pyarrow") from None
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:
        raise DataError(f"{path}: not a Parquet file: {e}") from None
    if field not in pf.schema_arrow.names:
        raise DataError(f"{path}: no column {field!r} (it has {', '.join(pf.schema_arrow.names)}; "
                        "use --field)")
    for batch in pf.iter_batches(columns=[field], batch_size=1024):
        yield from (t for t in batch.column(0).to_pylist() if t)


def _chunks(docs: Iterator[str]) -> Iterator[list[str]]:
    chunk, size = [], 0
    for d in docs:
        chunk.append(d)
        size += len(d)
        if size >= CHUNK_CHARS:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


# -- writing shards -----------------------------------------------------------------------------------

class ShardWriter:
    """Takes the token stream piece by piece; writes the val shard, then full train shards."""

    def __init__(self, out: Path, name: str, val_tokens: int, shard_tokens: int):
        self.out, self.name, self.shard_tokens = out, name, shard_tokens
        self.val_left = val_tokens
        self.pending: list[np.ndarray] = []
        self.pending_size = 0
        self.files: list[Path] = []
        self.counts = {"val": 0, "train": 0}
        self.val_done = False

    def add(self, tokens: np.ndarray) -> None:
        if not self.val_done:
            take = tokens[:self.val_left]
            self._push(take)
            self.val_left -= take.size
            if self.val_left == 0:
                self._flush("val", self.pending_size)
                self.val_done = True
                # the rest of the document the val split ends in is dropped: train starts at a BOS
                rest = tokens[take.size:]
                starts = np.flatnonzero(rest == GPT2_BOS)
                tokens = rest[starts[0]:] if starts.size else rest[:0]
            else:
                return
        self._push(tokens)
        while self.pending_size >= self.shard_tokens:
            self._flush("train", self.shard_tokens)

    def close(self) -> None:
        if not self.val_done:
            raise DataError(f"the inputs hold only {self.pending_size:,} tokens, fewer than the "
                            f"{self.pending_size + self.val_left:,} of the val split; lower --val-tokens")
        if self.pending_size:
            self._flush("train", self.pending_size)
        if self.counts["train"] == 0:
            raise DataError("no tokens are left for training after the val split; lower --val-tokens")

    def _push(self, tokens: np.ndarray) -> None:
        if tokens.size:
            self.pending.append(tokens)
            self.pending_size += tokens.size

    def _flush(self, split: str, n: int) -> None:
        stream = np.concatenate(self.pending) if len(self.pending) != 1 else self.pending[0]
        index = 0 if split == "val" else sum(1 for f in self.files if "_train_" in f.name) + 1
        path = write_shard(self.out / f"{self.name}_{split}_{index:06d}.bin", stream[:n])
        self.files.append(path)
        self.counts[split] += n
        rest = stream[n:]
        self.pending, self.pending_size = ([rest] if rest.size else []), rest.size


def tokenize_files(inputs: Iterable[str | os.PathLike], out: str | os.PathLike, *,
                   val_tokens: int = DEFAULT_VAL_TOKENS, shard_tokens: int = DEFAULT_SHARD_TOKENS,
                   name: str | None = None, lines: bool = False, field: str = "text",
                   workers: int | None = None, gpt2_dir: str | os.PathLike | None = None,
                   overwrite: bool = False, log: Callable[[str], None] = lambda msg: None) -> dict:
    """Tokenizes the inputs into shards under out; returns what it wrote (also saved as NAME_dataset.json)."""
    files = expand(inputs)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out}: is a file, expected a directory")
    name = name or out.resolve().name
    if not name or "_train_" in name or "_val_" in name or "/" in name:
        raise DataError(f"--name {name!r}: give a plain file prefix such as 'mycorpus'")
    if val_tokens < 1 or shard_tokens < 1:
        raise DataError("--val-tokens and --shard-tokens must be positive")
    old = sorted(out.glob(f"{name}_train_*.bin")) + sorted(out.glob(f"{name}_val_*.bin"))
    if old and not overwrite:
        raise DataError(f"{out} already holds {name} shards ({old[0].name}, ...); remove them, choose another "
                        "--name or --out, or pass --overwrite")
    try:
        writable_dir(out, "--out")
    except OutputError as e:
        raise DataError(str(e)) from None
    for f in old + [out / f"{name}_dataset.json"]:
        f.unlink(missing_ok=True)

    gpt2_encoding(gpt2_dir)  # fail here, before any process starts, if the encoder cannot be had
    docs = itertools.chain.from_iterable(read_documents(f, lines=lines, field=field) for f in files)
    writer = ShardWriter(out, name, val_tokens, shard_tokens)
    n_docs = 0
    workers = workers or min(8, os.cpu_count() or 1)
    if workers == 1:
        _init_worker(gpt2_dir)
        encoded = map(_encode_chunk, _chunks(docs))
        pool = None
    else:
        pool = multiprocessing.get_context().Pool(workers, _init_worker, (gpt2_dir,))
        encoded = pool.imap(_encode_chunk, _chunks(docs))  # imap keeps the input order
    try:
        for tokens in encoded:
            n_docs += int((tokens == GPT2_BOS).sum())
            writer.add(tokens)
            log(f"{n_docs:,} documents, {writer.counts['val'] + writer.counts['train'] + writer.pending_size:,} tokens")
        writer.close()
    except BaseException:
        for f in writer.files:  # no partial dataset left behind to be mistaken for a whole one
            f.unlink(missing_ok=True)
        raise
    finally:
        if pool is not None:
            pool.terminate()
    meta = {
        "name": name, "bos_id": GPT2_BOS, "vocab_size": GPT2_VOCAB,
        "tokenizer": "gpt2 (tiktoken encode_ordinary), BOS 50256 before every document",
        "documents": n_docs, "tokens": writer.counts,
        "files": [f.name for f in writer.files],
        "inputs": [{"name": f.name, "bytes": f.stat().st_size} for f in files],
        "made_by": "remix data tokenize",
    }
    (out / f"{name}_dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta
