"""Output folders: checked before anything is written, so a bad --out is one clear error, not a traceback
halfway through (a file in the way, no permission, a read-only or virtual file system such as /proc)."""

from __future__ import annotations

import tempfile
from pathlib import Path


class OutputError(ValueError):
    pass


def writable_dir(path: Path | str, flag: str) -> Path:
    """`path` as a directory this process can create files in (made if missing); else OutputError naming
    the flag and why (a file in the way, no permission, a read-only or virtual file system)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{flag} {path}: is a file, expected a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise OutputError(f"{flag} {path}: cannot write there ({e.strerror or e})") from None
    return path
