"""GPU check of remix's kernels against their torch reference paths (one H200, no network, < 3 minutes).

Run from the repository root on a CUDA machine:

    python3 benchmarks/kernels_check.py [--only ce relu2 symmetric fp8_head fp8_linear varlen model]

For each kernel it prints the largest absolute and relative error against the reference (relative to
the reference's largest magnitude) and the time of both, in ms (forward+backward; the forward alone, or
a whole orthogonalisation, where the check says so). bf16 kernels are held
to "as accurate as the torch path": both are compared with an fp32 computation of the same function and
the kernel may be off by at most 2× the reference's error (plus 1e-3 of the scale); the FP8 products are
compared with an exact emulation (the FP8 operands in fp32, fp32 products) and may differ by 1.5e-2.
Exits 1 if any check fails or raises, naming it. The environment (torch, triton, GPU) is printed first.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

FAILED: list[str] = []
T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {msg}", flush=True)


def bench(fn, iters: int = 10, warmup: int = 3) -> float:
    """ms per call of fn after `warmup` calls (compilation and autotuning happen there)."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / iters * 1000


def errors(got, want) -> tuple[float, float]:
    got, want = got.float(), want.float()
    a = (got - want).abs().max().item()
    return a, a / max(want.abs().max().item(), 1e-30)


def check_like_reference(name: str, outputs: dict, ms_kernel: float, ms_ref: float, what: str = "fwd+bwd") -> None:
    """outputs: {label: (kernel, reference, fp32 golden)}: the kernel's error against the golden may be at
    most 2× the reference's plus 1e-3 of the scale."""
    ok = True
    for label, (k, r, g) in outputs.items():
        ka, kr = errors(k, g)
        ra, rr = errors(r, g)
        ia, ir = errors(k, r)
        good = kr <= 2 * rr + 1e-3
        ok &= good
        print(f"  {name:<28} {label:<8} vs reference: abs {ia:.3e} rel {ir:.3e} | vs fp32: kernel rel {kr:.3e}, "
              f"reference rel {rr:.3e} {'ok' if good else 'MISMATCH'}")
    print(f"  {name:<28} {what}: kernel {ms_kernel:.3f} ms, reference {ms_ref:.3f} ms ({ms_ref / ms_kernel:.2f}x)")
    if not ok:
        FAILED.append(name)


def check_close(name: str, outputs: dict, tol: float, ms_kernel: float | None = None, ms_ref: float | None = None,
                ref_label: str = "reference") -> None:
    ok = True
    for label, (k, r) in outputs.items():
        a, rel = errors(k, r)
        good = rel <= tol and math.isfinite(a)
        ok &= good
        print(f"  {name:<28} {label:<17} abs {a:.3e} rel {rel:.3e} (tol {tol:g}) {'ok' if good else 'MISMATCH'}")
    if ms_kernel is not None:
        print(f"  {name:<28} fwd+bwd: kernel {ms_kernel:.3f} ms, {ref_label} {ms_ref:.3f} ms ({ms_ref / ms_kernel:.2f}x)")
    if not ok:
        FAILED.append(name)


def fwd_bwd(fn, inputs, grad=None):
    for t in inputs:
        t.grad = None
    out = fn(*inputs)
    out.backward(grad if grad is not None else torch.ones_like(out))
    return out


# --- fused soft-capped cross-entropy ------------------------------------------------------------------

def check_ce():
    from remix.kernels.ce import softcap_ce
    N, V = 32768, 50304
    torch.manual_seed(0)
    z0 = (torch.randn(N, V, device="cuda") * 3).to(torch.bfloat16)
    t = torch.randint(0, 50257, (N,), device="cuda")
    t[::97] = -1
    forms = {"sigmoid_width": (2, 30.0, 7.5 * math.sqrt(768)), "tanh": (1, 15.0, 15.0), "plain": (0, 1.0, 1.0)}
    for label, (form, A, C) in forms.items():
        def cap(z):
            return z if form == 0 else (A * torch.tanh(z / A) if form == 1 else A * torch.sigmoid(z / C))

        def reference(z):
            return F.cross_entropy(cap(z.float()), t, ignore_index=-1, reduction="sum")

        def kernel(z):
            return softcap_ce(z, t, form, A, C, -1)[0].sum()

        ref_fn = torch.compile(reference) if label == "sigmoid_width" else reference
        z = z0.clone().requires_grad_()
        lk = fwd_bwd(kernel, [z]).detach()
        gk = z.grad.clone()
        lr = fwd_bwd(ref_fn, [z]).detach()
        gr = z.grad.clone()
        zg = z0.float().requires_grad_()
        lg = F.cross_entropy(cap(zg), t, ignore_index=-1, reduction="sum")
        lg.backward()
        ms_k = bench(lambda: fwd_bwd(kernel, [z]))
        ms_r = bench(lambda: fwd_bwd(ref_fn, [z]))
        what = "compiled" if label == "sigmoid_width" else "eager"
        print(f"  (reference: {what} torch; N = {N}, V = {V})")
        check_like_reference(f"fused_softcap_ce[{label}]", {"loss": (lk, lr, lg.detach()), "dlogits": (gk, gr, zg.grad)},
                             ms_k, ms_r)
        del zg, lg


