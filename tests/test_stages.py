"""Training that changes as it goes: stage boundaries, step values, events, optimizer rhythm."""

import math

import pytest
import torch

from remix.recipe import load_recipe
from remix.runner import RunOptions, resolve_spec
from remix.slots import EVENTS, LR_SCHEDULES, STEP_VALUES, build
from remix.stages import Horizon, StepPlan
from remix.validate import load_components

from conftest import RECIPES

load_components()


def m_with(*names, **kw):
    recipe = load_recipe(RECIPES / "muon_baseline.toml")
    for name in names:
        recipe = recipe.add(name)
    return resolve_spec(recipe, RunOptions(device="cpu", **kw))[0]


def test_record_21_window_warmup_steps():
    """n = max(1, ⌈13.5·s/1770⌉) blocks; short ⌊n/2⌋ (at least its own block); final validation 14/7."""
    spec = m_with("window_warmup").set("train.steps", 1770)
    w = build(STEP_VALUES, spec.schedule.state["windows"], spec, Horizon(1770))
    firsts = {n: min(s for s in range(1771) if w(s)["window"] == 128 * n) for n in range(1, 15)}
    assert [firsts[n] for n in range(1, 15)] == [0, 132, 263, 394, 525, 656, 787, 918, 1049, 1181, 1312, 1443,
                                                 1574, 1705]
    assert w(0) == {"window": 128, "window_short": 128} and w(1770) == {"window": 1792, "window_short": 896}
    assert spec.model.attention.args["block"] == 128


def test_window_warmup_token_form_of_record_13():
    spec = m_with("window_warmup").set("train.steps", 1750).set("schedule.state.windows.form", "tokens")
    w = build(STEP_VALUES, spec.schedule.state["windows"], spec, Horizon(1750))
    assert w(0)["window"] == 64 and w(65)["window"] == 128 and w(64)["window"] == 64
    assert w(1749)["window"] == 1728 and w(1750)["window"] == 1792


def test_window_stages_by_thirds_and_extension():
    spec = m_with("window_stages", "extension_steps").set("train.steps", 2120)
    plan = StepPlan(spec)
    w = plan.values[0]
    assert [w.blocks(s)[0] for s in (0, 706, 707, 1413, 1414, 2119, 2120, 2159, 2160)] == \
        [3, 3, 7, 7, 11, 11, 13, 13, 13]
    assert w(0) == {"window": 3 * 128 + 1, "window_short": 128 + 1}   # FlashAttention 3: w + 1 keys


def test_yarn_scales_and_frequencies():
    spec = m_with("window_stages", "extension_steps", "yarn").set("train.steps", 2120)
    plan = StepPlan(spec)
    scale = next(v for v in plan.values if v.static)
    assert scale(0)["attn_scale"] == pytest.approx(0.1)
    assert scale(707)["attn_scale"] == pytest.approx(0.1169460, abs=1e-7)
    assert scale(1414)["attn_scale"] == pytest.approx(0.1275175, abs=1e-7)
    assert scale(2120)["attn_scale"] == pytest.approx(0.1317780, abs=1e-7)
    event = plan.events[0]
    assert event.steps == (707, 1414, 2120)
    base = event.base.clone()

    class Rotary:
        cos = torch.zeros(4, base.numel())
        sin = torch.zeros(4, base.numel())

    class Model:
        positions = Rotary()

    for s in event.steps:
        event.apply(s, Model(), None)
    ratio = event.omega / base.clamp(min=1e-30)
    assert torch.allclose(ratio[19:32], torch.full((13,), 3 / 13), rtol=1e-5)   # pure interpolation 3→13
    assert torch.all(ratio[:3] == 1) and torch.all(event.omega[32:] == 0)           # fast ones kept, zeros zero
    assert event.omega[7].item() == pytest.approx(0.111207, rel=1e-4)
    assert torch.allclose(Model.positions.cos[1], torch.cos(event.omega))
    event.reset(Model(), None)
    assert torch.equal(event.omega, base)


