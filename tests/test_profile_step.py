"""benchmarks/profile_step.py: kernel names sorted into kinds, and the script end to end at tiny scale."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from conftest import ROOT

spec = importlib.util.spec_from_file_location("profile_step", ROOT / "benchmarks" / "profile_step.py")
prof = importlib.util.module_from_spec(spec)
spec.loader.exec_module(prof)


@pytest.mark.parametrize("name, kind", [
    ("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64", "matmul"),
    ("nvjet_tst_128x256_64x4_2x1_v_bz_coopB_TNN", "matmul"),
    ("aten::mm", "matmul"),
    ("triton_tem_fused_0", "attention"),
    ("_ce_backward", "loss"),
    ("triton_per_fused__to_copy_mul_rsqrt_0", "inductor fused"),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float>>", "copy / cast"),
    ("Memcpy HtoD (Pinned -> Device)", "copy / cast"),
    ("something_new", "other"),
])
def test_kernel_names_sort_into_kinds(name, kind):
    assert prof.kind_of(name) == kind


def test_the_script_runs_at_tiny_scale():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "profile_step.py"), "recipes/smoke.toml",
                          "--tiny", "--steps", "2"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "smoke + nothing: 2 steps" in out.stdout and "matmul" in out.stdout
    assert "of which the optimizer step alone" in out.stdout


def test_record_function_ranges_are_not_counted_beside_the_kernels_they_span():
    from types import SimpleNamespace
    assert prof.is_annotation(SimpleNamespace(key="Optimizer.step#Muon.step", is_user_annotation=False))
    assert prof.is_annotation(SimpleNamespace(key="my_range", is_user_annotation=True))
    assert not prof.is_annotation(SimpleNamespace(key="nvjet_sm90_tst_256x128", is_user_annotation=False))
    assert not prof.is_annotation(SimpleNamespace(key="aten::mm"))