# --- fused linear + ReLU² ---------------------------------------------------------------------------------

def check_relu2():
    from remix.kernels.relu2 import FusedReLU2
    M, d, h = 65536, 768, 3072
    torch.manual_seed(0)
    x0 = torch.randn(M, d, device="cuda", dtype=torch.bfloat16)
    w10 = (torch.rand(h, d, device="cuda") * 2 - 1).mul(0.03125).to(torch.bfloat16)
    w20 = (torch.randn(d, h, device="cuda") * 0.02).to(torch.bfloat16)
    g = torch.randn(M, d, device="cuda", dtype=torch.bfloat16)

    def plain(x, w1, w2):
        return torch.relu(x @ w1.t()).square() @ w2.t()

    reference = torch.compile(plain)
    for lean in (False, True):
        def kernel(x, w1, w2):
            return FusedReLU2.apply(x, w1, w2, lean)

        leaves = [t.clone().requires_grad_() for t in (x0, w10, w20)]
        yk = fwd_bwd(kernel, leaves, g).detach()
        gk = [t.grad.clone() for t in leaves]
        yr = fwd_bwd(reference, leaves, g).detach()
        gr = [t.grad.clone() for t in leaves]
        gold = [t.float().requires_grad_() for t in (x0, w10, w20)]
        yg = plain(*gold)
        yg.backward(g.float())
        ms_k = bench(lambda: fwd_bwd(kernel, leaves, g))
        ms_r = bench(lambda: fwd_bwd(reference, leaves, g))
        outputs = {"out": (yk, yr, yg.detach())}
        outputs.update({n: (a, b, c.grad) for n, a, b, c in zip(("dx", "dW1", "dW2"), gk, gr, gold)})
        name = "fused_linear_relu2" + ("[lean]" if lean else "")
        if lean:   # √post in the backward: one more bf16 rounding than the plain path, by design
            check_close(name, {k: (v[0], v[2]) for k, v in outputs.items()}, 2e-2, ms_k, ms_r, "compiled torch")
        else:
            check_like_reference(name, outputs, ms_k, ms_r)
        del gold, yg


# --- symmetric Newton–Schulz products (#27) -------------------------------------------------------------

def check_symmetric_output(name: str, out: torch.Tensor) -> None:
    exact = torch.equal(out, out.transpose(-2, -1))
    print(f"  {name:<28} symmetric: {'exactly' if exact else 'NO'} {'ok' if exact else 'MISMATCH'}")
    if not exact:
        FAILED.append(f"{name} (symmetry)")


