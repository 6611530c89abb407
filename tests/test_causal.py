"""Every ingredient keeps the model causal: what the head sees at position s depends on tokens ≤ s only.

A leak would not crash anything; it would show up as a val loss too good to be true (a shifted key, a
smeared embedding or a value table reading one token too far). So each ingredient is checked on its own:
M at tiny scale plus the ingredient (A for A's own), with every parameter perturbed away from its init
(a zero-initialised gate would hide a leak behind exact zeros), at the first step, at each stage
boundary or event, and at the last step, in training and in evaluation. At each, one token half-way along
the row (not on a 128-token tile's edge) is changed, once to another token and once to BOS (a document
starting there), and the final norm's output at every earlier position, and the loss of their targets
(which covers heads and losses), must stay exactly as they were. The model's buffers are put back before
each forward, so a statistic one forward updates cannot pass for a leak or hide one.

Not covered here: the GPU-only attention kernels (FlexAttention's block masks, varlen); their masks are
checked against the dense mask in tests/test_block_mask.py and benchmarks/kernels_check.py.
"""

import copy

import pytest
import torch

from remix.ingredient import catalogue
from remix.model import build_model
from remix.optim import build_optimizers
from remix.recipe import load_recipe
from remix.runner import RunOptions, resolve_spec
from remix.stages import DeviceState, StepPlan

from conftest import RECIPES

BOS = 256


def recipe_with(name: str):
    m = load_recipe(RECIPES / "muon_baseline.toml")
    a = load_recipe(RECIPES / "adamw_baseline.toml")
    if name in m.names:
        return m
    return a if name in a.names else m.plus(name)


def fixed_fp8_scale(monkeypatch) -> None:
    """fp8_mlp_up scales each micro-batch by its own amax (#84), which couples its tokens by design: with
    the scale held fixed, the rest of its FP8 forward must be causal like everything else."""
    from ingredients.fp8_mlp_up import FP8Current
    from remix.kernels.fp8 import ForwardFP8
    scale = torch.tensor(8 / 448)
    monkeypatch.setattr(FP8Current, "product",
                        lambda self, x2, w: ForwardFP8.apply(x2, w, scale, self.w_q, self.w_scale, True))


class Probe:
    """The model at a step: (final norm output, loss) of a row, each forward from the same buffers."""

    def __init__(self, model):
        self.model, self.buffers = model, copy.deepcopy(dict(model.named_buffers()))

    def __call__(self, idx, targets, state):
        with torch.no_grad():
            for name, b in self.model.named_buffers():
                b.copy_(self.buffers[name])
        seen = []
        handle = self.model.final_norm.register_forward_hook(lambda mod, args, out: seen.append(out.detach()))
        try:
            with torch.no_grad():
                loss = self.model(idx, targets, state)
        finally:
            handle.remove()
        return seen[-1], loss


@pytest.mark.parametrize("name", sorted(catalogue()))
def test_each_ingredient_keeps_the_model_causal(name, monkeypatch):
    if name == "fp8_mlp_up":
        fixed_fp8_scale(monkeypatch)
    spec = resolve_spec(recipe_with(name), RunOptions(device="cpu", scale="tiny"))[0]
    spec = spec.set("model.param_dtype", "float32")
    torch.manual_seed(0)
    model = build_model(spec.model, bos_id=BOS)
    optim = build_optimizers(model, spec, world=1, rank=0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
        optim.run_hooks()   # FP8 copies of the weights follow them, as after an optimizer step
    plan = StepPlan(spec)
    plan.add_module_values(model)
    state = DeviceState(plan, "cpu")

    T = spec.train.seq_len
    idx = torch.randint(0, BOS, (2, T))
    idx[:, 0] = idx[:, T // 4] = BOS   # two documents before the change
    t = T // 2 + 37
    past = idx.roll(-1, 1)
    past[:, t - 1:] = -1   # the targets of positions < t − 1: none of them is the changed token
    changes = {"another token": (idx[:, t] + 1) % BOS, "BOS": torch.full_like(idx[:, t], BOS)}

    checked = sorted({0, plan.horizon.total - 1, *plan.boundaries()})
    for step in range(checked[-1] + 1):
        for event in plan.events_at(step):
            event.apply(step, model, optim)
        if step not in checked:
            continue
        at = state.at(step)
        for mode in ("train", "eval"):
            model.train(mode == "train")
            probe = Probe(model)
            x, loss = probe(idx, past, at)
            for what, token in changes.items():
                changed = idx.clone()
                changed[:, t] = token
                x2, loss2 = probe(changed, past, at)
                where = f"{name}, step {step}, {mode}: position {t} changed to {what}"
                torch.testing.assert_close(x2[:, :t], x[:, :t], rtol=0, atol=1e-6,
                                           msg=lambda m: f"{where} moved what earlier positions see\n{m}")
                torch.testing.assert_close(loss2, loss, rtol=0, atol=1e-6,
                                           msg=lambda m: f"{where} moved the loss of earlier positions\n{m}")
                assert (x2[:, t:] - x[:, t:]).abs().max() > 1e-4, f"{where} reached nothing"