def test_batch_size_schedule_stages_and_lr():
    spec = m_with("bos_aligned", "batch_size_schedule").set("train.steps", 2120).set("train.seq_len", 49152) \
        .set("train.tokens_per_step", 393216).set("model.max_len", 65536)
    plan = StepPlan(spec)
    assert [(s.start, s.tokens_per_step, s.seq_len) for s in plan.stages] == \
        [(0, 131072, 16384), (707, 262144, 32768), (1414, 393216, 49152)]
    assert sum(t["tokens"] for t in plan.tokens()) == 707 * 131072 + 707 * 262144 + 706 * 393216
    lr = LR_SCHEDULES.get("staged_cooldown")(LR_SCHEDULES.config("staged_cooldown", {}), 2120)
    assert lr(699) == 1.0 and lr(700) == 1.51
    assert lr(1399) == pytest.approx(0.97188, abs=1e-5) and lr(1400) == pytest.approx(1.23002, abs=1e-5)
    assert lr(2120) == 0.1 and lr(2150) == 0.1


def test_tiny_scale_keeps_stages_consistent():
    spec = m_with("bos_aligned", "batch_size_schedule", "window_stages", scale="tiny", steps=60)
    plan = StepPlan(spec)
    assert [s.start for s in plan.stages] == [0, 20, 40]
    assert all(s.tokens_per_step % (s.device_batch * s.seq_len) == 0 for s in plan.stages)
    assert plan.values[0].cfg.block == 8   # 128-token blocks at a sixteenth


def test_freeze_and_every_other_step():
    from remix.optim import Optimizers
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    opt_a = torch.optim.SGD([{"params": [a], "name": "hidden", "lr": 1.0, "initial_lr": 1.0}])
    opt_b = torch.optim.SGD([{"params": [b], "name": "scalar", "lr": 1.0, "initial_lr": 1.0}])
    optim = Optimizers([opt_a, opt_b], lambda s: 1.0, None, every=[1, 2], names=[("hidden",), ("scalar",)])
    for step in range(4):
        for p in (a, b):
            p.grad = torch.ones(2) if p.grad is None else p.grad + 1
        optim.step(step)
        if step == 1:
            assert b.tolist() == [-2.0, -2.0]          # odd step: the sum of two steps' gradients
        if step == 0:
            assert b.grad is not None and b.tolist() == [0.0, 0.0]
    assert a.tolist() == [-4.0, -4.0] and b.tolist() == [-4.0, -4.0]
    optim.pause("hidden", 6)
    a.grad = torch.ones(2)
    optim.step(4)
    assert a.tolist() == [-4.0, -4.0] and a.grad is None   # frozen: no step, gradients discarded


def test_freeze_event_steps():
    spec = m_with("freeze_scalars").set("train.steps", 1960)
    event = StepPlan(spec).events[0]
    assert event.steps == (654, 1307, 1960)


def test_untie_copies_weights_and_adam_state():
    from remix.model import build_model
    from remix.optim import build_optimizers
    spec = m_with("untie_at_two_thirds", scale="tiny")
    model = build_model(spec.model, bos_id=256)
    optim = build_optimizers(model, spec)
    idx = torch.randint(0, 257, (2, 32))
    loss = model(idx, idx, {"untied": False})
    loss.backward()
    assert model.embed.weight.grad is None and model.head.weight.grad is not None
    optim.step(1)
    event = StepPlan(spec).events[0]
    assert event.steps == (81,)   # ⌈2·120/3⌉ | 1
    event.apply(81, model, optim)
    assert torch.equal(model.embed.weight, model.head.weight[:257])
    head_state = next(o.state[model.head.weight] for o in optim.optimizers if model.head.weight in o.state)
    embed_state = next(o.state[model.embed.weight] for o in optim.optimizers if model.embed.weight in o.state)
    assert torch.equal(embed_state["exp_avg"], head_state["exp_avg"][:257])
    tied = model(idx, idx, {"untied": False})
    untied = model(idx, idx, {"untied": True})
    assert torch.allclose(tied, untied)   # right after the copy both lookups agree