def check_symmetric():
    """xxt and ba_plus_caa against the torch products (bf16 cuBLAS) and fp32, on Muon's wide-side shapes
    (X = 12 matrices of 768 × 768, 768 × 3072, 768 × 2304) and ragged ones (masks, 2-D and 4-D batches);
    then both kernel orthogonalisers against the torch ones, on the matrices as M stores them."""
    from ingredients.triton_newton_schulz import (
        orthogonalise_newton_schulz_triton, orthogonalise_polar_express_triton, torch_ba_plus_caa, torch_xxt)
    from remix.kernels.symmetric import ba_plus_caa, xxt
    from remix.optim.orthogonalise import POLAR_EPS, POLAR_EXPRESS, POLAR_SAFETY
    from remix.optim.orthogonalise import orthogonalise as ns_torch
    from remix.optim.orthogonalise import orthogonalise_polar_express as pe_torch
    ns5 = (3.4445, -4.7750, 2.0315)
    torch.manual_seed(0)
    for shape in ((12, 768, 768), (12, 768, 3072), (12, 768, 2304), (5, 300, 1000), (2, 3, 130, 70), (200, 77)):
        X = torch.randn(shape, device="cuda")
        X = (X / torch.linalg.matrix_norm(X, keepdim=True)).to(torch.bfloat16)   # as NS normalises it
        label = "x".join(map(str, shape))
        S = xxt(X)
        check_symmetric_output(f"xxt[{label}]", S)
        ms_k, ms_r = bench(lambda: xxt(X)), bench(lambda: torch_xxt(X))
        check_like_reference(f"xxt[{label}]", {"X·Xᵀ": (S, torch_xxt(X), torch_xxt(X.float()))}, ms_k, ms_r,
                             "forward (reference: bf16 torch matmul)")
        for b, c in ((ns5[1], ns5[2]), POLAR_EXPRESS[0][1:]):   # NS5's and Polar Express's first (the largest)
            B = ba_plus_caa(S, b, c)
            check_symmetric_output(f"ba_plus_caa[{label}]", B)
            ms_k = bench(lambda: ba_plus_caa(S, b, c))
            ms_r = bench(lambda: torch_ba_plus_caa(S, b, c))
            check_like_reference(f"ba_plus_caa[{label}]", {f"b={b:.3g}": (B, torch_ba_plus_caa(S, b, c),
                                                                            torch_ba_plus_caa(S.float(), b, c))},
                                 ms_k, ms_r, "forward (reference: bf16 torch, eager)")

    def fp32_iteration(G, triples, scale, eps):   # the same iteration without bf16 (TF32 is off)
        X = G.float()
        tall = X.size(-2) > X.size(-1)
        X = X.mT if tall else X
        X = X / (torch.linalg.matrix_norm(X, keepdim=True) * scale + eps)
        for a, b, c in triples:
            A = X @ X.mT
            X = a * X + (b * A + c * A @ A) @ X
        return X.mT if tall else X

    for shape in ((12, 768, 768), (12, 3072, 768), (2, 3, 768, 2304)):
        G = torch.randn(shape, device="cuda", dtype=torch.bfloat16)
        label = "x".join(map(str, shape))
        for name, kernel, reference, triples, scale, eps in (
                ("newton_schulz_triton", orthogonalise_newton_schulz_triton, ns_torch, [ns5] * 5, 1.0, 1e-7),
                ("polar_express_triton", orthogonalise_polar_express_triton, pe_torch, POLAR_EXPRESS, POLAR_SAFETY,
                 POLAR_EPS)):
            Ok, Or = kernel(G, 5, ns5), reference(G, 5, ns5)
            ok = Ok.shape == Or.shape and Ok.dtype == Or.dtype and Ok.is_contiguous()
            if not ok:
                print(f"  {name}[{label}] shape/dtype/layout {tuple(Ok.shape)} {Ok.dtype} vs {tuple(Or.shape)} "
                      f"{Or.dtype} MISMATCH")
                FAILED.append(f"{name}[{label}] (shape)")
            ms_k, ms_r = bench(lambda: kernel(G, 5, ns5)), bench(lambda: reference(G, 5, ns5))
            check_like_reference(f"{name}[{label}]", {"O": (Ok, Or, fp32_iteration(G, triples, scale, eps))},
                                 ms_k, ms_r, "5 steps (reference: compiled torch)")


# --- FP8 ---------------------------------------------------------------------------------------------

def emulated(a_q, b_q, sa, sb, out_dtype):
    """(a·b)·sa·sb with the FP8 operands in fp32 and fp32 products (no TF32)."""
    return ((a_q.float() @ b_q.float()) * (sa * sb)).to(out_dtype)


