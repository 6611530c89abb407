"""FP8 MLP up-projection, forward only: x·W₁ᵀ computed from e4m3 copies with current per-tensor scales.

What (a linear kind for role matrix.mlp.up: model.linears.fp8_mlp_up = "fp8_current"; training only):
  * weight, per layer, re-quantised after every optimizer step (a post-step hook, remix.optim):
        s_w = max(amax|W|, 1e-12) / 448,   W_q = e4m3(W / s_w)    (an FP8 buffer and an fp32 scale)
    (and once when the model is built, and after a state restore), so the scale is always current;
  * activations, per call, per tensor: a = max(amax|x|, 1e-12), x_q = e4m3(x·448/a);
  * y = (x_q·W_qᵀ)·(a/448)·s_w by torch._scaled_mm, out in x's dtype, fast accumulation;
  * backward unchanged, in bf16 (straight-through): dx = g·W, dW = gᵀ·x with the saved bf16 x and W.
  Evaluation: the plain bf16 product. Casts saturate at ±448 (values are in range by construction).
  The one amax couples the tokens of a micro-batch (a later token can move an earlier one's rounding), as
  in the record; tests/test_causal.py checks the rest of the forward causal with the scale held fixed.
Where from: #84 (05/21/26, 1.320 min, 2026-05-19_FP8MLPUpProj; kept by #88 and #89), where the FP8
product was inside the fused linear+ReLU² Triton kernel (`quantize_weights_fp8` after each step); here
it is cuBLAS's FP8 product followed by the activation, so it does not combine with fused_linear_relu2.
Requires: FP8 tensor cores (CUDA compute capability ≥ 8.9) to train, refused before training elsewhere;
d_model, mlp_hidden and the tokens of a micro-batch multiples of 16. A CPU computes an exact emulation.
Math: changes it (the forward's rounding).
"""

from dataclasses import dataclass

import torch

from remix.capability import FP8, requires
from remix.ingredient import Provenance, ingredient
from remix.kernels.fp8 import E4M3, FP8Linear, ForwardFP8, linear_dims_multiple_of_16, quantize
from remix.slots import LINEARS
from remix.spec import C

R84 = Provenance("84", "05/21/26", "1.320 minutes", "2026-05-19_FP8MLPUpProj",
                 "FP8 MLP up-projection in the forward, current per-layer weight and per-tensor input scales")


@dataclass(frozen=True)
class FP8CurrentConfig:
    roles: "tuple[str, ...]" = ("matrix.mlp.up",)


class FP8Current(FP8Linear):
    def __init__(self, shape):
        super().__init__(shape)
        self.register_buffer("w_q", torch.zeros(shape, dtype=E4M3))
        self.register_buffer("w_scale", torch.ones((), dtype=torch.float32))

    def after_optimizer_step(self, step: int) -> None:
        w = self.weight().detach()
        s = w.abs().amax().float().clamp_min(1e-12) / 448
        self.w_q.copy_(quantize(w, s))
        self.w_scale.copy_(s)

    def product(self, x2, w):
        a = x2.detach().abs().amax().float().clamp_min(1e-12) / 448
        return ForwardFP8.apply(x2, w, a, self.w_q, self.w_scale, True)


@LINEARS.register("fp8_current", config=FP8CurrentConfig)
@requires(FP8, linear_dims_multiple_of_16)
def fp8_current(cfg, model, role, shape):
    return FP8Current(shape)


@ingredient(name="fp8_mlp_up", summary="FP8 forward for the MLP up-projection (current scales; bf16 backward)",
            category="precision", provenance=R84, options=FP8CurrentConfig, doc=__doc__)
def INGREDIENT(spec, roles):
    return spec.set("model.linears.fp8_mlp_up", C("fp8_current", roles=roles))
