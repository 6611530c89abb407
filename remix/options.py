"""The options of one run (the command line's flags), kept apart from the torch-heavy runner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunOptions:
    seed: int | None = None               # None: the recipe's seed
    scale: str | None = None              # "tiny" shrinks any recipe (remix.scale)
    steps: int | None = None              # the schedule scales with it
    sets: tuple[tuple[str, Any], ...] = ()  # --set path=value, applied last
    device: str | None = None             # cpu | cuda; None: cuda when available
    results: str = "results"
    world: int = 1                        # devices the run will use (torchrun's WORLD_SIZE)
    target: float | None = None           # None: the recipe's (or the scale's) target val loss
