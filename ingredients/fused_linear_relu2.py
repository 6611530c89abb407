"""Fused linear + ReLU²: the MLP's up-projection and its ReLU² in one Triton kernel (and, backward, the
down-projection's input gradient and the activation's derivative in another).

What (model.mlp = "fused_relu2"; the same parameters, roles and init as the plain MLP, whose up → relu²
→ down it computes): forward pre = bf16(x·W₁ᵀ), post = bf16(relu(pre)²) from one kernel (a Triton
matmul with the activation in its epilogue), out = post·W₂ᵀ (cuBLAS); backward dW₂ = gᵀ·post (cuBLAS),
dpre = bf16(2·relu(pre)·bf16(g·W₂)) from the second kernel, dW₁ = dpreᵀ·x, dx = dpre·W₁ (cuBLAS). The
(tokens × hidden) intermediates are written once and read once, instead of written by the matmul,
read and rewritten by the activation (forward) and its derivative (backward).
Option `lean` (#87): only post is stored and the backward takes relu(pre) = √post (fp32), which differs
from relu(pre) by up to about 2⁻⁹ relatively (post was rounded to bf16): one more rounding in the
backward, not bit-identical to #59 (the default keeps pre and post, as #59).
Kernel (attribute `kernel` of each MLP, for the run's record): the Triton kernels on a CUDA GPU with
triton importable (remix.kernels.relu2; the weights are cast to the activations' dtype first, as the
plain linears do); the plain torch path (up → relu² → down) on a CPU (the reference CI runs), without
triton (with a warning), with biases, or where a linear kind (FP8) was chosen for the MLP's weights.
Where from: #59 (01/10/26, 1.781 min, 2026-01-10_FusedLinearReLUSquare: persistent TMA kernel storing
pre and post); #87 (06/11/26, 1.256 min, 2026-06-11_RecursiveFromBest: "leaner" kernel storing post only).
Our kernel is our own, simpler (a grouped-tile matmul with boundary masks, autotuned over five tilings).
Requires: relu2 (the MLP's activation). Conflicts with fp8_mlp_up and fp8_mlp_down (their FP8 products
replace the matmuls this fuses). Math: the same (rounding points kept; the matmul's accumulation order
differs).
"""

import warnings
from dataclasses import dataclass

import torch

from remix.ingredient import Provenance, ingredient
from remix.kernels import triton_available
from remix.model.mlp import MLP
from remix.registry import RegistryError
from remix.slots import MLPS
from remix.spec import C

R59 = Provenance("59", "01/10/26", "1.781 minutes", "2026-01-10_FusedLinearReLUSquare", "fused linear + ReLU² Triton kernel")
R87 = Provenance("87", "06/11/26", "1.256 minutes", "2026-06-11_RecursiveFromBest", "leaner kernel: post only, √post backward")


@dataclass(frozen=True)
class FusedReLU2Config:
    lean: "bool" = False   # #87: store post only; the backward takes √post


class FusedReLU2MLP(MLP):
    def __init__(self, cfg: FusedReLU2Config, model):
        super().__init__(model)
        if model.activation.name != "relu2":
            raise RegistryError(f"fused_relu2 computes ReLU²; model.activation is {model.activation.name!r} (add relu2)")
        self.lean = cfg.lean
        self.function = None
        self.kernel = "torch reference (up → relu² → down)"
        if torch.get_default_device().type == "cuda":
            if model.bias:
                warnings.warn("fused_relu2: the kernel has no bias; the MLPs run the plain torch path")
            elif not triton_available():
                warnings.warn("fused_relu2: triton is not installed; the MLPs run the plain torch path")
            else:
                from remix.kernels.relu2 import FusedReLU2
                self.function = FusedReLU2
                self.kernel = "triton fused linear+relu² (#87 lean)" if cfg.lean else "triton fused linear+relu² (#59)"

    def forward(self, x):
        if self.function is not None and x.is_cuda and self.up.kind is None and self.down.kind is None:
            shape = x.shape
            y = self.function.apply(x.reshape(-1, shape[-1]), self.up.weight.to(x.dtype),
                                    self.down.weight.to(x.dtype), self.lean)
            return y.view(shape)
        return self.down(self.act(self.up(x)))


@MLPS.register("fused_relu2", config=FusedReLU2Config)
def fused_relu2(cfg: FusedReLU2Config, model):
    return FusedReLU2MLP(cfg, model)


@ingredient(name="fused_linear_relu2", summary="the MLP's up-projection and ReLU² in one Triton kernel (same math)",
            category="systems", provenance=(R59, R87), options=FusedReLU2Config, requires=("relu2",),
            conflicts=("fp8_mlp_up", "fp8_mlp_down"), math_equivalent=True, doc=__doc__)
def INGREDIENT(spec, lean):
    if spec.model.mlp.name != "mlp":
        raise RegistryError(f"fused_linear_relu2 replaces the plain MLP; model.mlp is {spec.model.mlp.name!r}")
    return spec.set("model.mlp", C("fused_relu2", lean=lean))
