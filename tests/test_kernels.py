"""Precision and kernel ingredients on the CPU: each component's reference path against its formula, the
capability errors, linear kinds and post-step hooks. (benchmarks/kernels_check.py checks the GPU kernels
against these reference paths on an H200.)"""

import functools
import math
import subprocess
import sys
import warnings

import pytest
import torch
import torch.nn.functional as F

from remix.capability import CapabilityError, check, kernels
from remix.ingredient import catalogue
from remix.kernels.fp8 import E4M3, E5M2, quantize, scaled_mm
from remix.model import build_model
from remix.optim import build_optimizers
from remix.recipe import load_recipe
from remix.runner import RunOptions, resolve_spec
from remix.validate import check_capabilities

from conftest import RECIPES, ROOT, without_kernels


@functools.cache
def m_with(*names, scale="tiny", recipe="muon_baseline.toml"):
    r = without_kernels(recipe)
    for n in names:
        r = r.add(n)
    return resolve_spec(r, RunOptions(device="cpu", scale=scale))[0]


def fp32_model(spec, seed=0):
    torch.manual_seed(seed)
    return build_model(spec.set("model.param_dtype", "float32").model, bos_id=256)


def tokens(spec, seed=1):
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, 257, (2, spec.train.seq_len), generator=g)
    idx[:, ::37] = 256
    return idx, idx.roll(-1, 1)


def e4m3(t):
    return t.to(torch.float64).clamp(-448, 448).to(E4M3).to(torch.float64)


# --- FP8 building blocks --------------------------------------------------------------------------

def test_quantize_divides_rounds_and_saturates():
    t = torch.tensor([0.0, 1.0, 3.3, -500.0, 1e6])
    q = quantize(t, 0.5, E4M3)
    assert q.dtype == E4M3
    assert q.float().tolist() == [0.0, 2.0, torch.tensor(6.6).to(E4M3).item(), -448.0, 448.0]
    assert quantize(torch.tensor([1e9]), 1.0, E5M2).float().item() == 57344.0


def test_scaled_mm_emulation_is_the_scaled_product():
    torch.manual_seed(0)
    a, b = quantize(torch.randn(5, 32), 0.1), quantize(torch.randn(7, 32), 0.2)
    out = scaled_mm(a, b.t(), torch.tensor(0.1), torch.tensor(0.2), out_dtype=torch.float32, fast_accum=True)
    ref = (a.to(torch.float64) @ b.to(torch.float64).t()) * 0.1 * 0.2
    assert torch.allclose(out.double(), ref, rtol=1e-5, atol=1e-6)


# --- fp8_head -------------------------------------------------------------------------------------