def check_fp8_head():
    from ingredients.fp8_head import FP8HeadProduct
    from remix.kernels.fp8 import E4M3, E5M2, quantize
    N, d, V = 16384, 768, 50304
    x_s, w_s, grad_s = math.sqrt(d) / 448, 24 / 448, 1 / 448
    torch.manual_seed(0)
    x0 = F.rms_norm(torch.randn(N, d, device="cuda"), (d,)).to(torch.bfloat16)
    W0 = torch.randn(V, d, device="cuda") * 0.05
    g = (torch.randn(N, V, device="cuda") * 0.01).to(torch.bfloat16)
    xq, wq = quantize(x0, x_s, E4M3), quantize(W0, w_s, E4M3)
    gq = quantize(g, grad_s, E5M2)
    ref_y = emulated(xq, wq.t(), x_s, w_s, torch.bfloat16)
    ref_dx = emulated(gq, wq, grad_s, w_s, torch.bfloat16)
    ref_dw = emulated(gq.t(), xq, grad_s, x_s, torch.float32)
    for transposed in (False, True):
        W = (W0.t().contiguous() if transposed else W0.clone()).requires_grad_()
        x = x0.clone().requires_grad_()

        def kernel(x, W):
            return FP8HeadProduct.apply(x, W, x_s, w_s, grad_s, transposed)

        y = fwd_bwd(kernel, [x, W], g)
        dx, dw = x.grad, (W.grad.t() if transposed else W.grad)
        compiled = torch.compile(kernel, fullgraph=True)
        yc = fwd_bwd(compiled, [x, W], g)
        dxc, dwc = x.grad, (W.grad.t() if transposed else W.grad)
        Wb = W0.to(torch.bfloat16)
        Wb = (Wb.t().contiguous() if transposed else Wb).requires_grad_()

        def plain(x, W):
            return x @ W if transposed else F.linear(x, W)

        ms_k = bench(lambda: fwd_bwd(compiled, [x, W], g))
        ms_r = bench(lambda: fwd_bwd(plain, [x, Wb], g))
        check_close(f"fp8_head[{'transposed' if transposed else '(V, d)'}]",
                    {"logits": (y, ref_y), "dx": (dx, ref_dx), "dW": (dw, ref_dw),
                     "logits (compiled)": (yc, ref_y), "dx (compiled)": (dxc, ref_dx), "dW (compiled)": (dwc, ref_dw)},
                    1.5e-2, ms_k, ms_r, "bf16 F.linear")


def check_fp8_linear():
    from torch import nn
    from ingredients.fp8_mlp_down import FP8Delayed, FP8DelayedConfig
    from ingredients.fp8_mlp_up import FP8Current
    from ingredients.fp8_qkvo import FP8Unscaled
    from remix.kernels.fp8 import quantize
    N, d, h = 65536, 768, 3072
    torch.manual_seed(0)
    holder = nn.Module()
    holder.weight = nn.Parameter((torch.rand(h, d, device="cuda") * 2 - 1).mul(0.03125).to(torch.bfloat16))
    x = torch.randn(N, d, device="cuda", dtype=torch.bfloat16).requires_grad_()
    g = torch.randn(N, h, device="cuda", dtype=torch.bfloat16)
    W = holder.weight.detach()
    plain = torch.compile(lambda x, w: F.linear(x, w))
    with torch.device("cuda"):
        kinds = {"fp8_current (#84)": FP8Current((h, d)), "fp8_unscaled (#87)": FP8Unscaled((h, d)),
                 "fp8_delayed (#89)": FP8Delayed(FP8DelayedConfig(), (h, d))}
    for label, kind in kinds.items():
        kind.bind(holder, "weight")
        kind.train()
        if label.startswith("fp8_current"):
            a = x.detach().abs().amax().float() / 448
            s_w = W.abs().amax().float() / 448
            ref = emulated(quantize(x.detach(), a), quantize(W, s_w).t(), a, s_w, torch.bfloat16)
        elif label.startswith("fp8_unscaled"):
            ref = emulated(quantize(x.detach(), 1.0), quantize(W, 1.0).t(), 1.0, 1.0, torch.bfloat16)
        else:
            s_a = kind.act_scale.clone()
            ref = emulated(quantize(x.detach(), s_a), kind.w_q.t(), s_a, kind.w_used, torch.bfloat16)
        y = fwd_bwd(lambda x, w: kind(x, w, None), [x, holder.weight], g)
        dx, dw = x.grad.clone(), holder.weight.grad.clone()
        compiled = torch.compile(lambda x, w: kind(x, w, None), fullgraph=True)
        ms_k = bench(lambda: fwd_bwd(compiled, [x, holder.weight], g))
        ms_r = bench(lambda: fwd_bwd(plain, [x, holder.weight], g))
        check_close(f"linear kind {label}", {"out": (y, ref), "dx": (dx, g @ W), "dW": (dw, g.t() @ x.detach())},
                    1.5e-2, ms_k, ms_r, "bf16 linear")


# --- varlen attention -----------------------------------------------------------------------------------

