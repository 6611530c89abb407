"""Where one training step's time goes: a recipe's compiled step under torch.profiler, kernels grouped by kind.

Issue #15 asks what stands between A and M and their speed targets; this answers it per kind of kernel
(matmuls, attention, the loss, the optimizer, element-wise and norms, copies) in ms per step. Run on a GPU
from the repository root:

    python3 benchmarks/profile_step.py recipes/muon_baseline.toml --data .data/enwiki [--add NAME ...]
        [--steps 10] [--trace OUT.json]

One 65,536-token row per step (the reference scripts' geometry on one GPU). The run is built exactly as
`remix run` builds it (its untimed warm-up compiles every graph), then --steps steps are profiled. `--tiny`
checks the script on a CPU at tiny scale (CPU times, no kernels). Prints one table; --trace also writes the
Chrome trace.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# First match wins: the name of a CUDA kernel (or CPU op) says what it does. Inductor's template kernels
# (triton_tem) are FlexAttention's here: matmuls go to cuBLAS unless max-autotune is on.
KINDS = [
    ("attention", r"flex|attention|attn|fmha|flash|triton_tem"),
    ("loss", r"cross_entropy|nll|log_softmax|logsumexp|softcap|_ce_(forward|backward)"),
    ("optimizer", r"newton|schulz|polar|muon|adam|foreach|multi_tensor|lerp"),
    ("matmul", r"gemm|\bmm\b|bmm|addmm|matmul|cutlass|xmma|nvjet|cublas|linear"),
    ("inductor fused", r"triton_(poi|red|per)_"),
    ("copy / cast", r"copy|memcpy|memset|cast|fill"),
    ("reduce / norm", r"reduce|norm|rms|sum|mean|softmax"),
    ("element-wise", r"elementwise|vectorized|aten::(mul|add|div|pow|sub|where|neg|exp|sigmoid|tanh|relu|"
                     r"threshold|rsqrt|cat|select|clamp)"),
]


def kind_of(name: str) -> str:
    low = name.lower()
    return next((kind for kind, pattern in KINDS if re.search(pattern, low)), "other")


def is_annotation(event) -> bool:
    """A record_function range (torch.optim's "Optimizer.step#Muon.step", say): on a GPU its span covers
    kernels that are counted on their own, so counting it too would count them twice."""
    return bool(getattr(event, "is_user_annotation", False)) or event.key.startswith(("Optimizer.", "ProfilerStep#"))


def build(args: argparse.Namespace):
    from remix.data import open_dataset
    from remix.distributed import setup
    from remix.options import RunOptions
    from remix.recipe import load_recipe
    from remix.runner import plan_run
    from remix.trainer import Trainer, make_loader
    from remix.validate import load_components
    load_components()
    recipe = load_recipe(args.recipe)
    for name in args.add:
        recipe = recipe.add(name)
    sets: list[tuple[str, object]] = [("train.steps", max(args.steps + 1, 2))]
    if args.tiny:
        options = RunOptions(scale="tiny", device="cpu", sets=tuple(sets))
    else:
        sets += [("train.tokens_per_step", args.row), ("data.source", str(args.data))]
        options = RunOptions(device="cuda", sets=tuple(sets))
    plan = plan_run(recipe, options)
    dataset = open_dataset(plan.spec.data.source)
    trainer = Trainer(plan.spec, dataset, setup(plan.hardware["device"]), plan.seed)
    loader = make_loader(plan.spec, dataset, trainer.dist, split="train", plan=trainer.plan)
    return plan, trainer, loader


def timed(fn, n: int, cuda: bool) -> float:
    """Mean ms of fn(i) over i < n, after the device has caught up (a device sync at both ends)."""
    import time
    import torch
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    if cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1000 / n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recipe", type=Path)
    p.add_argument("--data", type=Path, default=Path(".data/enwiki"))
    p.add_argument("--add", nargs="*", default=[], help="ingredients added to the recipe (as `remix ablate --add` does: one that changes the "
                   "math goes before the recipe's closing same-math kernels)")
    p.add_argument("--steps", type=int, default=10, help="steps profiled (after the untimed warm-up)")
    p.add_argument("--row", type=int, default=65536, help="tokens per step (one row on one GPU)")
    p.add_argument("--trace", type=Path, help="also write the Chrome trace here")
    p.add_argument("--tiny", action="store_true", help="check the script on a CPU at tiny scale")
    args = p.parse_args()
    args.data = args.data.resolve()

    import torch
    from torch.profiler import ProfilerActivity, profile
    plan, trainer, loader = build(args)
    cuda = plan.hardware["device"].startswith("cuda")
    trainer.warm_up()
    batches = [next(loader) for _ in range(args.steps)]   # reading shards is not what is profiled
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for i, batch in enumerate(batches):
            trainer.begin_step(i)
            trainer.step_fn(i, batch)
        if cuda:
            torch.cuda.synchronize()
    if args.trace:
        prof.export_chrome_trace(str(args.trace))
    step_ms = timed(lambda i: (trainer.begin_step(i), trainer.step_fn(i, batches[i])), args.steps, cuda)
    for param in trainer.params:   # stand-in gradients: the optimizers alone, timed (the weights are spent)
        param.grad = torch.randn_like(param) * 1e-3
    optim_ms = timed(lambda i: [opt.step() for opt in trainer.optim.optimizers], args.steps, cuda)

    per_kind: dict[str, float] = defaultdict(float)
    per_name: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        # on a GPU the kernels' own time; on a CPU the leaf ops' self time (no kernels there)
        us = event.self_device_time_total if cuda else event.self_cpu_time_total
        if us <= 0 or (cuda and event.device_type != torch.autograd.DeviceType.CUDA) or is_annotation(event):
            continue
        per_kind[kind_of(event.key)] += us / 1000 / args.steps
        per_name[event.key] += us / 1000 / args.steps
    total = sum(per_kind.values())
    what = "device" if cuda else "CPU (self time of ops)"
    print(f"{plan.recipe.name} + {', '.join(args.add) or 'nothing'}: {args.steps} steps of "
          f"{plan.spec.train.tokens_per_step:,} tokens on {plan.hardware['device']}; {what} time per step")
    print(f"{'kind':<24} {'ms/step':>9} {'share':>7}")
    for kind, ms in sorted(per_kind.items(), key=lambda kv: -kv[1]):
        print(f"{kind:<24} {ms:>9.2f} {ms / total:>7.1%}")
    print(f"{'total':<24} {total:>9.2f}")
    print(f"\nwall clock: {step_ms:.2f} ms per step, of which the optimizer step alone {optim_ms:.2f} ms "
          f"(timed apart, without the profiler)")
    print("\nlongest 15:")
    for name, ms in sorted(per_name.items(), key=lambda kv: -kv[1])[:15]:
        print(f"  {ms:>8.2f} ms  {kind_of(name):<20} {name[:90]}")


if __name__ == "__main__":
    main()