@pytest.mark.parametrize("transposed", [False, True])
def test_fp8_head_forward_and_backward_are_the_records_formulas(transposed):
    spec = m_with("fp8_head")
    if transposed:
        spec = spec.set("model.head.transposed", True)
    model = fp32_model(spec)
    head = model.head
    d = spec.model.d_model
    x_s, w_s, grad_s = math.sqrt(d) / 448, 24 / 448, 1 / 448
    assert (head.x_s, head.w_s, head.grad_s) == pytest.approx((x_s, w_s, grad_s))
    with torch.no_grad():
        head.weight.normal_(0, 0.5)
    W = head.weight.detach().double()
    W = W.t() if transposed else W                          # (V, d)
    x = torch.randn(2, 8, d, requires_grad=True)
    head.train()
    y = head(x)
    assert y.shape == (2, 8, W.shape[0])
    xq, wq = e4m3(x.detach().double() / x_s).view(-1, d), e4m3(W / w_s)
    assert torch.allclose(y.double().view(-1, W.shape[0]), (xq @ wq.t()) * x_s * w_s, rtol=1e-4, atol=1e-5)
    g = torch.randn_like(y) * 0.01
    y.backward(g)
    gq = g.double().view(-1, W.shape[0]).div(grad_s).clamp(-57344, 57344).to(E5M2).double()
    assert torch.allclose(x.grad.double().view(-1, d), (gq @ wq) * grad_s * w_s, rtol=1e-4, atol=1e-5)
    dW = (gq.t() @ xq) * grad_s * x_s
    got = head.weight.grad.double()
    assert torch.allclose(got.t() if transposed else got, dW, rtol=1e-4, atol=1e-5)
    head.eval()                                             # evaluation: the plain product
    with torch.no_grad():
        assert torch.allclose(head(x).double().view(-1, W.shape[0]), x.detach().double().view(-1, d) @ W.t(),
                              rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("preset,divisors,reduction", [
    ("19", (1 / 2, 1 / 32, 2.0 ** -29), "mean"), ("21", (1 / 2, 2.0 ** -9, 2.0 ** -19), "mean"),
    ("21_3014", (math.sqrt(768) / 448, 24 / 448, 1 / 448), "sum"), ("28", (math.sqrt(768) / 448, 2.0 ** -9, 1 / 448), "sum"),
    ("51", (100 / 448, 1.5 / 448, 0.75 / 448), "sum"), ("55", (100 / 448, 1.6 / 448, 0.75 / 448), "sum")])
def test_fp8_head_presets_and_the_loss_they_assume(preset, divisors, reduction):
    from ingredients.fp8_head import FP8HeadConfig
    assert FP8HeadConfig(scales=preset).divisors(768) == pytest.approx(divisors)
    r = load_recipe(RECIPES / "muon_baseline.toml").add("fp8_head")
    r = type(r)(**{**r.__dict__, "ingredients": tuple((n, {"scales": preset} if n == "fp8_head" else o)
                                                      for n, o in r.ingredients)})
    spec = resolve_spec(r, RunOptions(device="cpu"))[0]
    assert spec.model.head.args["scales"] == preset
    assert spec.model.loss.args.get("reduction", "mean") == reduction
    assert FP8HeadConfig(scales="55", w_s=0.01).divisors(768)[1] == 0.01


def test_fp8_head_sum_loss_trains_sum_and_evaluates_mean():
    spec = m_with("fp8_head")
    model = fp32_model(spec)
    idx, tgt = tokens(spec)
    train = model(idx, tgt)
    model.eval()
    with torch.no_grad():
        mean = model(idx, tgt)
    assert train.item() == pytest.approx(mean.item() * idx.numel(), rel=1e-4)   # zero head: uniform logits


# --- capability ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["fp8_head", "fp8_mlp_up", "fp8_qkvo", "fp8_mlp_down"])
def test_fp8_ingredients_are_refused_before_training_on_a_cpu(name):
    spec = m_with(name, scale=None)
    with pytest.raises(CapabilityError, match=rf"ingredient '{name}'.*FP8 tensor cores.*not a CUDA GPU"):
        check_capabilities(spec, "cpu")


def test_capability_check_passes_without_fp8_and_names_bad_shapes():
    check(m_with("fused_softcap_ce", "fused_linear_relu2", "varlen_attention", "fp32_master_weights",
                 "transposed_head", scale=None), "cpu")   # exact fallbacks: nothing required
    from ingredients.fp8_head import multiples_of_16
    tiny = m_with("fp8_head")   # 257 ids padded to 264
    assert "the padded vocabulary = 264 not a multiple of 16" in multiples_of_16(tiny, None, "cuda")
    assert multiples_of_16(m_with("fp8_head", scale=None), None, "cuda") is None


# --- linear kinds and post-step hooks -----------------------------------------------------------------

def test_fp8_mlp_up_kind_goes_to_the_up_projections_only():
    spec = m_with("fp8_mlp_up")
    model = fp32_model(spec)
    from ingredients.fp8_mlp_up import FP8Current
    for block in model.blocks:
        assert isinstance(block.mlp.up.kind, FP8Current)
        assert block.mlp.down.kind is None and block.attn.out.kind is None and block.attn.qkv_kind is None
    assert model.param_roles() == fp32_model(m_with()).param_roles()   # no new parameters
    assert "blocks.0.mlp.up.kind.w_q" in model.state_dict()


def test_fp8_current_forward_is_the_formula_and_backward_is_plain():
    spec = m_with("fp8_mlp_up")
    model = fp32_model(spec)
    up = model.blocks[0].mlp.up
    W = up.weight.detach().double()
    s_w = W.abs().max() / 448
    assert torch.equal(up.kind.w_q.double(), e4m3(W / s_w)) and up.kind.w_scale.item() == pytest.approx(s_w.item())
    x = torch.randn(16, W.shape[1], requires_grad=True)
    a = x.detach().abs().max().double()
    y = up(x)
    ref = (e4m3(x.detach().double() * 448 / a) @ e4m3(W / s_w).t()) * (a / 448) * s_w
    assert torch.allclose(y.double(), ref, rtol=1e-4, atol=1e-5)
    g = torch.randn_like(y)
    y.backward(g)
    assert torch.allclose(x.grad, g @ up.weight.detach(), atol=1e-5)
    assert torch.allclose(up.weight.grad, g.t() @ x.detach(), atol=1e-5)
    up.eval()
    assert torch.allclose(up(x), x @ up.weight.t())


def test_post_step_hooks_requantise_after_every_optimizer_step_and_after_a_restore():
    spec = m_with("fp8_mlp_up")
    model = fp32_model(spec)
    opt = build_optimizers(model, spec)
    assert len(opt.hooks) == spec.model.n_layer
    state = [s for s in opt.state_dicts()]
    idx, tgt = tokens(spec)
    model(idx, tgt).backward()
    with torch.no_grad():   # zero-init heads barely move the up-projections: push them to see a change
        model.blocks[0].mlp.up.weight.grad.normal_()
    opt.set_step(0)
    opt.step(0)
    W = model.blocks[0].mlp.up.weight.detach().double()
    kind = model.blocks[0].mlp.up.kind
    assert torch.equal(kind.w_q.double(), e4m3(W / (W.abs().max() / 448)))
    seen = []
    opt.register_post_step(seen.append)
    model(idx, tgt).backward()   # a step consumes its gradients
    opt.set_step(7)
    opt.step(7)
    opt.load_state_dicts(state)
    assert seen == [7, 0]


def test_fp8_qkvo_quantises_the_stacked_qkv_and_out_unscaled():
    spec = m_with("fp8_qkvo")
    model = fp32_model(spec)
    attn = model.blocks[0].attn
    assert attn.qkv_kind is not None and attn.out.kind is not None and model.blocks[0].mlp.up.kind is None
    with torch.no_grad():
        attn.out.weight.normal_(0, 0.2)
    x = torch.randn(3, attn.out.weight.shape[1]) * 4
    ref = e4m3(x.double()) @ e4m3(attn.out.weight.detach().double()).t()
    assert torch.allclose(attn.out(x).double(), ref, rtol=1e-4, atol=1e-5)
    y = attn.project(x[None])
    W = attn.qkv_w.detach().double().flatten(end_dim=1)
    assert torch.allclose(y.double()[0], e4m3(x.double()) @ e4m3(W).t(), rtol=1e-4, atol=1e-5)


def test_fp8_mlp_down_delays_both_scales():
    spec = m_with("fp8_mlp_down").set("model.linears.fp8_mlp_down.bootstrap_steps", 2)
    model = fp32_model(spec)
    down = model.blocks[0].mlp.down
    kind = down.kind
    with torch.no_grad():
        down.weight.normal_(0, 0.1)
    amax = lambda: down.weight.detach().abs().max().item()   # noqa: E731
    a0 = amax()
    kind.after_optimizer_step(0)                              # bootstrap: the scale of the current weights
    assert kind.w_used.item() == pytest.approx(a0 / 448) and kind.w_next.item() == pytest.approx(a0 * 1.12 / 448)
    with torch.no_grad():
        down.weight.mul_(2.0)
    kind.after_optimizer_step(5)                              # past bootstrap: last step's scale, with headroom
    assert kind.w_used.item() == pytest.approx(a0 * 1.12 / 448)
    assert torch.equal(kind.w_q.double(), e4m3(down.weight.detach().double() / (a0 * 1.12 / 448)))
    assert kind.w_next.item() == pytest.approx(2 * a0 * 1.12 / 448)
    x = torch.rand(8, down.weight.shape[1]) * 3                # post = relu(pre)² ≥ 0
    assert kind.act_scale.item() == 1.0
    y = down(x)
    ref = (e4m3(x.double() / 1.0) @ kind.w_q.double().t()) * kind.w_used.double()
    assert torch.allclose(y.double(), ref, rtol=1e-4, atol=1e-5)
    assert kind.act_scale.item() == pytest.approx(x.max().item() * 1.8 / 448)   # for the next forward
    down.eval()
    before = kind.act_scale.item()
    down(x * 10)
    assert kind.act_scale.item() == before                    # evaluation leaves the statistics alone


# --- fp32 master weights ------------------------------------------------------------------------------

def test_fp32_master_weights_casts_exactly_what_the_card_says():
    spec = m_with("fp32_master_weights", scale=None)
    assert (spec.model.param_dtype, dict(spec.model.dtypes), spec.train.autocast) == ("float32", {"embed": "bfloat16"}, "none")
    full = build_model(m_with("fp32_master_weights", "x0_mixing", scale=None).model, bos_id=256, device="meta")
    dtypes = {n: p.dtype for n, p in full.named_parameters()}
    assert dtypes["embed.weight"] == torch.bfloat16
    assert {d for n, d in dtypes.items() if n != "embed.weight"} == {torch.float32}
    # tiny computes in fp32 throughout; its bf16 embedding put back to see the casts
    tiny = m_with("fp32_master_weights", "x0_mixing").set("model.dtypes", {"embed": "bfloat16"})
    torch.manual_seed(0)
    model = build_model(tiny.model, bos_id=256)
    assert model.positions.cos.dtype == torch.float32
    seen = []
    model.blocks[3].mlp.up.register_forward_hook(lambda m, i, o: seen.append((i[0].dtype, o.dtype)))
    idx, tgt = tokens(tiny)
    loss = model(idx, tgt)
    loss.backward()
    assert seen == [(torch.bfloat16, torch.bfloat16)]
    assert model.blocks[3].mlp.up.weight.grad.dtype == torch.float32 and model.embed.weight.grad.dtype == torch.bfloat16
    assert catalogue()["fp32_master_weights"].refines == ("bf16_params",)


# --- transposed head --------------------------------------------------------------------------------

def test_transposed_head_is_the_same_function_in_the_other_layout():
    plain, trans = fp32_model(m_with()), fp32_model(m_with("transposed_head"))
    assert trans.head.weight.shape == plain.head.weight.shape[::-1] and trans.param_roles()["head.weight"] == "head"
    assert trans.head.weight.abs().max() == 0   # M's zero init
    with torch.no_grad():
        plain.head.weight.normal_()
        trans.head.weight.copy_(plain.head.weight.t())
    x = torch.randn(4, plain.head.weight.shape[1])
    assert torch.allclose(trans.head(x), plain.head(x), atol=1e-5)
    assert m_with("fp8_head", "transposed_head").model.head.args["transposed"] is True


def test_transposed_head_needs_an_untied_head():
    from remix.registry import RegistryError
    spec = m_with(recipe="adamw_baseline.toml").set("model.head", __import__("remix.spec").spec.C("transposed"))
    with pytest.raises(RegistryError, match="untied"):
        build_model(spec.model, bos_id=256, device="meta")


# --- varlen attention --------------------------------------------------------------------------------

def test_cu_seqlens_are_document_and_row_starts_padded_to_max_docs():
    from ingredients.varlen_attention import cu_seqlens, default_max_docs
    idx = torch.tensor([[5, 9, 5, 1, 2, 9, 9, 3], [9, 1, 9, 9, 4, 4, 4, 4]])
    cu = cu_seqlens(idx, bos_id=9, max_docs=8)
    assert cu.dtype == torch.int32
    assert cu.tolist() == [0, 1, 5, 6, 8, 10, 11, 16, 16]
    assert (default_max_docs(65536), default_max_docs(49152), default_max_docs(262144)) == (256, 256, 896)


def test_varlen_reference_equals_the_document_mask_core():
    spec = m_with("varlen_attention")
    assert spec.model.attention.name == "varlen"
    doc = m_with()
    assert spec.model.attention.args["window"] == doc.model.attention.args["window"]
    a, b = fp32_model(spec), fp32_model(doc)
    assert a.core.kernel.startswith("sdpa") and kernels(a)["VarlenCore"] == a.core.kernel
    b.load_state_dict(a.state_dict())
    idx, tgt = tokens(spec)
    for m in (a, b):
        with torch.no_grad():
            for p in m.parameters():
                p.add_(0.01)   # move the zero-initialised projections
    assert torch.allclose(a(idx, tgt), b(idx, tgt), rtol=1e-6)


def test_varlen_takes_max_doc_len_from_a_truncating_loader():
    r = load_recipe(RECIPES / "muon_baseline.toml").add("bos_aligned")
    r = type(r)(**{**r.__dict__, "ingredients": tuple((n, {"max_doc_len": 2048} if n == "bos_aligned" else o)
                                                      for n, o in r.ingredients)}).add("varlen_attention")
    spec = resolve_spec(r, RunOptions(device="cpu"))[0]
    assert spec.model.attention.args["max_doc_len"] == 2048


# --- fused kernels: reference paths -----------------------------------------------------------------------

@pytest.mark.parametrize("form,cap,temperature", [("tanh", 15.0, 7.5), ("sigmoid", 30.0, 7.5),
                                                  ("sigmoid_width", 30.0, 7.5), (None, 0, 0)])
def test_fused_ce_reference_is_the_plain_loss_and_reads_the_softcap(form, cap, temperature):
    from ingredients.fused_softcap_ce import softcap_form
    spec = m_with("fused_softcap_ce")
    plain = m_with()
    if form is None:
        spec, plain = (s.set("model.logits", __import__("remix.spec").spec.C("plain")) for s in (spec, plain))
    else:
        spec, plain = (s.set("model.logits.form", form).set("model.logits.cap", cap) for s in (spec, plain))
    a, b = fp32_model(spec), fp32_model(plain)
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        a.head.weight.normal_(0, 0.1)
        b.head.weight.copy_(a.head.weight)
    idx, tgt = tokens(spec)
    tgt[0, :5] = -1
    la, lb = a(idx, tgt), b(idx, tgt)
    assert la.item() == lb.item()
    la.backward()
    lb.backward()
    assert torch.equal(a.head.weight.grad, b.head.weight.grad)
    d = spec.model.d_model
    expected = {"tanh": (1, cap, cap), "sigmoid": (2, cap, temperature),
                "sigmoid_width": (2, cap, temperature * math.sqrt(d)), None: (0, 1.0, 1.0)}[form]
    assert softcap_form(spec.model) == pytest.approx(expected)
    assert a.loss.kernel.startswith("torch reference")


def test_fused_ce_keeps_a_summed_loss():
    spec = m_with("fp8_head", "fused_softcap_ce")
    assert spec.model.loss.name == "fused_softcap_ce" and spec.model.loss.args["reduction"] == "sum"


@pytest.mark.parametrize("lean", [False, True])
def test_fused_relu2_reference_is_the_plain_mlp(lean):
    spec = m_with("fused_linear_relu2").set("model.mlp.lean", lean)
    a, b = fp32_model(spec), fp32_model(m_with())
    assert a.param_roles() == b.param_roles()
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 5, spec.model.d_model)
    with torch.no_grad():
        a.blocks[0].mlp.down.weight.normal_()
        b.blocks[0].mlp.down.weight.copy_(a.blocks[0].mlp.down.weight)
    ya = a.blocks[0].mlp(x)
    assert torch.equal(ya, b.blocks[0].mlp(x))
    assert torch.equal(ya, torch.relu(x @ a.blocks[0].mlp.up.weight.t()).square() @ a.blocks[0].mlp.down.weight.t())
    assert a.blocks[0].mlp.kernel.startswith("torch reference")


