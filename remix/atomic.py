"""Atomic file writes that follow the umask, for records, manifests and token shards.

A file is written to a temporary name in its directory and renamed into place, so a reader (or a
resumed sweep) never sees half of it. `tempfile.mkstemp` creates that file 0600 whatever the umask;
left so, a results folder or a dataset shared on a cluster would be unreadable to teammates. So the
file gets the mode any other tool would give it (0666 less the umask) before it is renamed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator


def umask() -> int:
    """The process's umask, read without changing it where Linux says it (/proc/self/status): setting
    it to read it back would briefly give other threads' new files the wrong mode."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """`with atomic_open(path, "wb") as f: ...`: the file appears at `path`, complete, on success, and
    nothing appears (no temporary left behind) if the block raises."""
    path = Path(path)
    os.makedirs(path.parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
