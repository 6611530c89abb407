"""FP8 MLP down-projection, forward only, with delayed scaling of both operands.

What (a linear kind for role matrix.mlp.down: model.linears.fp8_mlp_down = "fp8_delayed"; training only):
  * activation (the MLP's hidden post = relu(pre)², so ≥ 0): its scale is the previous training
    forward's: x_q = e4m3(min(x / s_a, 448)) with s_a from a buffer (1.0 at first), and after the product
    s_a ← max(amax x, 1e-12)·1.8/448 (`act_headroom` 1.8) for the next forward (values above 1.8× the
    last maximum saturate);
  * weight: re-quantised after each optimizer step (post-step hook, remix.optim) with the scale computed
    from the weights one step earlier: W_q = e4m3(clamp(W / s_next, ±448)), s_used = s_next, then
    s_next ← max(amax|W|, 1e-12)·1.12/448 (`weight_headroom` 1.12) for the next step: one pass over the
    weights instead of amax-then-quantise. Bootstrap: when the model is built, after a state restore and
    for the first `bootstrap_steps` (16) steps, s_next is first set from the current weights without
    headroom (amax/448);
  * y = (x_q·W_qᵀ)·s_a·s_used by torch._scaled_mm, out in x's dtype, fast accumulation;
  * backward in bf16, straight-through: dx = g·W, dW = gᵀ·x with the saved bf16 x and W.
  Evaluation: the plain bf16 product, and the statistics are left alone.
Where from: #89 (07/17/26, 1.23 min, 2026-07-17_FP8DownProjection: "MLP down projection in FP8 with
efficient delayed scaling metric"), built on #84 (fp8_mlp_up), whose fused kernel emitted the FP8
activation; here the activation is quantised by the kind itself, so it needs neither #84 nor the fused
kernel (and does not combine with fused_linear_relu2). The zero-initialised down-projection makes the
first step's scale 1.0 harmless, as in the record.
Requires: FP8 tensor cores (CUDA compute capability ≥ 8.9) to train, refused before training elsewhere;
d_model, mlp_hidden and the tokens of a micro-batch multiples of 16. A CPU computes an exact emulation.
Math: changes it (the forward's rounding).
"""

from dataclasses import dataclass

import torch

from remix.capability import FP8, requires
from remix.ingredient import Provenance, ingredient
from remix.kernels.fp8 import E4M3, FP8Linear, ForwardFP8, linear_dims_multiple_of_16, quantize
from remix.registry import steps
from remix.slots import LINEARS
from remix.spec import C

R89 = Provenance("89", "07/17/26", "1.23 minutes", "2026-07-17_FP8DownProjection",
                 "FP8 down-projection: activation scale delayed one forward (×1.8), weight scale one step (×1.12)")


@dataclass(frozen=True)
class FP8DelayedConfig:
    roles: "tuple[str, ...]" = ("matrix.mlp.down",)
    act_headroom: "float" = 1.8
    weight_headroom: "float" = 1.12
    bootstrap_steps: "int" = steps(16)

    def __post_init__(self):
        if self.act_headroom <= 0 or self.weight_headroom <= 0 or self.bootstrap_steps < 0:
            raise ValueError(f"headrooms must be > 0 and bootstrap_steps ≥ 0, got {self.act_headroom}, "
                             f"{self.weight_headroom}, {self.bootstrap_steps}")


class FP8Delayed(FP8Linear):
    def __init__(self, cfg: FP8DelayedConfig, shape):
        super().__init__(shape)
        self.act_headroom, self.weight_headroom, self.bootstrap = cfg.act_headroom, cfg.weight_headroom, cfg.bootstrap_steps
        self.register_buffer("w_q", torch.zeros(shape, dtype=E4M3))
        for name in ("w_used", "w_next", "act_scale"):
            self.register_buffer(name, torch.ones((), dtype=torch.float32))

    def after_optimizer_step(self, step: int) -> None:
        w = self.weight().detach()
        amax = w.abs().amax().float().clamp_min(1e-12)
        if step < self.bootstrap:
            self.w_next.copy_(amax / 448)
        self.w_q.copy_(quantize(w, self.w_next))
        self.w_used.copy_(self.w_next)
        self.w_next.copy_(amax * self.weight_headroom / 448)

    def product(self, x2, w):
        y = ForwardFP8.apply(x2, w, self.act_scale.clone(), self.w_q, self.w_used, True)
        with torch.no_grad():
            self.act_scale.copy_(x2.detach().abs().amax().float().clamp_min(1e-12) * self.act_headroom / 448)
        return y


@LINEARS.register("fp8_delayed", config=FP8DelayedConfig)
@requires(FP8, linear_dims_multiple_of_16)
def fp8_delayed(cfg: FP8DelayedConfig, model, role, shape):
    return FP8Delayed(cfg, shape)


@ingredient(name="fp8_mlp_down", summary="FP8 forward for the MLP down-projection with delayed scaling",
            category="precision", provenance=R89, options=FP8DelayedConfig, doc=__doc__)
def INGREDIENT(spec, roles, act_headroom, weight_headroom, bootstrap_steps):
    return spec.set("model.linears.fp8_mlp_down", C("fp8_delayed", roles=roles, act_headroom=act_headroom,
                                                    weight_headroom=weight_headroom,
                                                    bootstrap_steps=bootstrap_steps))
