"""Every ingredient keeps the model causal: what the head sees at position s depends on tokens ≤ s only.

A leak would not crash anything; it would show up as a val loss that is too good to be true (a shifted
key, a smeared embedding or a value table reading one token too far). So each ingredient is checked on
its own: M (or A) at tiny scale plus the ingredient, a token changed half-way along the row, and the final
norm's output and the loss of the positions before it compared before and after the change (the second
covers heads and losses, which read the final norm's output).
"""

import pytest
import torch

from remix.ingredient import catalogue
from remix.model import build_model
from remix.recipe import load_recipe
from remix.runner import RunOptions, resolve_spec

from conftest import RECIPES

BOS = 256

# Ingredients whose training forward couples the tokens of a micro-batch by design, and why; their
# evaluation forward (what validation measures) must still be causal.
COUPLED_IN_TRAINING = {
    "fp8_mlp_up": "one per-tensor amax over the micro-batch scales every token's FP8 cast, as in #84",
}


def forward(model, idx: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(the final norm's output, the loss) for `idx`: what every head and loss reads, and what they give."""
    seen = []
    handle = model.final_norm.register_forward_hook(lambda mod, args, out: seen.append(out.detach()))
    try:
        with torch.no_grad():
            loss = model(idx, targets)
    finally:
        handle.remove()
    return seen[-1], loss


def recipe_with(name: str):
    m = load_recipe(RECIPES / "muon_baseline.toml")
    a = load_recipe(RECIPES / "adamw_baseline.toml")
    recipe = m if name in m.names else a
    return recipe if name in recipe.names else recipe.without_kernels().plus(name)


@pytest.mark.parametrize("name", sorted(catalogue()))
def test_each_ingredient_keeps_the_model_causal(name):
    spec = resolve_spec(recipe_with(name), RunOptions(device="cpu", scale="tiny"))[0]
    spec = spec.set("model.param_dtype", "float32")
    torch.manual_seed(0)
    model = build_model(spec.model, bos_id=BOS)
    for p in model.parameters():   # zero-initialised outputs would hide a leak behind exact zeros
        if p.dim() >= 2:
            torch.nn.init.normal_(p, std=0.05)
    T = spec.train.seq_len
    idx = torch.randint(0, BOS, (2, T))
    idx[:, 0] = idx[:, T // 4] = BOS   # two documents before the change, so boundaries are exercised
    t = T // 2
    changed = idx.clone()
    changed[:, t] = (idx[:, t] + 1) % BOS   # never BOS: the document layout stays the same
    past = idx.roll(-1, 1)
    past[:, t - 1:] = -1   # the targets of positions < t − 1: none of them is the changed token
    if name in COUPLED_IN_TRAINING:
        model.eval()
    (x, loss), (x_changed, loss_changed) = forward(model, idx, past), forward(model, changed, past)
    torch.testing.assert_close(x_changed[:, :t], x[:, :t], rtol=0, atol=1e-6,
                               msg=lambda m: f"{name}: a token at position {t} changed what positions < {t} "
                                             f"see\n{m}")
    torch.testing.assert_close(loss_changed, loss, rtol=0, atol=1e-6,
                               msg=lambda m: f"{name}: a token at position {t} changed the loss of earlier "
                                             f"positions\n{m}")
    assert (x_changed[:, t:] - x[:, t:]).abs().max() > 1e-4, f"{name}: the changed token reached nothing"
