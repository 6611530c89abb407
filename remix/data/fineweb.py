"""FineWeb GPT-2 shards from the Hugging Face hub: the files the speedrun trains and evaluates on.

Each variant is a dataset repository of 100M-token shards: one val shard (000000) and numbered train
shards (000001...). The download goes through huggingface_hub, which shows a progress bar, writes to a
temporary file under DIR/.cache/huggingface and renames it into place only when complete, and retries
a dropped connection from where it stopped (older huggingface_hub versions also resume a partial file
on the next run; newer ones start that one shard again). A file already there whose header and size
agree is skipped without asking the network, so an interrupted run loses at most the shard it was
on; every downloaded file is checked the same way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from remix.data.dataset import data_root
from remix.data.errors import DataError
from remix.data.shards import read_header


@dataclass(frozen=True)
class Variant:
    repo: str          # Hugging Face dataset repository
    prefix: str        # file names: {prefix}_val_000000.bin, {prefix}_train_000001.bin, ...
    dir: str           # default directory under $REMIX_DATA (the one `open_dataset` looks in)
    train_shards: int  # how many train shards the repository holds


VARIANTS = {
    "10B": Variant("kjj0/fineweb10B-gpt2", "fineweb", "fineweb10B", 103),
    "100B": Variant("kjj0/fineweb100B-gpt2", "fineweb", "fineweb100B", 1030),
    "edu10B": Variant("kjj0/finewebedu10B-gpt2", "finewebedu", "finewebedu10B", 99),
}

# fetch(repo, filename, local_dir) -> path of the downloaded file; tests replace it by a fake.
Fetch = Callable[[str, str, Path], str]


def variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise DataError(f"unknown FineWeb variant {name!r}; choose one of {', '.join(VARIANTS)}") from None


def shard_names(v: Variant, train_shards: int) -> list[str]:
    if not 0 <= train_shards <= v.train_shards:
        raise DataError(f"--train-shards must be between 0 and {v.train_shards} for {v.repo}, got {train_shards}")
    return [f"{v.prefix}_val_{0:06d}.bin"] + [f"{v.prefix}_train_{i:06d}.bin" for i in range(1, train_shards + 1)]


def download(variant_name: str = "10B", train_shards: int | None = None, dest: Path | None = None, *,
             fetch: Fetch | None = None, log: Callable[[str], None] | None = None) -> list[Path]:
    """Makes dest hold the val shard and the first train_shards train shards (all when None)."""
    v = variant(variant_name)
    names = shard_names(v, v.train_shards if train_shards is None else train_shards)
    dest = Path(dest) if dest is not None else data_root() / v.dir
    fetch = fetch or hub_fetch
    log = log or (lambda msg: print(msg, file=sys.stderr))
    dest_existed = dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    cache_existed = (dest / HUB_CACHE).exists()
    paths = []
    for k, name in enumerate(names, 1):
        path = dest / name
        if complete(path):
            log(f"[{k}/{len(names)}] {name}: already complete")
        else:
            log(f"[{k}/{len(names)}] {name} from {v.repo}")
            try:
                got = Path(fetch(v.repo, name, dest))
            except BaseException:
                _tidy_hub_cache(dest, cache_existed)
                if not dest_existed:
                    with contextlib.suppress(OSError):
                        dest.rmdir()   # only if empty: a folder this call made for nothing
                raise
            if got.resolve() != path.resolve():  # a fetch that put it elsewhere (a hub cache)
                os.replace(got, path)
            try:
                read_header(path)
            except DataError as e:
                path.unlink(missing_ok=True)  # never leave a bad file under the final name
                raise DataError(f"{e}; the downloaded file was removed, run the command again to "
                                "download it afresh") from None
        paths.append(path)
    return paths


# huggingface_hub's bookkeeping under local_dir: lock files, and partial downloads it can resume
HUB_CACHE = Path(".cache") / "huggingface"


def _tidy_hub_cache(dest: Path, existed: bool) -> None:
    """After a failed download: no lock file is left behind (it says nothing once its process is gone), and
    a cache folder this call made and that holds no partial download to resume is removed whole."""
    cache = dest / HUB_CACHE
    for lock in cache.rglob("*.lock"):
        lock.unlink(missing_ok=True)
    if not existed and cache.is_dir() and not any(cache.rglob("*.incomplete")):
        shutil.rmtree(cache, ignore_errors=True)
        with contextlib.suppress(OSError):
            cache.parent.rmdir()   # .cache itself, when nothing else lives there


def complete(path: Path) -> bool:
    try:
        read_header(path)
        return True
    except DataError:
        return False


def hub_fetch(repo: str, filename: str, local_dir: Path) -> str:
    """One file through huggingface_hub (imported here: the GPU machines may not have it)."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise DataError("downloading FineWeb needs huggingface_hub: pip install huggingface_hub") from None
    try:
        # HF_ENDPOINT read here, not at huggingface_hub's import, so a mirror set later is honoured
        return hf_hub_download(repo_id=repo, filename=filename, repo_type="dataset", local_dir=local_dir,
                               endpoint=os.environ.get("HF_ENDPOINT") or None)
    except KeyboardInterrupt:
        raise
    except Exception as e:  # network, DNS, proxy, offline mode, HTTP errors: all mean the same to the user
        name = type(e).__name__
        if name in _NOT_THERE:
            raise DataError(f"{filename} is not in https://huggingface.co/datasets/{repo} ({name}); "
                            "ask for fewer --train-shards") from None
        cause = e.__cause__ or e.__context__  # "not in the local cache" hides the network error behind it
        why = f"{type(cause).__name__}: {_first_line(cause)}" if cause is not None else f"{name}: {_first_line(e)}"
        endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
        raise DataError(
            f"could not download {filename} from {endpoint}/datasets/{repo} ({why}). Check the network "
            f"connection (and HF_ENDPOINT, HF_HUB_OFFLINE, proxy settings), then run the same command again: "
            f"the shards already complete are kept. Without internet, download the files "
            f"elsewhere and copy them into {local_dir}.") from None


# huggingface_hub's errors for a file or repository that does not exist (its LocalEntryNotFoundError,
# by contrast, means the hub could not be reached)
_NOT_THERE = {"RemoteEntryNotFoundError", "EntryNotFoundError", "RepositoryNotFoundError", "RevisionNotFoundError"}


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else "no message"
