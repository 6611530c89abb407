"""FP8 attention QKV and O projections, forward only and unscaled.

What (a linear kind for roles matrix.attn.qkv and matrix.attn.out: model.linears.fp8_qkvo =
"fp8_unscaled"; training only): y = e4m3(x)·e4m3(W)ᵀ by torch._scaled_mm with both scales 1, out in x's
dtype, fast accumulation; W and x are cast to e4m3 as they are, no scaling (saturating at ±448), at
every call. Backward in bf16, straight-through: dx = g·W, dW = gᵀ·x with the saved bf16 x and W.
Evaluation: the plain bf16 product. Applies to the stacked (3, inner, d) qkv (as one (3·inner, d)
matrix) and to GPT-2's single qkv linear alike.
Note: #87's qkv weight was pre-multiplied by its attention λ (init 0.5); with the uniform(±√3·0.5/√d)
init the weights sit mostly in e4m3's subnormal range (spacing 2⁻⁹), so unscaled FP8 is coarse for them.
Where from: #87 (06/11/26, 1.256 min, 2026-06-11_RecursiveFromBest, FP8LinearFunction: "forward FP8 for
2x Tensor Core throughput, backward BF16 for precision"); #88 and #89 do not carry it.
Requires: FP8 tensor cores (CUDA compute capability ≥ 8.9) to train, refused before training elsewhere;
d_model, n_head·head_dim and the tokens of a micro-batch multiples of 16. A CPU computes an exact emulation.
Math: changes it (the forward's rounding).
"""

from dataclasses import dataclass

from remix.capability import FP8, requires
from remix.ingredient import Provenance, ingredient
from remix.kernels.fp8 import FP8Linear, ForwardFP8, linear_dims_multiple_of_16, scale_tensor
from remix.slots import LINEARS
from remix.spec import C

R87 = Provenance("87", "06/11/26", "1.256 minutes", "2026-06-11_RecursiveFromBest",
                 "FP8 forward (unscaled) for the attention QKV and O projections")


@dataclass(frozen=True)
class FP8UnscaledConfig:
    roles: "tuple[str, ...]" = ("matrix.attn.qkv", "matrix.attn.out")


class FP8Unscaled(FP8Linear):
    def product(self, x2, w):
        return ForwardFP8.apply(x2, w, scale_tensor(1.0, x2), None, scale_tensor(1.0, x2), True)


@LINEARS.register("fp8_unscaled", config=FP8UnscaledConfig)
@requires(FP8, linear_dims_multiple_of_16)
def fp8_unscaled(cfg, model, role, shape):
    return FP8Unscaled(shape)


@ingredient(name="fp8_qkvo", summary="FP8 forward (unscaled) for the attention QKV and O projections",
            category="precision", provenance=R87, options=FP8UnscaledConfig, doc=__doc__)
def INGREDIENT(spec, roles):
    return spec.set("model.linears.fp8_qkvo", C("fp8_unscaled", roles=roles))