def documents(T, mean, generator, max_len=None):
    idx = torch.randint(0, 50000, (1, T), generator=generator)
    pos = 0
    while True:
        n = int(torch.empty(()).exponential_(1 / mean, generator=generator).item()) + 32
        if max_len:
            n = min(n, max_len)
        pos += n
        if pos >= T:
            return idx
        idx[0, pos] = 50256


def check_varlen():
    from ingredients.varlen_attention import VarlenConfig, VarlenCore, varlen_kernel
    if varlen_kernel() is None:
        print("  varlen_attn with a window is not in this torch: the core falls back to FlexAttention")
    H, D, scale = 6, 128, 0.12
    gen = torch.Generator().manual_seed(0)

    def cores(cfg, windows):
        made = {k: VarlenCore(cfg, windows, 50256, k) for k in ("sdpa (dense masked reference)", "flex_attention")}
        if varlen_kernel() is not None:
            made["varlen_attn (torch flash)"] = VarlenCore(cfg, windows, 50256, "varlen_attn (torch flash)")
        return made

    T = 8192
    cfg = VarlenConfig(window=1024, short_window=512)
    idx = documents(T, 650, gen).cuda()
    qkv0 = [torch.randn(1, T, H, D, device="cuda", dtype=torch.bfloat16) for _ in range(3)]
    g = torch.randn(1, T, H, D, device="cuda", dtype=torch.bfloat16)
    made = cores(cfg, {"long": 1024, "short": 512})
    dense = made.pop("sdpa (dense masked reference)")
    for window in ("long", "short"):
        if window == "short":   # one FlexAttention compile is enough to check its mask
            made.pop("flex_attention", None)
        dmask = dense.prepare(idx, {})
        gold = [t.float().requires_grad_() for t in qkv0]
        yg = dense(*gold, dmask, window, scale)
        yg.backward(g.float())
        ref = [t.clone().requires_grad_() for t in qkv0]
        yr = dense(*ref, dmask, window, scale)
        yr.backward(g)
        for kernel, core in made.items():
            run = torch.compile(lambda q, k, v, core=core: core(q, k, v, core.prepare(idx, {}), window, scale),
                                fullgraph=True)
            leaves = [t.clone().requires_grad_() for t in qkv0]
            yk = fwd_bwd(run, leaves, g)
            outputs = {"out": (yk, yr, yg)}
            outputs.update({n: (a.grad, b.grad, c.grad) for n, a, b, c in zip(("dq", "dk", "dv"), leaves, ref, gold)})
            ms_k = bench(lambda: fwd_bwd(run, leaves, g), iters=5)
            ms_r = bench(lambda: fwd_bwd(lambda q, k, v: dense(q, k, v, dmask, window, scale), ref, g), iters=3)
            print(f"  (T = {T}, {int((idx == 50256).sum())} documents, {window} window; reference: dense SDPA with the mask)")
            check_like_reference(f"varlen core[{kernel}, {window}]", outputs, ms_k, ms_r)

    # Speed at M's shape: one 65,536-token row, window 1,024; unbounded documents vs documents cut at 2,048.
    T = 65536
    q, k, v = (torch.randn(1, T, H, D, device="cuda", dtype=torch.bfloat16).requires_grad_() for _ in range(3))
    g = torch.randn(1, T, H, D, device="cuda", dtype=torch.bfloat16)
    for max_len in (0, 2048):
        idx = documents(T, 650, gen, max_len or None).cuda()
        made = cores(VarlenConfig(window=1024, max_doc_len=max_len), {"long": 1024})
        made.pop("sdpa (dense masked reference)")
        if max_len:   # FlexAttention does not depend on the bound: timed once
            made.pop("flex_attention")
        times = {}
        for kernel, core in made.items():
            run = torch.compile(lambda q, k, v, core=core: core(q, k, v, core.prepare(idx, {}), "long", scale),
                                fullgraph=True)
            times[kernel] = bench(lambda: fwd_bwd(run, [q, k, v], g), iters=5)
        print(f"  varlen speed, T = {T}, window 1024, {int((idx == 50256).sum())} documents, max_doc_len "
              f"{max_len or 'row'}: " + ", ".join(f"{k} {t:.2f} ms" for k, t in times.items()) + " (fwd+bwd, mask included)")


# --- whole models under torch.compile ----------------------------------------------------------------------