def test_fused_relu2_refuses_another_activation():
    from remix.registry import RegistryError
    spec = m_with("fused_linear_relu2").set("model.activation", __import__("remix.spec").spec.C("gelu_tanh"))
    with pytest.raises(RegistryError, match="relu2"):
        build_model(spec.model, bos_id=256, device="meta")


def test_math_equivalence_flags():
    cat = catalogue()
    same = {"fused_softcap_ce", "fused_linear_relu2", "varlen_attention", "transposed_head", "triton_newton_schulz"}
    assert {n for n in same if cat[n].math_equivalent} == same
    assert not any(cat[n].math_equivalent for n in ("fp8_head", "fp8_mlp_up", "fp8_qkvo", "fp8_mlp_down",
                                                     "fp32_master_weights"))


def test_importing_the_catalogue_imports_no_kernel_library():
    code = ("import sys; from remix.validate import load_components; load_components(); "
            "bad = [m for m in ('triton', 'liger_kernel', 'flash_attn', 'flash_attn_interface', 'torchao', "
            "'transformer_engine', 'remix.kernels.symmetric') if m in sys.modules]; print(bad); "
            "sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stdout + out.stderr


# --- symmetric Newton–Schulz (#27): the orthogonalisers' torch paths ----------------------------------

COEFFS_NS5 = (3.4445, -4.7750, 2.0315)
SYMMETRIC_SHAPES = [(3, 40, 24), (2, 24, 40), (2, 3, 16, 16), (24, 40)]   # tall, wide, a 4-D batch, 2-D


def _symmetric_pairs():
    """The module, and (kernel orthogonaliser, its torch orthogonaliser) for newton_schulz, polar_express."""
    catalogue()   # registers the kernel orthogonalisers
    import ingredients.triton_newton_schulz as tns
    from remix.optim.orthogonalise import ORTHOGONALISERS
    return tns, [(ORTHOGONALISERS.get(k), ORTHOGONALISERS.get(t)) for t, k in tns.KERNEL_OF.items()]


@pytest.mark.parametrize("shape", SYMMETRIC_SHAPES)
def test_symmetric_orthogonalisers_are_the_torch_ones_on_a_cpu_and_warn_once(shape, monkeypatch):
    tns, pairs = _symmetric_pairs()
    monkeypatch.setattr(tns, "_WARNED", set())
    G = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    (ns_kernel, ns_torch), (pe_kernel, pe_torch) = pairs
    with pytest.warns(UserWarning, match="triton_newton_schulz: the matrices are on cpu.*torch orthogonaliser"):
        assert torch.equal(ns_kernel(G, 5, COEFFS_NS5), ns_torch(G, 5, COEFFS_NS5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # once per process: the second call is quiet
        assert torch.equal(pe_kernel(G, 5, COEFFS_NS5), pe_torch(G, 5, COEFFS_NS5))
        assert torch.equal(ns_kernel(G, 3, (3.0, -3.2, 1.2)), ns_torch(G, 3, (3.0, -3.2, 1.2)))
    with pytest.raises(ValueError, match="1..5 steps"):
        pe_kernel(G, 6, COEFFS_NS5)


def _ns_float64(G, triples, scale, eps):
    X = G.double()
    tall = X.shape[-2] > X.shape[-1]
    X = X.transpose(-2, -1) if tall else X
    X = X / (torch.linalg.matrix_norm(X, keepdim=True) * scale + eps)
    for a, b, c in triples:
        A = X @ X.transpose(-2, -1)
        X = a * X + (b * A + c * A @ A) @ X
    return X.transpose(-2, -1) if tall else X


@pytest.mark.parametrize("shape", SYMMETRIC_SHAPES)
def test_symmetric_iteration_with_the_torch_products_is_the_iteration(shape):
    """The kernel path's iteration (flattened batch, baddbmm) with torch products standing in for the
    kernels: the same shape, layout and math as the torch orthogonaliser, as close to float64."""
    tns, _ = _symmetric_pairs()
    from remix.optim.orthogonalise import POLAR_EPS, POLAR_EXPRESS, POLAR_SAFETY, newton_schulz, polar_express
    G = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    products = (tns.torch_xxt, tns.torch_ba_plus_caa)
    cases = [(tns.symmetric_newton_schulz(G, 5, *COEFFS_NS5, *products), newton_schulz(G, 5, *COEFFS_NS5),
              _ns_float64(G, [COEFFS_NS5] * 5, 1.0, 1e-7)),
             (tns.symmetric_polar_express(G, 5, *products), polar_express(G, 5),
              _ns_float64(G, POLAR_EXPRESS, POLAR_SAFETY, POLAR_EPS))]
    for got, ref, gold in cases:
        assert got.shape == ref.shape and got.dtype == ref.dtype == torch.bfloat16 and got.is_contiguous()
        err, ref_err = ((x.double() - gold).norm() / gold.norm() for x in (got, ref))
        assert err <= 1.5 * ref_err + 0.01, (err, ref_err)


def test_triton_newton_schulz_picks_the_kernel_of_the_groups_orthogonaliser():
    from remix.overrides import quiet_overrides
    from remix.registry import RegistryError
    assert m_with("triton_newton_schulz").optim["hidden"].args["orthogonaliser"] == "newton_schulz_triton"
    m = without_kernels()
    for order in (("polar_express", "triton_newton_schulz"), ("triton_newton_schulz", "polar_express")):
        recipe = m.add(order[0], len(m.names)).add(order[1], len(m.names) + 1)   # in this order, as given
        assert recipe.names[-2:] == list(order)
        spec = resolve_spec(recipe, RunOptions(device="cpu"))[0]
        assert spec.optim["hidden"].args["orthogonaliser"] == "polar_express_triton", order
        assert spec.optim["hidden"].args["ns_steps"] == 5 and quiet_overrides(recipe) == []
    assert m_with("polar_express").optim["hidden"].args["orthogonaliser"] == "polar_express"
    ing = catalogue()["triton_newton_schulz"]
    assert ing.category == "systems" and ing.math_equivalent and ing.requires == ("muon",)
    assert [p.record for p in ing.provenance] == ["27"]
    spec = m_with().set("optim.hidden.args.orthogonaliser", "newton_schulz_triton")
    assert ing.apply(spec).to_dict() == spec.to_dict()        # already the kernel: unchanged
    with pytest.raises(RegistryError, match="no symmetric-kernel version"):
        ing.apply(m_with().set("optim.hidden.args.orthogonaliser", "other"))


@pytest.mark.filterwarnings("ignore:triton_newton_schulz")   # the fallback's warning (tested above)
@pytest.mark.parametrize("extra", [(), ("polar_express",)])
def test_muon_steps_with_triton_newton_schulz_are_the_torch_steps_on_a_cpu(extra):
    plain, kernel = m_with(*extra), m_with(*extra, "triton_newton_schulz")
    params = []
    for spec in (plain, kernel):
        model = fp32_model(spec)
        start = [p.detach().clone() for p in model.parameters()]
        opt = build_optimizers(model, spec)
        idx, tgt = tokens(spec)
        for step in range(2):
            model(idx, tgt).backward()
            opt.set_step(step)
            opt.step(step)
        params.append([p.detach().clone() for p in model.parameters()])
    assert kernel.optim["hidden"].args["orthogonaliser"].endswith("_triton")
    assert sum(not torch.equal(a, b) for a, b in zip(start, params[1])) > 10   # the steps moved the matrices
    assert all(torch.equal(a, b) for a, b in zip(*params))


def test_the_record_names_what_muon_orthogonalises_with_where_it_fell_back():
    spec = m_with("triton_newton_schulz")
    model = fp32_model(spec)
    found = kernels(model, build_optimizers(model, spec, world=1, rank=0).optimizers)
    assert found["Muon newton_schulz_triton"] == \
        "torch orthogonaliser (triton_newton_schulz fell back: the matrices are on cpu, not a CUDA GPU)"
    plain = m_with()
    model = fp32_model(plain)
    assert not any(k.startswith("Muon") for k in kernels(model, build_optimizers(model, plain, world=1, rank=0).optimizers))