def test_every_boundary_is_in_the_warmup():
    spec = m_with("bos_aligned", "batch_size_schedule", "window_stages", "yarn", "untie_at_two_thirds",
                  scale="tiny", steps=60)
    plan = StepPlan(spec)
    assert plan.boundaries() == [0, 20, 40, 41]    # stages (and YaRN's scale), the untie


def test_the_clock_is_read_at_each_phase_but_not_every_step():
    """A record's segments end at boundaries and at window changes (dynamic values, one graph), but a value
    that changes nearly every step would be a sync per step: it is not a phase."""
    assert StepPlan(m_with(scale="tiny", steps=60)).clock_marks() == [0]
    assert StepPlan(m_with("window_stages", scale="tiny", steps=60)).clock_marks() == [0, 20, 40]
    warmup = StepPlan(m_with("window_warmup", scale="tiny", steps=60))
    assert warmup.boundaries() == [0] and 5 < len(warmup.clock_marks()) <= 64
    assert len(warmup.clock_marks(most=3)) == 1


def test_a_staged_run_compiles_once_per_state(monkeypatch):
    """Tiny M with batch stages, window stages, YaRN and the untie, compiled (dynamo, eager backend) and
    trained on the CPU: one graph per distinct (stage, static value) in training, plus evaluation's."""
    import remix.trainer as trainer_mod
    from remix.data import open_dataset
    from remix.distributed import setup
    from remix.results import RunResult
    monkeypatch.setattr(trainer_mod, "COMPILE_BACKEND", "eager")
    spec = m_with("bos_aligned", "batch_size_schedule", "window_stages", "yarn", "untie_at_two_thirds",
                  scale="tiny", steps=24)
    spec = spec.set("train.compile", True).set("eval.every", 100)
    tr = trainer_mod.Trainer(spec, open_dataset(spec.data.source), setup("cpu"), seed=0)
    result = RunResult(identity="x", status="running", recipe={}, variant={}, ingredients=[], seed=0, target=2.4,
                       spec={}, hardware={}, software={})
    tr.run(result)
    graphs = trainer_mod.compilations()
    # training: stages 0-7, 8-15, 16-23 (rows and YaRN's scale change together), tied/untied from 17;
    # evaluation: the final one (last stage, untied) and the warm-up's (step 0)
    train_states = {(tr.plan.stage(s).seq_len, tr.plan.state_values(s)[1]["attn_scale"],
                     tr.plan.state_values(s)[1]["untied"]) for s in range(24)}
    assert len(train_states) == 4
    assert graphs <= len(train_states) + 2
    assert result.curve[-1].step == 24 and math.isfinite(result.curve[-1].val_loss)
    # the record keeps the count and the clock per stage (each boundary is a sync point)
    assert result.compilations == graphs
    assert [(s["start"], s["end"]) for s in result.segments] == [(0, 8), (8, 16), (16, 17), (17, 24)]
    assert all(s["ms_per_step"] > 0 for s in result.segments)
    assert sum(s["ms_per_step"] * (s["end"] - s["start"]) for s in result.segments) == \
        pytest.approx(result.train_time_ms)


def test_a_summed_training_loss_is_reported_per_token():
    """ce_sum changes the gradient's scale, not what the console and the record call the train loss."""
    import remix.trainer as trainer_mod
    from remix.data import open_dataset
    from remix.distributed import setup
    spec = m_with("ce_sum", scale="tiny", steps=4)
    tr = trainer_mod.Trainer(spec, open_dataset(spec.data.source), setup("cpu"), seed=0)
    loader = trainer_mod.make_loader(spec, tr.dataset, tr.dist, split="train", plan=tr.plan)
    tr.begin_step(0)
    loss = tr.step_fn(0, next(loader)).item()
    assert loss == pytest.approx(math.log(257), abs=0.05)   # a zero head: uniform over the vocabulary
