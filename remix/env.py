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


def software(spec=None) -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "remix": remix.__version__, "git_commit": git_commit(), "code": code_digest(spec)}


# Modules of remix/ that cannot change what a run computes (commands, reporting, sweep planning).
NOT_ENGINE = ("cli*.py", "stats.py", "ttt.py", "sweep.py", "executors.py", "results.py", "data/cli.py",
              "data/fineweb.py", "data/tokenize_text.py", "atomic.py", "lock.py", "outdir.py", "preflight.py",
              "watch.py", "launch.py", "slurm.py")


def code_digest(spec=None) -> str:
    """A hash of the code a run executes: the engine, and the modules of the components `spec` names (a
    record made before a change to them is never taken for a run of the changed code; an ingredient the
    run does not use cannot make its records stale)."""
    h = hashlib.sha256()
    for path in sorted(_engine_files()) + sorted(_component_files(spec)):
        h.update(path.relative_to(ROOT).as_posix().encode())
        h.update(_read(path))
    return h.hexdigest()[:16]


ROOT = Path(remix.__file__).parent.parent


@functools.cache
def _engine_files() -> tuple[Path, ...]:
    package = Path(remix.__file__).parent
    skip = {p for pattern in NOT_ENGINE for p in package.glob(pattern)}
    return tuple(p for p in package.rglob("*.py") if p not in skip)


@functools.cache
def _read(path: Path) -> bytes:
    return path.read_bytes()


def _component_files(spec) -> set[Path]:
    """The files of the ingredient modules that registered the spec's components, and the private helper
    modules of the catalogue (ingredients/_*.py) that they import."""
    if spec is None:
        return set()
    from remix.slots import OPTIMIZERS, slot_components
    builders = [registry.get(c.name) for _, registry, c in slot_components(spec) if c.name in registry]
    builders += [OPTIMIZERS.get(g.optimizer) for g in spec.optim.values() if g.optimizer in OPTIMIZERS]
    modules = {getattr(b, "__module__", "") for b in builders}
    from remix.optim.muon import piece_modules
    for g in spec.optim.values():
        if g.optimizer == "muon":   # Muon's pieces may come from ingredient modules (a kernel orthogonaliser)
            modules |= piece_modules(g.args)
    files = set()
    for name in modules:
        if name.startswith("ingredients."):
            files |= _with_helpers(name)
    return files


@functools.cache
def _with_helpers(module: str) -> frozenset[Path]:
    import ast
    import importlib
    path = Path(importlib.import_module(module).__file__)
    found = {path}
    for node in ast.walk(ast.parse(_read(path))):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
        for name in names:
            if name.startswith("ingredients._"):
                found |= _with_helpers(name)
    return frozenset(found)


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
