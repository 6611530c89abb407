"""The default corpus: documentation text that ships with Python itself, so runs need no network.

Documents: each pydoc topic (pydoc_data.topics, the language reference's help pages) and each
docstring (module, class, function) of the pure-Python standard-library modules, read from their
source with `ast` (nothing is imported, so no module's side effects run). Modules come from the
fixed, sorted `sys.stdlib_module_names`, minus the ones distributions often split off into other
packages (tkinter, idlelib, ...), so two installs of one Python version give one corpus.

Tokens are the UTF-8 bytes (0-255) with BOS = 256 before every document: vocab 257. The documents
are shuffled with a fixed seed; the first whole documents reaching VAL_MIN_TOKENS form the val
shard, the rest is one stream cut into TRAIN_SHARD_TOKENS-token train shards (like the speedrun's
shards, a document may run from one train shard into the next).

With CPython 3.11.7 this gives 1,559,701 train tokens (2 shards) and 269,373 val tokens from
6,384 documents (79 topics, 6,305 docstrings of 502 files); building takes about 1.5 s. The result is cached under a key made of
EMBEDDED_VERSION and the Python version, so a change to this file (bump the version) or a new
Python rebuilds it.
"""

from __future__ import annotations

import ast
import json
import os
import random
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

import numpy as np

from remix.data.shards import write_shard

EMBEDDED_VERSION = "2"
BOS = 256
VOCAB = 257
SEED = 20240520
VAL_MIN_TOKENS = 262_144 + 4_096      # 2^18 val tokens + 1 target, with room for a few batch sizes
TRAIN_SHARD_TOKENS = 1 << 20
PREFIX = "embedded"

# Modules that distributions ship separately, or that are tests and demos rather than documentation.
EXCLUDED = frozenset({
    "__phello__", "_pydev_bundle", "antigravity", "this", "test", "idlelib", "tkinter", "turtle",
    "turtledemo", "lib2to3", "distutils", "ensurepip", "venv", "pydoc_data",
})


def cache_dir() -> Path:
    root = Path(os.environ["REMIX_CACHE"]) if os.environ.get("REMIX_CACHE") else Path.home() / ".cache" / "remix"
    v = sys.version_info
    return root / "embedded" / f"v{EMBEDDED_VERSION}-py{v.major}.{v.minor}.{v.micro}"


def ensure_embedded(root: Path | None = None) -> Path:
    """The directory of the embedded corpus's shards, built on first use."""
    final = root or cache_dir()
    if (final / f"{PREFIX}_dataset.json").exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    # Build next to the final place and rename it in, so concurrent ranks or an interrupted build
    # never leave a half-built corpus under the final name; the loser of a race keeps the winner's.
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
    try:
        build(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / f"{PREFIX}_dataset.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def build(out: Path) -> dict:
    docs = documents()
    random.Random(SEED).shuffle(docs)
    encoded = [np.frombuffer(d.encode("utf-8"), dtype=np.uint8) for d in docs]

    n_val, val_tokens = 0, 0
    while val_tokens < VAL_MIN_TOKENS:
        val_tokens += 1 + encoded[n_val].size
        n_val += 1
    val = _stream(encoded[:n_val])
    train = _stream(encoded[n_val:])

    write_shard(out / f"{PREFIX}_val_000000.bin", val)
    train_files = []
    for i, start in enumerate(range(0, train.size, TRAIN_SHARD_TOKENS)):
        name = f"{PREFIX}_train_{i + 1:06d}.bin"
        write_shard(out / name, train[start:start + TRAIN_SHARD_TOKENS])
        train_files.append(name)
    meta = {
        "name": "embedded", "bos_id": BOS, "vocab_size": VOCAB, "tokenizer": "utf-8 bytes",
        "version": EMBEDDED_VERSION, "python": sys.version.split()[0],
        "documents": {"val": n_val, "train": len(docs) - n_val},
        "tokens": {"val": int(val.size), "train": int(train.size)},
        "train_files": train_files,
    }
    (out / f"{PREFIX}_dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _stream(docs: list[np.ndarray]) -> np.ndarray:
    """BOS before every document, all in one uint16 array."""
    out = np.empty(sum(d.size + 1 for d in docs), dtype=np.uint16)
    i = 0
    for d in docs:
        out[i] = BOS
        out[i + 1:i + 1 + d.size] = d
        i += 1 + d.size
    return out


def documents() -> list[str]:
    from pydoc_data.topics import topics

    docs = [topics[k].strip() for k in sorted(topics)]
    for path in source_files():
        docs.extend(_docstrings(path))
    return [d for d in docs if d]


def source_files() -> list[Path]:
    """The .py files of the included standard-library modules, in a fixed order."""
    # Looked up in the stdlib directory rather than through importlib: some modules (os, codecs)
    # are frozen into the interpreter, and their specs do not point at the source.
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files: list[Path] = []
    for name in sorted(sys.stdlib_module_names):
        if name in EXCLUDED:
            continue
        if (stdlib / name / "__init__.py").exists():  # a package: all its modules, tests excluded
            for d, dirs, names in os.walk(stdlib / name):
                dirs[:] = sorted(x for x in dirs if "test" not in x and x != "__pycache__")
                files.extend(Path(d) / n for n in sorted(names) if n.endswith(".py"))
        elif (stdlib / f"{name}.py").exists():
            files.append(stdlib / f"{name}.py")
        # else: a C extension or a builtin, with no docstrings in source
    return files


def _docstrings(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, OSError):
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=True)
            if doc and doc.strip():
                out.append(doc.strip())
    return out
