"""FP8 matrix products with per-tensor scales: torch._scaled_mm on a CUDA GPU, an exact emulation elsewhere.

    quantize(t, s, fmt)            t / s rounded to fmt (e4m3 or e5m2), saturating at the format's max
    scaled_mm(a, b, sa, sb, …)     (a·b)·sa·sb; a (M, K) row-major, b (K, N) column-major, both FP8

The emulation (CPU: tests and tiny runs) converts the FP8 operands to fp32 exactly, multiplies with fp32
accumulation and applies the scales, so it differs from the GPU kernel only in accumulation order (and,
with use_fast_accum, in the tensor cores' reduced-precision accumulation).
"""

from __future__ import annotations

import torch

E4M3 = torch.float8_e4m3fn
E5M2 = torch.float8_e5m2
MAX = {E4M3: 448.0, E5M2: 57344.0}


def quantize(t: torch.Tensor, scale, fmt: torch.dtype = E4M3) -> torch.Tensor:
    """fmt(t / scale), computed in fp32 and clamped to ±max (a no-op for values in range; a plain cast of an
    out-of-range value would give NaN or inf)."""
    m = MAX[fmt]
    return (t.float() / scale).clamp(-m, m).to(fmt)


def scale_tensor(value, like: torch.Tensor) -> torch.Tensor:
    """A 0-dim fp32 scale on `like`'s device (what _scaled_mm takes for per-tensor scaling)."""
    if isinstance(value, torch.Tensor):
        return value.float().reshape(())
    return torch.full((), value, dtype=torch.float32, device=like.device)


def scaled_mm(a: torch.Tensor, b: torch.Tensor, scale_a: torch.Tensor, scale_b: torch.Tensor, *,
              out_dtype: torch.dtype, fast_accum: bool) -> torch.Tensor:
    """(a·b)·scale_a·scale_b in out_dtype; a (M, K) row-major FP8, b (K, N) column-major FP8."""
    if a.is_cuda:
        return torch._scaled_mm(a, b, scale_a=scale_a, scale_b=scale_b, out_dtype=out_dtype,
                                use_fast_accum=fast_accum)
    return ((a.float() @ b.float()) * (scale_a * scale_b)).to(out_dtype)


def column_major(t: torch.Tensor) -> torch.Tensor:
    """The same matrix laid out column-major (a copy unless it already is)."""
    return t.t().contiguous().t()


class ForwardFP8(torch.autograd.Function):
    """y = x·Wᵀ with an FP8 forward and a bf16 straight-through backward (#84, #87, #89): the gradients are
    those of the plain product with the saved x and W (W cast to x's dtype, as the plain linear does).

    forward(x2d, w, x_scale, w_q, w_scale, fast_accum): x2d (N, in); w (out, in) the master weight;
    x_scale (0-dim fp32): x_q = e4m3(x / x_scale); w_q: the weight's FP8 copy (out, in), or None to
    quantise w here with w_scale."""

    @staticmethod
    def forward(ctx, x, w, x_scale, w_q, w_scale, fast_accum):
        ctx.save_for_backward(x, w)
        x_q = quantize(x, x_scale)
        if w_q is None:
            w_q = quantize(w, w_scale)
        return scaled_mm(x_q, w_q.t(), x_scale, w_scale, out_dtype=x.dtype, fast_accum=fast_accum)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        wc = w.to(g.dtype)
        grad_x = g @ wc
        grad_w = (g.t() @ x.to(g.dtype)).to(w.dtype)
        return grad_x, grad_w, None, None, None, None


class FP8Linear(torch.nn.Module):
    """A linear kind (remix.model.roles) with an FP8 forward and a bf16 straight-through backward, in
    training; evaluation computes the plain bf16 product. Subclasses say how x and W are scaled."""

    kernel = "torch._scaled_mm (FP8 forward, training) / bf16"
    fast_accum = True

    def __init__(self, shape: tuple[int, int]):
        super().__init__()
        self.shape = shape

    def weight(self) -> torch.Tensor:
        owner, name = self._owner
        return getattr(owner, name).reshape(self.shape)

    def forward(self, x, w, b):
        if not self.training:
            return torch.nn.functional.linear(x, w.type_as(x), b.type_as(x) if b is not None else None)
        x2 = x.reshape(-1, x.size(-1))
        y = self.product(x2, w)
        y = y.view(*x.shape[:-1], y.size(-1))
        return y + b.type_as(y) if b is not None else y

    def product(self, x2: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def bind(self, owner: torch.nn.Module, name: str) -> None:
        """Where the master weight lives (a tuple attribute: not registered as a submodule); a kind with
        an FP8 copy of it makes that copy now, from the weights as initialised."""
        self._owner = (owner, name)
        if getattr(owner, name).device.type != "meta" and hasattr(self, "after_optimizer_step"):
            with torch.no_grad():
                self.after_optimizer_step(0)   # the copy of the weights as initialised


def linear_dims_multiple_of_16(spec, cfg, device) -> str | None:
    """_scaled_mm's shape rule for the block's linears on a GPU: every dimension a multiple of 16."""
    m, t = spec.model, spec.train
    dims = {"model.d_model": m.d_model, "model.mlp_hidden": m.mlp_hidden,
            "n_head·head_dim": m.n_head * m.head_dim, "tokens per micro-batch": t.device_batch * t.seq_len}
    bad = [f"{k} = {v}" for k, v in dims.items() if v % 16]
    return f"{', '.join(bad)} not a multiple of 16" if bad else None
