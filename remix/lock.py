"""One trainer per run identity: two `remix` processes on one results folder never train the same run twice.

    with run_lock(store.root, plan.identity):
        ...   # train and write the record

The lock is an flock on `<results>/.locks/<identity>.lock`, so the kernel drops it when its process dies
however it dies (kill -9 leaves no stale lock to clean up). The file holds who took it (pid, host, time),
which the second process reports in `RunLocked`. Where flock is missing (not POSIX) there is no lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Iterator

from remix.results import now

try:
    import fcntl
except ImportError:   # pragma: no cover - Windows
    fcntl = None


class RunLocked(RuntimeError):
    def __init__(self, identity: str, path: Path, holder: dict):
        who = (f"pid {holder.get('pid', '?')} on {holder.get('host', '?')} (since {holder.get('since', '?')})"
               if holder else "another process")
        super().__init__(f"run {identity} is being trained by {who}; not training it twice (lock {path})")
        self.identity, self.path, self.holder = identity, path, holder


def lock_path(root: Path | str, identity: str) -> Path:
    return Path(root) / ".locks" / f"{identity}.lock"


@contextlib.contextmanager
def run_lock(root: Path | str, identity: str) -> Iterator[None]:
    if fcntl is None:
        yield
        return
    path = lock_path(root, identity)
    os.makedirs(path.parent, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise RunLocked(identity, path, holder) from None
        # the holder before us unlinks the file before it lets go: a lock on an unlinked file is no lock
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": now()}).encode())
        yield
    finally:
        Path(path).unlink(missing_ok=True)
        os.close(fd)


def _read(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        return {}
