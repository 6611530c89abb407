"""Rotary position embeddings on queries and keys, in place of the learned position table.

What: each head's q and k are split in halves (x1, x2); pair (j, j + D/2) is rotated by the angle
t·ω_j, t the absolute position in the row: y1 = x1·cos + x2·sin, y2 = −x1·sin + x2·cos, in fp32.
Frequencies (option `frequencies`):
  * "standard" (#2): ω_j = base^(−2j/D) for all D/2 pairs, base 10,000;
  * "truncated" (#17, used by A and M): D/4 frequencies (1/1024)^(i/(D/4 − 1)), i = 0 … D/4 − 1,
    then D/4 zeros, so a quarter of the pairs rotate not at all (for D = 128: 32 + 32).
Where from: #2 (rotary embeddings), #17 (half-truncated). Requires: nothing.
Math: changes it. Dropping it leaves the learned table, or no positions at all where rows are longer
than a table can be (see long_rows).
"""

from dataclasses import dataclass

import torch

from ingredients._records import R2, R17
from remix.slots import POSITIONS
from remix.ingredient import ingredient
from remix.model.positions import Positions
from remix.registry import RegistryError
from remix.spec import C


def frequencies(kind: str, head_dim: int, base: float) -> torch.Tensor:
    """The D/2 angular frequencies, computed on the CPU in fp32 as the reference scripts do (tables built
    on a GPU differ in the last bit for some entries, and then in bf16)."""
    half = head_dim // 2
    if kind == "standard":
        return base ** (-torch.arange(half, dtype=torch.float32, device="cpu") / half)
    quarter = head_dim // 4
    rotating = (1 / 1024) ** torch.linspace(0, 1, steps=quarter, dtype=torch.float32, device="cpu")
    return torch.cat([rotating, torch.zeros(half - quarter, device="cpu")])


class Rotary(Positions):
    def __init__(self, omega: torch.Tensor, max_len: int):
        super().__init__()
        theta = torch.outer(torch.arange(max_len, dtype=torch.float32, device="cpu"), omega)   # (T, D/2), on the CPU
        self.register_buffer("cos", theta.cos(), persistent=False)
        self.register_buffer("sin", theta.sin(), persistent=False)

    def _rotate(self, x: torch.Tensor) -> torch.Tensor:   # x: (B, T, H, D)
        T = x.size(1)
        cos, sin = self.cos[None, :T, None, :], self.sin[None, :T, None, :]
        x1, x2 = x.float().chunk(2, dim=-1)
        return torch.cat((x1 * cos + x2 * sin, x2 * cos - x1 * sin), dim=-1).type_as(x)

    def rotate(self, q, k):
        return self._rotate(q), self._rotate(k)


@dataclass(frozen=True)
class RopeConfig:
    frequencies: "str" = "truncated"
    base: "float" = 10000.0

    def __post_init__(self):
        if self.frequencies not in ("standard", "truncated"):
            raise ValueError(f"frequencies must be standard or truncated, got {self.frequencies!r}")
        if self.base <= 1:
            raise ValueError(f"base must be > 1, got {self.base}")


@POSITIONS.register("rope", config=RopeConfig)
def rope(cfg: RopeConfig, model) -> Positions:
    multiple = 4 if cfg.frequencies == "truncated" else 2
    if model.head_dim % multiple:
        raise RegistryError(f"rope ({cfg.frequencies}) needs head_dim divisible by {multiple}, got {model.head_dim}")
    return Rotary(frequencies(cfg.frequencies, model.head_dim, cfg.base), model.max_len)


@ingredient(name="rope", summary="rotary embeddings on q and k instead of a learned position table",
            category="architecture", provenance=(R2, R17),
            options=RopeConfig, doc=__doc__)
def INGREDIENT(spec, frequencies, base):
    return spec.set("model.positions", C("rope", frequencies=frequencies, base=base))
