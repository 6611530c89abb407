"""Data loaders: how the token stream of the shards becomes each optimizer step's batches.

Both loaders share one builder signature and yield, per optimizer step, a list of `accum` micro-batches
(inputs int32 [device_batch, seq_len], targets int64 [device_batch, seq_len]) on `device`. A step covers
the global batch G = world * accum * device_batch * seq_len tokens, cut into world * accum slices of
device_batch * seq_len; micro-batch a on rank r takes slice s = r * accum + a. So 8 ranks without
accumulation and 1 rank with accum 8 see the same tokens in the same step, only split differently.

rank_slice   the baselines' loader (baselines.md section 7): a cursor walks each shard in steps of G;
             slice s is the contiguous tokens [pos + s*B*L, pos + (s+1)*B*L + 1); a shard's tail that
             cannot hold another G + 1 tokens is dropped. (The reference moves on when pos + G + 1 >= the
             shard's length, i.e. also when exactly G + 1 tokens are left; that never happens with 100M-token
             shards and an even G, and taking that batch lets a val split of N + 1 tokens evaluate N.)
bos_aligned  record #26: every sequence (row) starts at a BOS token. Rows are chosen greedily: each
             starts at the first BOS at or after the previous row's start + L, so the tokens between
             one row's end and the next BOS are skipped; the cursor moves to the BOS after the last
             row. With max_doc_len (record #29), a row is instead packed with whole documents, each
             starting at its BOS and cut after max_doc_len tokens (the rest dropped), the row's last
             document cut to fit.

Validation uses rank_slice on the val files with cycle=False, as every record does (#26 and #29 change
only the training stream), so evaluation always sees the first tokens of the val split.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from remix.slots import LOADERS
from remix.data.errors import DataError
from remix.data.shards import load_tokens, read_header

Step = list[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Geometry:
    seq_len: int
    device_batch: int
    accum: int
    rank: int
    world: int
    max_doc_len: int | None = None   # BOS-aligned packing: cut each document after this many tokens

    @property
    def micro_tokens(self) -> int:  # B * L, one slice
        return self.device_batch * self.seq_len

    @property
    def slices(self) -> int:  # world * accum
        return self.world * self.accum

    @property
    def global_tokens(self) -> int:  # G
        return self.slices * self.micro_tokens

    def my_slices(self) -> range:
        return range(self.rank * self.accum, (self.rank + 1) * self.accum)


@dataclass(frozen=True)
class RankSlice:
    prefetch: bool = False          # record #33: read the next shard in a background thread (same batches)


@dataclass(frozen=True)
class BosAligned:
    max_doc_len: int | None = None  # record #29: cut documents after this many tokens and pack them
    prefetch: bool = False


def _geometry(files, seq_len, device_batch, accum, rank, world) -> Geometry:
    for name, v in (("seq_len", seq_len), ("device_batch", device_batch), ("accum", accum), ("world", world)):
        if not isinstance(v, int) or v < 1:
            raise DataError(f"loader: {name} must be a positive integer, got {v!r}")
    if not 0 <= rank < world:
        raise DataError(f"loader: rank {rank} outside 0..{world - 1}")
    if not files:
        raise DataError("loader: no shard files given")
    return Geometry(seq_len, device_batch, accum, rank, world)


def _stages(geo: Geometry, stages) -> Callable[[int], Geometry]:
    """step -> geometry: the loader's own for every step, or the run's stages (a new batch, row length or
    document cut from a given step on; the loader keeps its place in the data)."""
    if stages is None:
        return lambda step: geo
    return lambda step: replace(geo, **stages(step))


@LOADERS.register("rank_slice", config=RankSlice)
def build_rank_slice(cfg, files: list[Path], *, seq_len: int, device_batch: int, accum: int, rank: int,
                     world: int, bos_id: int, device, cycle: bool, stages=None) -> Iterator[Step]:
    geo = _geometry(files, seq_len, device_batch, accum, rank, world)
    counts = [read_header(f)["tokens"] for f in files]  # checks every file before the first step
    if max(counts) < geo.global_tokens + 1:
        raise DataError(f"loader: no shard holds one global batch of {geo.global_tokens:,} tokens + 1 "
                        f"(largest: {max(counts):,} tokens in {files[counts.index(max(counts))]}); "
                        "lower the batch or use bigger shards")
    prefetch = cfg is not None and cfg.prefetch
    return _rank_slice_steps(list(files), _stages(geo, stages), torch.device(device), cycle, prefetch)


def _rank_slice_steps(files: list[Path], geometry, device: torch.device, cycle: bool,
                      prefetch: bool = False) -> Iterator[Step]:
    step = 0
    pinned = device.type == "cuda"
    for tokens in _host_shards(files, cycle, pinned, prefetch):   # each shard read once, not once per step
        pos = 0
        while True:
            geo = geometry(step)
            G, BL, B, L = geo.global_tokens, geo.micro_tokens, geo.device_batch, geo.seq_len
            if pos + G + 1 > len(tokens):
                break
            yield [_flat_batch(tokens[pos + s * BL: pos + (s + 1) * BL + 1], B, L, device)
                   for s in geo.my_slices()]
            pos += G
            step += 1


@LOADERS.register("bos_aligned", config=BosAligned)
def build_bos_aligned(cfg, files: list[Path], *, seq_len: int, device_batch: int, accum: int, rank: int,
                      world: int, bos_id: int, device, cycle: bool, stages=None) -> Iterator[Step]:
    max_doc_len = cfg.max_doc_len if cfg is not None else None
    if max_doc_len is not None and max_doc_len < 1:
        raise DataError(f"loader bos_aligned: max_doc_len must be positive, got {max_doc_len}")
    geo = replace(_geometry(files, seq_len, device_batch, accum, rank, world), max_doc_len=max_doc_len)
    for f in files:
        read_header(f)
    return _bos_steps(list(files), _stages(geo, stages), bos_id, torch.device(device), cycle)


def _bos_steps(files, geometry, bos_id: int, device, cycle) -> Iterator[Step]:
    step = 0
    while True:
        produced = False
        for tokens in _shards(files, cycle=False):
            bos = np.flatnonzero(np.asarray(tokens) == bos_id)  # once per shard: ~0.1 s for 100M tokens
            cursor, packed = 0, None
            while True:
                geo = geometry(step)
                B, L, max_doc_len = geo.device_batch, geo.seq_len, geo.max_doc_len
                n_rows = geo.slices * B
                if packed is not None and packed != (max_doc_len is not None):
                    cursor = _convert_cursor(cursor, bos, to_index=max_doc_len is not None)
                packed = max_doc_len is not None
                rows = _packed_rows if packed else _aligned_rows
                found = rows(tokens, bos, cursor, n_rows, L, 2 * geo.global_tokens, max_doc_len)
                if found is None:
                    break  # the shard cannot fill another step: its tail is dropped
                pieces, cursor = found
                produced = True
                batch = []
                for s in geo.my_slices():
                    buf = np.empty((B, L + 1), dtype=np.int32)
                    for b in range(B):
                        at = 0
                        for start, end in pieces[s * B + b]:
                            buf[b, at:at + end - start] = tokens[start:end]
                            at += end - start
                    batch.append(_row_batch(buf, device))
                yield batch
                step += 1
        if not cycle:
            return
        if not produced:
            geo = geometry(step)
            raise DataError(f"loader bos_aligned: no shard of {files[0].parent} yields a step of "
                            f"{geo.slices * geo.device_batch} BOS-aligned rows of {geo.seq_len + 1} tokens (BOS id "
                            f"{bos_id}); lower the batch, check the BOS id, or use rank_slice")


def _convert_cursor(cursor: int, bos: np.ndarray, to_index: bool) -> int:
    """The packed loader's cursor is a BOS index, the aligned one's a token position: a stage that switches
    between them keeps its place."""
    if to_index:
        return int(np.searchsorted(bos, cursor))
    return int(bos[cursor]) if cursor < len(bos) else int(bos[-1]) + 1


def _aligned_rows(tokens, bos, cursor, n_rows, L, span, max_doc_len):
    """Record #26: n_rows windows of L + 1 tokens, each starting at a BOS, chosen greedily after position
    `cursor`. The record searched BOS tokens inside a window of 2 * G and loaded the next shard when that
    window passed the shard's end; the greedy choice within the window is kept, and the search goes past
    the window only where the record would have failed (documents longer than the window allows)."""
    if cursor + span + 1 > len(tokens):
        return None
    i = int(np.searchsorted(bos, cursor))
    if i >= len(bos):
        return None
    start = int(bos[i])
    pieces = []
    for _ in range(n_rows):
        j = int(np.searchsorted(bos, start + L))  # the first BOS at least L tokens on: this row's end
        if j >= len(bos):
            return None
        pieces.append([(start, start + L + 1)])
        start = int(bos[j])
    return pieces, start


def _packed_rows(tokens, bos, cursor, n_rows, L, span, max_doc_len):
    """Record #29: each row packs consecutive documents (from their BOS, at most max_doc_len tokens each)
    until it holds L + 1 tokens; the next row starts at the next document. `cursor` is a BOS index."""
    pieces, i, n = [], cursor, len(bos)
    for _ in range(n_rows):
        row, filled = [], 0
        while filled < L + 1:
            if i >= n:
                return None
            start = int(bos[i])
            doc_end = int(bos[i + 1]) if i + 1 < n else len(tokens)
            end = min(doc_end, start + max_doc_len, start + L + 1 - filled)
            row.append((start, end))
            filled += end - start
            i += 1
        pieces.append(row)
    return pieces, i


def _shard_paths(files: list[Path], cycle: bool):
    while True:
        yield from files
        if not cycle:
            return


def _shards(files: list[Path], cycle: bool):
    for f in _shard_paths(files, cycle):
        yield load_tokens(f)


def _host_shards(files: list[Path], cycle: bool, pinned: bool, prefetch: bool) -> Iterator[torch.Tensor]:
    """Each shard in host memory; with `prefetch`, the next one is read by a background thread while the
    current one trains (the batches are the same)."""
    paths = _shard_paths(files, cycle)
    if not prefetch:
        for path in paths:
            yield _host_tokens(path, pinned)
        return
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="remix-shard") as pool:
        ahead = pool.submit(_host_tokens, next(paths, None), pinned) if files else None
        while ahead is not None:
            tokens = ahead.result()
            if tokens is None:
                return
            following = next(paths, None)
            ahead = pool.submit(_host_tokens, following, pinned) if following is not None else None
            yield tokens


def _host_tokens(path: Path, pinned: bool) -> torch.Tensor:
    """A whole shard as int32 in host memory, pinned for a GPU so that each step's slice is a view copied
    asynchronously (no per-step conversion or pinning on the clock)."""
    t = torch.from_numpy(load_tokens(path).astype(np.int32))
    return t.pin_memory() if pinned else t


def _flat_batch(buf: torch.Tensor, B: int, L: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """B*L + 1 contiguous tokens -> inputs (B, L) int32 and the same shifted by one as int64 targets."""
    t = buf.to(device, non_blocking=True) if device.type == "cuda" else buf.to(device)
    return t[:-1].view(B, L), t[1:].view(B, L).to(torch.int64)


def _row_batch(buf: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, L + 1) tokens -> inputs (B, L) int32 and targets (B, L) int64, row by row."""
    t = _to_device(torch.from_numpy(buf), device)
    return t[:, :-1].contiguous(), t[:, 1:].to(torch.int64)


def _to_device(host: torch.Tensor, device: torch.device) -> torch.Tensor:
    if device.type == "cuda":
        # Pinned memory lets the copy run asynchronously, overlapping the previous step's compute;
        # the caching host allocator keeps the buffer alive until the copy is done.
        return host.pin_memory().to(device, non_blocking=True)
    return host.to(device)