def model_spec(*names, n_layer=2, seq=8192):
    from remix.recipe import load_recipe
    from remix.runner import RunOptions, resolve_spec
    r = load_recipe(ROOT / "recipes" / "muon_baseline.toml").without_kernels()   # plain paths to compare with
    for n in names:
        r = r.add(n)
    spec = resolve_spec(r, RunOptions(device="cpu"))[0]
    return (spec.set("model.n_layer", n_layer).set("train.seq_len", seq).set("model.max_len", seq)
                .set("train.tokens_per_step", seq))


def check_model():
    from remix.capability import check, kernels
    from remix.model import build_model
    from remix.optim import build_optimizers
    from remix.trainer import compile_model
    gen = torch.Generator().manual_seed(1)
    idx = documents(8192, 650, gen).cuda()
    tgt = idx.roll(-1, 1)
    fused = model_spec("fused_softcap_ce", "fused_linear_relu2", "varlen_attention", "transposed_head")
    plain = model_spec()
    check(fused, "cuda")
    torch.manual_seed(0)
    a = build_model(fused.model, bos_id=50256, device="cuda")
    b = build_model(plain.model, bos_id=50256, device="cuda")
    print("  kernels:", kernels(a))
    with torch.no_grad():
        for p in a.parameters():
            p.normal_(0, 0.02)
        state = a.state_dict()
        state["head.weight"] = state["head.weight"].t().contiguous()
        b.load_state_dict(state)
    ca = compile_model(a)
    la = ca(idx, tgt)
    la.backward()
    lb = b(idx, tgt)
    lb.backward()
    grads = {"loss": (la.detach(), lb.detach()), "dW_up0": (a.blocks[0].mlp.up.weight.grad, b.blocks[0].mlp.up.weight.grad),
             "dqkv1": (a.blocks[1].attn.qkv_w.grad, b.blocks[1].attn.qkv_w.grad),
             "dhead": (a.head.weight.grad.t(), b.head.weight.grad)}
    check_close("M + fused kernels, compiled", grads, 3e-2)

    fp8 = model_spec("fp32_master_weights", "fp8_head", "fp8_mlp_up", "fp8_qkvo", "fp8_mlp_down", "fused_softcap_ce")
    check(fp8, "cuda")
    torch.manual_seed(0)
    m = build_model(fp8.model, bos_id=50256, device="cuda")
    opt = build_optimizers(m, fp8)
    step = compile_model(m)
    losses = []
    for i in range(3):
        loss = step(idx, tgt)
        loss.backward()
        opt.set_step(i)
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    m.eval()
    with torch.no_grad():
        val = m(idx, tgt).item()
    kind = m.blocks[0].mlp.up.kind
    W = m.blocks[0].mlp.up.weight.detach()
    requant = torch.equal(kind.w_q.float(), (W.float() / (W.abs().amax().float() / 448)).clamp(-448, 448)
                          .to(torch.float8_e4m3fn).float())
    ok = all(math.isfinite(v) for v in losses + [val]) and requant
    print(f"  M + fp32 masters + all FP8 + fused CE, compiled: train losses (sum) {losses}, eval {val:.4f}, "
          f"up-projection re-quantised after the step: {requant} {'ok' if ok else 'MISMATCH'}")
    print("  kernels:", kernels(m))
    if not ok:
        FAILED.append("fp8 model")


CHECKS = {"ce": check_ce, "relu2": check_relu2, "symmetric": check_symmetric, "fp8_head": check_fp8_head,
          "fp8_linear": check_fp8_linear, "varlen": check_varlen, "model": check_model}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=list(CHECKS), default=list(CHECKS))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check (the CPU reference paths are tested by tests/test_kernels.py)")
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False   # the references and emulations are true fp32
    torch._dynamo.config.cache_size_limit = 64
    try:
        import triton
        tv = triton.__version__
    except ImportError:
        tv = "not installed"
    cap = torch.cuda.get_device_capability()
    log(f"torch {torch.__version__} (CUDA {torch.version.cuda}), triton {tv}, {torch.cuda.get_device_name()} "
        f"(compute capability {cap[0]}.{cap[1]}); torch._scaled_mm: {hasattr(torch, '_scaled_mm')}")
    for name in args.only:
        log(f"{name}")
        try:
            CHECKS[name]()
        except Exception:
            traceback.print_exc()
            FAILED.append(f"{name} (raised)")
        torch.cuda.empty_cache()
    log("failed: " + ", ".join(FAILED) if FAILED else "all checks passed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
