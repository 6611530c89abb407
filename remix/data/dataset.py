"""Datasets: a recipe names its data by source, and this finds the shards, counts their tokens from
the headers, says who the data is (for the run record) and whether it is enough (before training).

Sources:
  embedded        the documentation text shipped with Python (built and cached on first use)
  fineweb         $REMIX_DATA/fineweb10B/fineweb_{train,val}_*.bin   ($REMIX_DATA defaults to ./data)
  fineweb100B     $REMIX_DATA/fineweb100B/fineweb_{train,val}_*.bin
  finewebedu10B   $REMIX_DATA/finewebedu10B/finewebedu_{train,val}_*.bin
  DIR             a directory holding one set of *_train_*.bin and *_val_*.bin
  DIR/PREFIX      the PREFIX_train_*.bin and PREFIX_val_*.bin of a directory holding several sets
A directory may say its tokenizer in PREFIX_dataset.json or dataset.json ({"bos_id": ..., "vocab_size":
...}); without one it is taken to be GPT-2 (BOS 50256, vocab 50257), like every shard the speedrun uses.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from remix.data.errors import DataError
from remix.data.shards import HEADER_BYTES, read_header

GPT2_BOS = 50256
GPT2_VOCAB = 50257
FINEWEB_SHARD_TOKENS = 100_000_000

# source name -> (directory under $REMIX_DATA, file prefix, the command that downloads it)
HUB_SOURCES = {
    "fineweb": ("fineweb10B", "fineweb", "remix data fineweb"),
    "fineweb10B": ("fineweb10B", "fineweb", "remix data fineweb"),
    "fineweb100B": ("fineweb100B", "fineweb", "remix data fineweb --variant 100B"),
    "finewebedu10B": ("finewebedu10B", "finewebedu", "remix data fineweb --variant edu10B"),
}


def data_root() -> Path:
    return Path(os.environ.get("REMIX_DATA") or "data")


@dataclass
class Dataset:
    name: str
    root: Path
    bos_id: int
    vocab_size: int
    train_files: list[Path]
    val_files: list[Path]
    train_counts: list[int] = field(repr=False)
    val_counts: list[int] = field(repr=False)
    remedy: str = field(repr=False, default="")   # the command that gets (more of) this data

    @property
    def train_tokens(self) -> int:
        return sum(self.train_counts)

    @property
    def val_tokens(self) -> int:
        return sum(self.val_counts)

    def identity(self) -> dict:
        """Who the data is, for the run record: names, sizes, token counts, and hashes of the headers
        and of a sample of each file's tokens (its first and last 4 KiB), so that two shards of one
        name and size but different content are told apart without reading 200 MB per shard."""
        headers, sample = hashlib.sha256(), hashlib.sha256()
        files = []
        for split, paths, counts in (("val", self.val_files, self.val_counts),
                                     ("train", self.train_files, self.train_counts)):
            for path, count in zip(paths, counts):
                size = HEADER_BYTES + 2 * count
                with open(path, "rb") as f:
                    head = f.read(HEADER_BYTES + 4096)
                    f.seek(max(HEADER_BYTES, size - 4096))
                    tail = f.read()
                headers.update(path.name.encode() + b"\0" + head[:HEADER_BYTES])
                sample.update(path.name.encode() + b"\0" + head[HEADER_BYTES:] + tail)
                files.append({"split": split, "name": path.name, "bytes": size, "tokens": count})
        return {
            "name": self.name, "bos_id": self.bos_id, "vocab_size": self.vocab_size,
            "train_tokens": self.train_tokens, "val_tokens": self.val_tokens, "files": files,
            "headers_sha256": headers.hexdigest(), "sample_sha256": sample.hexdigest(),
        }

    def check(self, *, val_tokens_needed: int, train_tokens_needed: int, allow_epochs: bool,
              batch_tokens: int | None = None, val_batch_tokens: int | None = None) -> None:
        """DataError unless the val shards hold val_tokens_needed + 1 tokens (the loader reads one target
        past the last input) and the train shards hold train_tokens_needed (or allow_epochs).

        With batch_tokens (val_batch_tokens), the global batch, the counts are of the tokens the rank-slice
        loader can actually use: each shard gives whole batches and drops its tail.
        """
        where = f"dataset {self.name!r} ({self.root})"
        val_have = self.val_tokens if val_batch_tokens is None else usable(self.val_counts, val_batch_tokens)
        val_need = val_tokens_needed + (1 if val_batch_tokens is None else 0)
        if val_have < val_need:
            raise DataError(
                f"{where}: evaluation needs {val_need:,} val tokens, the val shards "
                f"({', '.join(p.name for p in self.val_files)}) hold {val_have:,}"
                + ("" if val_batch_tokens is None else f" usable in batches of {val_batch_tokens:,}")
                + f". Lower eval.tokens, or get a bigger val split{self._remedy_hint()}.")
        train_have = self.train_tokens if batch_tokens is None else usable(self.train_counts, batch_tokens)
        if train_have <= 0:
            raise DataError(f"{where}: no train shard holds one global batch of {batch_tokens:,} tokens "
                            f"(+1 target); lower train.tokens_per_step or get bigger shards{self._remedy_hint()}.")
        if train_have < train_tokens_needed and not allow_epochs:
            raise DataError(
                f"{where}: training needs {train_tokens_needed:,} tokens (steps x tokens_per_step), the "
                f"{len(self.train_files)} train shards hold {train_have:,}"
                + ("" if batch_tokens is None else f" usable in batches of {batch_tokens:,}")
                + f". {self._more_train(train_tokens_needed, batch_tokens)}"
                "or set data.allow_epochs = true in the recipe to go over the data more than once.")

    def _remedy_hint(self) -> str:
        return f" (`{self.remedy}`)" if self.remedy else ""

    def _more_train(self, needed: int, batch_tokens: int | None) -> str:
        if self.remedy.startswith("remix data fineweb"):
            per_shard = usable([FINEWEB_SHARD_TOKENS], batch_tokens) if batch_tokens else FINEWEB_SHARD_TOKENS
            shards = -(-needed // per_shard)
            return f"Download more shards with `{self.remedy} --train-shards {shards}`, "
        if self.remedy:
            return f"Get more data (`{self.remedy}`), "
        return "Use a bigger source, "


def usable(counts: list[int], batch_tokens: int) -> int:
    """Tokens the rank-slice loader draws from shards of these sizes: whole batches of batch_tokens,
    each needing one more token (the last target); a shard's tail is dropped."""
    return sum(max(0, (n - 1) // batch_tokens) * batch_tokens for n in counts)


def open_dataset(source: str) -> Dataset:
    if source == "embedded":
        from remix.data.embedded import PREFIX, ensure_embedded
        return _from_dir(ensure_embedded(), PREFIX, "embedded", remedy="")
    if source in HUB_SOURCES:
        sub, prefix, remedy = HUB_SOURCES[source]
        root = data_root() / sub
        if not root.is_dir():
            raise DataError(f"dataset {source!r}: directory {root} does not exist. Download it with "
                            f"`{remedy} --train-shards N` (N shards of 100M train tokens, plus the val shard), "
                            f"or point $REMIX_DATA at the directory that holds {sub}/.")
        return _from_dir(root, prefix, source, remedy=remedy)
    path = Path(source).expanduser()
    if path.is_dir():
        return _from_dir(path, None, None, remedy="remix data tokenize FILES... --out DIR")
    if path.parent.is_dir() and any(path.parent.glob(f"{path.name}_*_*.bin")):
        return _from_dir(path.parent, path.name, path.name, remedy="remix data tokenize FILES... --out DIR")
    raise DataError(f"data source {source!r}: not 'embedded', 'fineweb', 'fineweb100B', 'finewebedu10B', "
                    f"nor an existing directory of *_train_*.bin / *_val_*.bin shards. Download FineWeb with "
                    f"`remix data fineweb`, or tokenize text with `remix data tokenize FILES... --out DIR`.")


def _from_dir(root: Path, prefix: str | None, name: str | None, *, remedy: str) -> Dataset:
    """name None: the files' prefix names the dataset (enwiki_train_000001.bin -> enwiki)."""
    if prefix is None:
        prefixes = sorted({p.name.split("_train_")[0] for p in root.glob("*_train_*.bin")}
                          | {p.name.split("_val_")[0] for p in root.glob("*_val_*.bin")})
        if len(prefixes) > 1:
            raise DataError(f"{root}: holds several datasets ({', '.join(prefixes)}); name one as "
                            f"{root / prefixes[0]} (directory/prefix)")
        prefix = prefixes[0] if prefixes else "*"
        name = name or (prefixes[0] if prefixes else root.name)
    train = sorted(root.glob(f"{prefix}_train_*.bin"))
    val = sorted(root.glob(f"{prefix}_val_*.bin"))
    hint = f" Get it with `{remedy}`." if remedy else ""
    if not val or not train:
        missing = " and ".join(s for s, files in (("val", val), ("train", train)) if not files)
        raise DataError(f"{root}: no {missing} shards ({prefix}_{missing.split()[0]}_*.bin).{hint}")
    meta = _metadata(root, prefix)
    return Dataset(
        name=meta.get("name", name), root=root,
        bos_id=int(meta.get("bos_id", GPT2_BOS)), vocab_size=int(meta.get("vocab_size", GPT2_VOCAB)),
        train_files=train, val_files=val,
        train_counts=[read_header(p)["tokens"] for p in train],
        val_counts=[read_header(p)["tokens"] for p in val],
        remedy=remedy,
    )


def _metadata(root: Path, prefix: str) -> dict:
    """What the maker of the shards said about them: PREFIX_dataset.json (remix writes it), or a
    dataset.json for the whole directory."""
    for path in (root / f"{prefix}_dataset.json", root / "dataset.json"):
        if path.is_file():
            try:
                meta = json.loads(path.read_text())
            except (OSError, ValueError) as e:
                raise DataError(f"{path}: unreadable: {e}") from None
            if not isinstance(meta, dict):
                raise DataError(f"{path}: expected a JSON object")
            return meta
    return {}
