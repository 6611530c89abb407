"""Rotary position embeddings on queries and keys, in place of the learned position table.

What: pairs of each head's q and k dims are rotated by the angle t·ω_j, t the absolute position in
the row: (a, b) -> (a·cos + b·sin, b·cos − a·sin).
Frequencies (option `frequencies`):
  * "standard" (#2): ω_j = base^(−2j/D) for all D/2 pairs, base 10,000;
  * "truncated" (#17, used by A and M): D/4 frequencies (1/1024)^(i/(D/4 − 1)), i = 0 … D/4 − 1,
    then D/4 zeros, so a quarter of the pairs rotate not at all (for D = 128: 32 + 32).
Which dims form pair j (option `pairing`):
  * "half" (#2 … #57, A and M): dims j and j + D/2 (the head split in halves); with "truncated", dims
    0 … D/4−1 and D/2 … 3D/4−1 rotate and dims D/4 … D/2−1, 3D/4 … D−1 are static;
  * "interleaved" (#58, 01/07/26, 1.820 min, 2026-01-07_PairedHeadAttention): dims 2j and 2j + 1;
    with "truncated", dims 0 … D/2−1 rotate and D/2 … D−1 are static. For plain layers this is a
    fixed permutation of the head dims (the same model under learned W_q, W_k and QK-norm); it
    changes which dims a key offset hits (partial_key_offset) and what paired heads rotate.
Precision (option `precision`):
  * "float32" (#17 … #31, A and M): q and k are rotated in fp32 and cast back;
  * "bfloat16" (#32, 09/11/25, 2.625 min, 2025-09-11_VectSigmoidBFloat16; kept by every later record):
    the cos/sin tables are rounded to bf16 and the rotation is computed in bf16 (each product and the
    sum rounded), then cast back to the input's dtype. Rounding only.
Table length (option `span`): the tables hold span·max_len positions; paired-head attention (#58)
rotates heads at positions 2t and 2t + 1 and sets span 2 (its paired_head_attention ingredient does).
Note: M casts every buffer to its bf16 parameter dtype, so its "float32" rotation already reads
bf16-rounded tables; "bfloat16" adds bf16 arithmetic on top.
Where from: #2 (rotary embeddings), #17 (half-truncated), #32 (bf16), #58 (interleaved). Requires:
nothing. Math: changes it. Dropping it leaves the learned table, or no positions at all where rows are
longer than a table can be (see long_rows). The options' defaults are A's and M's (bit for bit).
"""

from dataclasses import dataclass

import torch

from ingredients._records import R2, R17
from remix.ingredient import Provenance, ingredient
from remix.model.positions import Positions
from remix.registry import RegistryError
from remix.slots import POSITIONS
from remix.spec import C

R32 = Provenance("32", "09/11/25", "2.625 minutes", "2025-09-11_VectSigmoidBFloat16", "bf16 RoPE tables and rotation")
R58 = Provenance("58", "01/07/26", "1.820 minutes", "2026-01-07_PairedHeadAttention",
                 "interleaved pairs (2j, 2j+1); tables of 2·max_len positions for paired heads")
PAIRINGS = ("half", "interleaved")
PRECISIONS = ("float32", "bfloat16")


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
    def __init__(self, omega: torch.Tensor, max_len: int, pairing: str = "half", precision: str = "float32"):
        super().__init__()
        theta = torch.outer(torch.arange(max_len, dtype=torch.float32, device="cpu"), omega)   # (T, D/2), on the CPU
        self.pairing, self.precision = pairing, precision
        cos, sin = theta.cos(), theta.sin()
        if precision == "bfloat16":
            cos, sin = cos.to(torch.bfloat16), sin.to(torch.bfloat16)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def _turn(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """x (B, T, H, D) rotated by tables broadcast to (…, D/2)."""
        if self.precision == "bfloat16":
            y = x.to(torch.bfloat16)
            cos, sin = cos.to(torch.bfloat16), sin.to(torch.bfloat16)
        else:
            y = x.float()
        if self.pairing == "half":
            x1, x2 = y.chunk(2, dim=-1)
            return torch.cat((x1 * cos + x2 * sin, x2 * cos - x1 * sin), dim=-1).type_as(x)
        pairs = y.unflatten(-1, (-1, 2))
        a, b = pairs[..., 0], pairs[..., 1]
        return torch.stack((a * cos + b * sin, b * cos - a * sin), dim=-1).flatten(-2).type_as(x)

    def rotate(self, q, k):
        T = q.size(1)
        cos, sin = self.cos[None, :T, None, :], self.sin[None, :T, None, :]
        return self._turn(q, cos, sin), self._turn(k, cos, sin)

    def rotate_at(self, q, k, positions: torch.Tensor):
        """q, k (B, T, H, D) rotated at positions (T, H): each token and head its own position."""
        cos, sin = self.cos[positions][None], self.sin[positions][None]
        return self._turn(q, cos, sin), self._turn(k, cos, sin)


@dataclass(frozen=True)
class RopeConfig:
    frequencies: "str" = "truncated"
    base: "float" = 10000.0
    pairing: "str" = "half"            # half | interleaved (#58)
    precision: "str" = "float32"       # float32 | bfloat16 (#32)
    span: "int" = 1                    # table rows = span · max_len (paired heads: 2)

    def __post_init__(self):
        if self.frequencies not in ("standard", "truncated"):
            raise ValueError(f"frequencies must be standard or truncated, got {self.frequencies!r}")
        if self.base <= 1:
            raise ValueError(f"base must be > 1, got {self.base}")
        if self.pairing not in PAIRINGS:
            raise ValueError(f"pairing must be one of {', '.join(PAIRINGS)}, got {self.pairing!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.span < 1:
            raise ValueError(f"span must be ≥ 1, got {self.span}")


@POSITIONS.register("rope", config=RopeConfig)
def rope(cfg: RopeConfig, model) -> Positions:
    multiple = 4 if cfg.frequencies == "truncated" else 2
    if model.head_dim % multiple:
        raise RegistryError(f"rope ({cfg.frequencies}) needs head_dim divisible by {multiple}, got {model.head_dim}")
    return Rotary(frequencies(cfg.frequencies, model.head_dim, cfg.base), cfg.span * model.max_len,
                  cfg.pairing, cfg.precision)


@ingredient(name="rope", summary="rotary embeddings on q and k instead of a learned position table",
            category="architecture", provenance=(R2, R17, R32, R58),
            options=RopeConfig, doc=__doc__)
def INGREDIENT(spec, frequencies, base, pairing, precision, span):
    extra = {k: v for k, v, default in (("pairing", pairing, "half"), ("precision", precision, "float32"),
                                        ("span", span, 1)) if v != default}   # A's and M's spec unchanged
    return spec.set("model.positions", C("rope", frequencies=frequencies, base=base, **extra))
