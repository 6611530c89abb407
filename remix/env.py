"""What a run ran on: hardware and software, recorded with every result and part of its identity."""

from __future__ import annotations

import functools
import hashlib
import platform
import subprocess
from pathlib import Path

import torch

import remix


def hardware(device: str, world: int) -> dict:
    if device.startswith("cuda") and torch.cuda.is_available():
        name = torch.cuda.get_device_name(torch.device(device))
    else:
        name = platform.processor() or platform.machine() or "cpu"
    return {"device": device.split(":")[0], "device_name": name, "device_count": world}


def software() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "remix": remix.__version__, "git_commit": git_commit(), "code": code_digest()}


@functools.cache
def code_digest() -> str:
    """A hash of the code a run executes (the engine and the ingredients), so a record made before a
    change to it is never taken for a run of the changed code."""
    import ingredients
    h = hashlib.sha256()
    for package in (Path(remix.__file__).parent, Path(ingredients.__file__).parent):
        for path in sorted(package.rglob("*.py")):
            h.update(path.relative_to(package.parent).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
