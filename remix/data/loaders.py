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

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

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
    """The baselines' loader takes no arguments."""


@dataclass(frozen=True)
class BosAligned:
    max_doc_len: int | None = None  # record #29: cut documents after this many tokens and pack them


def _geometry(files, seq_len, device_batch, accum, rank, world) -> Geometry:
    for name, v in (("seq_len", seq_len), ("device_batch", device_batch), ("accum", accum), ("world", world)):
        if not isinstance(v, int) or v < 1:
            raise DataError(f"loader: {name} must be a positive integer, got {v!r}")
    if not 0 <= rank < world:
        raise DataError(f"loader: rank {rank} outside 0..{world - 1}")
    if not files:
        raise DataError("loader: no shard files given")
    return Geometry(seq_len, device_batch, accum, rank, world)


@LOADERS.register("rank_slice", config=RankSlice)
def build_rank_slice(cfg, files: list[Path], *, seq_len: int, device_batch: int, accum: int, rank: int,
                     world: int, bos_id: int, device, cycle: bool) -> Iterator[Step]:
    geo = _geometry(files, seq_len, device_batch, accum, rank, world)
    counts = [read_header(f)["tokens"] for f in files]  # checks every file before the first step
    if max(counts) < geo.global_tokens + 1:
        raise DataError(f"loader: no shard holds one global batch of {geo.global_tokens:,} tokens + 1 "
                        f"(largest: {max(counts):,} tokens in {files[counts.index(max(counts))]}); "
                        "lower the batch or use bigger shards")
    return _rank_slice_steps(list(files), geo, torch.device(device), cycle)


def _rank_slice_steps(files: list[Path], geo: Geometry, device: torch.device, cycle: bool) -> Iterator[Step]:
    G, BL, B, L = geo.global_tokens, geo.micro_tokens, geo.device_batch, geo.seq_len
    for path in _shard_paths(files, cycle):
        tokens = _host_tokens(path, pinned=device.type == "cuda")   # once per shard, not once per step
        pos = 0
        while pos + G + 1 <= len(tokens):
            yield [_flat_batch(tokens[pos + s * BL: pos + (s + 1) * BL + 1], B, L, device)
                   for s in geo.my_slices()]
            pos += G


@LOADERS.register("bos_aligned", config=BosAligned)
def build_bos_aligned(cfg, files: list[Path], *, seq_len: int, device_batch: int, accum: int, rank: int,
                      world: int, bos_id: int, device, cycle: bool) -> Iterator[Step]:
    geo = _geometry(files, seq_len, device_batch, accum, rank, world)
    max_doc_len = cfg.max_doc_len if cfg is not None else None
    if max_doc_len is not None and max_doc_len < 1:
        raise DataError(f"loader bos_aligned: max_doc_len must be positive, got {max_doc_len}")
    for f in files:
        read_header(f)
    rows = _packed_rows if max_doc_len is not None else _aligned_rows
    return _bos_steps(list(files), geo, bos_id, max_doc_len, rows, torch.device(device), cycle)


def _bos_steps(files, geo: Geometry, bos_id: int, max_doc_len, rows, device, cycle) -> Iterator[Step]:
    B, L = geo.device_batch, geo.seq_len
    n_rows = geo.slices * B
    while True:
        produced = False
        for tokens in _shards(files, cycle=False):
            bos = np.flatnonzero(np.asarray(tokens) == bos_id)  # once per shard: ~0.1 s for 100M tokens
            cursor = 0
            while True:
                found = rows(tokens, bos, cursor, n_rows, L, 2 * geo.global_tokens, max_doc_len)
                if found is None:
                    break  # the shard cannot fill another step: its tail is dropped
                pieces, cursor = found
                produced = True
                step = []
                for s in geo.my_slices():
                    buf = np.empty((B, L + 1), dtype=np.int32)
                    for b in range(B):
                        at = 0
                        for start, end in pieces[s * B + b]:
                            buf[b, at:at + end - start] = tokens[start:end]
                            at += end - start
                    step.append(_row_batch(buf, device))
                yield step
        if not cycle:
            return
        if not produced:
            raise DataError(f"loader bos_aligned: no shard of {files[0].parent} yields a step of {n_rows} "
                            f"BOS-aligned rows of {L + 1} tokens (BOS id {bos_id}); lower the batch, "
                            "check the BOS id, or use rank_slice")


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
