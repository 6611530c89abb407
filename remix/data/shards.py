"""The speedrun's token shard format.

A shard is a 256 x int32 little-endian header (magic 20240520, version 1, token count, 253 zeros)
followed by the tokens as uint16 little-endian, so file size = 1024 + 2 * count. FineWeb shards hold
100M tokens (200 MB): they are memory-mapped, never read whole, so a loader that needs a few MB per
step only touches those pages.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from remix.atomic import atomic_open
from remix.data.errors import DataError

MAGIC = 20240520
VERSION = 1
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
MAX_TOKEN = 65535  # uint16


def make_header(count: int) -> np.ndarray:
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[0], header[1], header[2] = MAGIC, VERSION, count
    return header


def write_shard(path: str | os.PathLike, tokens) -> Path:
    """Writes tokens (any integer array-like) as a shard; atomic: a reader never sees a half-written file."""
    path = Path(path)
    arr = np.asarray(tokens)
    if arr.ndim != 1:
        raise DataError(f"{path}: tokens must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise DataError(f"{path}: tokens must be integers, got {arr.dtype}")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > MAX_TOKEN):
        raise DataError(f"{path}: token ids must lie in [0, {MAX_TOKEN}] to fit uint16, "
                        f"got min {int(arr.min())}, max {int(arr.max())}")
    if arr.size >= 2**31:
        raise DataError(f"{path}: {arr.size} tokens do not fit the int32 count of the header")
    with atomic_open(path, "wb") as f:
        f.write(make_header(arr.size).tobytes())
        f.write(arr.astype("<u2", copy=False).tobytes())
    return path


def check_header(header: np.ndarray, path: Path, size: int | None = None) -> int:
    """The token count a header announces, or DataError saying what is wrong with the file."""
    if header.size < HEADER_INTS:
        raise DataError(f"{path}: not a token shard: {size if size is not None else header.size * 4} bytes, "
                        f"shorter than the {HEADER_BYTES}-byte header")
    if int(header[0]) != MAGIC:
        raise DataError(f"{path}: not a token shard: magic number {int(header[0])}, expected {MAGIC}")
    if int(header[1]) != VERSION:
        raise DataError(f"{path}: unsupported shard version {int(header[1])}, expected {VERSION}")
    count = int(header[2])
    if count < 0:
        raise DataError(f"{path}: corrupt header: negative token count {count}")
    if size is not None and size != HEADER_BYTES + 2 * count:
        state = "truncated" if size < HEADER_BYTES + 2 * count else "has trailing bytes"
        raise DataError(f"{path}: {state}: header says {count} tokens = {HEADER_BYTES + 2 * count} bytes, "
                        f"file has {size} bytes (re-download or re-tokenize it)")
    return count


def read_header(path: str | os.PathLike) -> dict:
    """{'magic', 'version', 'tokens', 'bytes', 'header'} of a shard, its size checked against the count."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            raw = f.read(HEADER_BYTES)
    except FileNotFoundError:
        raise DataError(f"{path}: no such shard") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e}") from None
    header = np.frombuffer(raw[: len(raw) - len(raw) % 4], dtype="<i4")
    if len(raw) < HEADER_BYTES:
        raise DataError(f"{path}: not a token shard: {size} bytes, shorter than the {HEADER_BYTES}-byte header")
    count = check_header(header, path, size)
    return {"magic": MAGIC, "version": VERSION, "tokens": count, "bytes": size, "header": raw}


def load_tokens(path: str | os.PathLike) -> np.ndarray:
    """The shard's tokens as a read-only uint16 array mapped from the file (checked first)."""
    path = Path(path)
    count = read_header(path)["tokens"]
    if count == 0:
        return np.zeros(0, dtype=np.uint16)
    return np.memmap(path, dtype="<u2", mode="r", offset=HEADER_BYTES, shape=(count,))
