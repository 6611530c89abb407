"""FP8 LM head: in training, all three matrix products of the head run in FP8; evaluation stays bf16.

What (model.head = "fp8"; training mode only, on the final-normed hidden state x flattened to (N, d)):
    x_q = e4m3(x / x_s)          W_q = e4m3(W / w_s)
    logits = (x_q·W_qᵀ)·x_s·w_s                     torch._scaled_mm, bf16 out, fast accumulation
  backward, with g = dL/dlogits:
    g_q = e5m2(g / grad_s)
    dx  = (g_q·W_q)·grad_s·w_s                      bf16 out, full-precision accumulation
    dW  = (g_qᵀ·x_q)·grad_s·x_s                     fp32 out (then the weight's dtype), full accumulation
  The FP8 copies of x and W made in the forward are what the backward uses (saved instead of x and W).
  Evaluation (model.eval()) computes x·Wᵀ in bf16, the weight cast to x's dtype, as the plain head.
  Casts saturate at the format's max (448 for e4m3, 57344 for e5m2); the records' casts did not clamp,
  which is the same wherever their values were in range (the scales are chosen so they are).
  Option `transposed` (#61): the weight is stored (d, V); see transposed_head.
Scales (option `scales`, divisor form; the multiplier form of #19–#21 is the same cast with divisor 1/m,
exact because those multipliers are powers of two); `x_s`, `w_s`, `grad_s` override a preset:
    "19"        #19 (01/13/25) and #20: x·2, W·32, g·2²⁹ (divisors 1/2, 1/32, 2⁻²⁹); mean loss
    "21"        #21 (01/26/25, 2.933 min; and its 2.997 re-run): x·2, W·2⁹, g·2¹⁹; mean loss
    "21_3014"   21 (3.014) (05/24/25, StableTorch) … #27: x_s = √d/448, w_s = 24/448, grad_s = 1/448; sum loss
    "28"        #28 (08/23/25) … #50: √d/448, 2⁻⁹, 1/448; sum loss
    "51"        #51 (12/19/25) … #54: 100/448, 1.5/448, 0.75/448; sum loss
    "55"        #55 (12/29/25) … #89: 100/448, 1.6/448, 0.75/448; sum loss (#65 and #74 rescaled grad_s
                by a grad_scale that cancels against the loss multiplier, leaving #55's values)
  The default is "21_3014", record 21's regime. The scales assume the records' training loss: a mean
  over the micro-batch (#19, #21), or a sum (21 (3.014) on), where each gradient element is O(1); with a
  mean, the gradient would be N times smaller and most of it would underflow e5m2 at 1/448. So for the
  sum presets this ingredient also sets the training loss's reduction to "sum" (model.loss.reduction;
  evaluation stays a mean), as 21 (3.014) did; the trainer logs that sum.
Where from: #19 (01/13/25, 3.142 min, 2025-01-13_Fp8LmHead) introduced the custom op; scales retuned in
#21, 21 (3.014), #28, #51, #55 (see above).
Requires: FP8 tensor cores (CUDA compute capability ≥ 8.9, torch._scaled_mm) to train: the run is
refused before training elsewhere (remix.capability). d_model, the padded vocabulary and the tokens of a
micro-batch must be multiples of 16 (the records pad the vocabulary to 50,304). On a CPU the model
builds and computes an exact emulation (FP8 values, fp32 products) for tests.
Math: changes it (rounding of the head's products and gradients in training).
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from remix.capability import FP8, requires
from remix.ingredient import Provenance, ingredient
from remix.kernels.fp8 import E4M3, E5M2, column_major, quantize, scale_tensor, scaled_mm
from remix.model.head import padded_vocab
from remix.model.roles import declare
from remix.slots import HEADS, LOSSES
from remix.spec import C

R19 = Provenance("19", "01/13/25", "3.142 minutes", "2025-01-13_Fp8LmHead", "FP8 head: x·2, W·32, g·2²⁹")
R21 = Provenance("21", "01/26/25", "2.933 minutes", "2025-01-26_BatchSize", "scales 2, 2⁹, 2¹⁹")
R21b = Provenance("21 (3.014)", "05/24/25", "3.014 minutes", "2025-05-24_StableTorch",
                  "divisor form √d/448, 24/448, 1/448 with a summed training loss")
R28 = Provenance("28", "08/23/25", "2.812 minutes", "2025-08-23_SparseAttnGate", "w_s = 2⁻⁹")
R51 = Provenance("51", "12/19/25", "2.075 minutes", "2025-12-19_RetieLMHead", "100/448, 1.5/448, 0.75/448")
R55 = Provenance("55", "12/29/25", "1.918 minutes", "2025-12-29_VeSkipGates", "w_s = 1.6/448")

SQRT_D = "sqrt_d"   # x_s = √d_model / 448
PRESETS = {         # divisors (x_s, w_s, grad_s) and the training loss reduction they assume
    "19": (1 / 2, 1 / 32, 2.0 ** -29, "mean"),
    "21": (1 / 2, 2.0 ** -9, 2.0 ** -19, "mean"),
    "21_3014": (SQRT_D, 24 / 448, 1 / 448, "sum"),
    "28": (SQRT_D, 2.0 ** -9, 1 / 448, "sum"),
    "51": (100 / 448, 1.5 / 448, 0.75 / 448, "sum"),
    "55": (100 / 448, 1.6 / 448, 0.75 / 448, "sum"),
}


@dataclass(frozen=True)
class FP8HeadConfig:
    scales: "str" = "21_3014"          # a preset (see the card)
    x_s: "float | None" = None         # divisors that override the preset's
    w_s: "float | None" = None
    grad_s: "float | None" = None
    transposed: "bool" = False         # weight stored (d, V) (#61)

    def __post_init__(self):
        if self.scales not in PRESETS:
            raise ValueError(f"scales must be one of {', '.join(PRESETS)}, got {self.scales!r}")
        for name in ("x_s", "w_s", "grad_s"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise ValueError(f"{name} must be > 0, got {v}")

    def divisors(self, d_model: int) -> tuple[float, float, float]:
        x_s, w_s, grad_s, _ = PRESETS[self.scales]
        x_s = math.sqrt(d_model) / 448 if x_s == SQRT_D else x_s
        return (self.x_s or x_s, self.w_s or w_s, self.grad_s or grad_s)


class FP8HeadProduct(torch.autograd.Function):
    """logits = x·Wᵀ (W stored (V, d)) or x·W (stored (d, V)), with FP8 forward and backward products."""

    @staticmethod
    def forward(ctx, x, w, x_s, w_s, grad_s, transposed):
        x_q, w_q = quantize(x, x_s, E4M3), quantize(w, w_s, E4M3)
        ctx.save_for_backward(x_q, w_q)
        ctx.scales, ctx.transposed, ctx.dtypes = (x_s, w_s, grad_s), transposed, (x.dtype, w.dtype)
        sx, sw = scale_tensor(x_s, x), scale_tensor(w_s, x)
        b = column_major(w_q) if transposed else w_q.t()          # (d, V) column-major
        return scaled_mm(x_q, b, sx, sw, out_dtype=x.dtype, fast_accum=True)

    @staticmethod
    def backward(ctx, g):
        x_q, w_q = ctx.saved_tensors
        x_s, w_s, grad_s = ctx.scales
        x_dtype, w_dtype = ctx.dtypes
        sx, sw, sg = (scale_tensor(s, g) for s in (x_s, w_s, grad_s))
        g_q = quantize(g, grad_s, E5M2)
        b = w_q.t() if ctx.transposed else column_major(w_q)      # (V, d) column-major
        grad_x = scaled_mm(g_q, b, sg, sw, out_dtype=x_dtype, fast_accum=False)
        if ctx.transposed:   # (d, V) = x_qᵀ·g_q, the layout of the weight
            grad_w = scaled_mm(x_q.t().contiguous(), column_major(g_q), sx, sg, out_dtype=torch.float32,
                               fast_accum=False)
        else:                # (V, d) = g_qᵀ·x_q
            grad_w = scaled_mm(g_q.t().contiguous(), column_major(x_q), sg, sx, out_dtype=torch.float32,
                               fast_accum=False)
        return grad_x, grad_w.to(w_dtype), None, None, None, None


class FP8Head(nn.Module):
    kernel = "torch._scaled_mm (FP8, training) / bf16 (eval)"

    def __init__(self, cfg: FP8HeadConfig, model, embed: nn.Embedding):
        super().__init__()
        self.tied = model.tie_embeddings
        self.transposed = cfg.transposed
        if self.tied:
            if cfg.transposed:
                raise ValueError("a transposed head needs an untied head (untied_head): a tied table is (V, d)")
            self.weight = embed.weight
        else:
            rows = padded_vocab(model)
            shape = (model.d_model, rows) if cfg.transposed else (rows, model.d_model)
            self.weight = nn.Parameter(torch.empty(shape))
            declare(self, weight="head")
        self.x_s, self.w_s, self.grad_s = cfg.divisors(model.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            w = self.weight.type_as(x)
            return x @ w if self.transposed else F.linear(x, w)
        shape = x.shape
        logits = FP8HeadProduct.apply(x.reshape(-1, shape[-1]), self.weight, self.x_s, self.w_s, self.grad_s,
                                      self.transposed)
        return logits.view(*shape[:-1], logits.size(-1))

    def init_weights(self, init) -> None:
        if not self.tied:   # the (V, d) initialisation, whatever the storage (fan-in = d)
            init(self.weight.t() if self.transposed else self.weight, "head")


def multiples_of_16(spec, cfg, device) -> str | None:
    """_scaled_mm's shape rule on a GPU: every matrix dimension a multiple of 16."""
    m, t, e = spec.model, spec.train, spec.eval
    dims = {"model.d_model": m.d_model, "the padded vocabulary": padded_vocab(m),
            "tokens per micro-batch": t.device_batch * t.seq_len}
    bad = [f"{k} = {v}" for k, v in dims.items() if v % 16]
    return f"{', '.join(bad)} not a multiple of 16" if bad else None


@HEADS.register("fp8", config=FP8HeadConfig)
@requires(FP8, multiples_of_16)
def fp8_head(cfg: FP8HeadConfig, model, embed) -> nn.Module:
    return FP8Head(cfg, model, embed)


@ingredient(name="fp8_head", summary="FP8 LM head in training (e4m3 forward, e5m2 gradients; scales per record)",
            category="precision", provenance=(R19, R21, R21b, R28, R51, R55), options=FP8HeadConfig, doc=__doc__)
def INGREDIENT(spec, scales, x_s, w_s, grad_s, transposed):
    spec = spec.set("model.head", C("fp8", scales=scales, x_s=x_s, w_s=w_s, grad_s=grad_s, transposed=transposed))
    reduction = PRESETS[scales][3]
    loss = spec.model.loss
    config = LOSSES.entry(loss.name).config if loss.name in LOSSES else None
    if config is not None and "reduction" in config.__dataclass_fields__:
        spec = spec.set("model.loss.reduction", reduction)
    return spec
