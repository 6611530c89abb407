"""Watching a run: the trainer's progress contract, plain lines off a terminal, TensorBoard, W&B."""

from __future__ import annotations

import io
import subprocess
import sys
import types
from dataclasses import replace

import pytest

from remix.distributed import setup
from remix.execute import execute_plan
from remix.preflight import check_data
from remix.recipe import load_recipe
from remix.results import ResultStore
from remix.runner import RunOptions, new_result, plan_run
from remix.trainer import Trainer
from remix.validate import load_components
from remix.watch import Monitor, Watch, WatchError, check_trackers

from conftest import RECIPES


def smoke_plan(steps: int, **sets):
    return plan_run(load_recipe(RECIPES / "smoke.toml"),
                    RunOptions(device="cpu", steps=steps, sets=tuple(sets.items())))


def test_trainer_reports_every_n_steps_with_each_loss_at_its_own_step():
    plan = smoke_plan(12, **{"eval.every": 6})
    load_components()
    trainer = Trainer(plan.spec, check_data(plan), setup("cpu"), plan.seed)
    events: list[dict] = []
    result = new_result(plan)
    trainer.run(result, events.append, log_every=4)
    train = [(e["step"], e["train_loss"]) for e in events if "train_loss" in e]
    val = [e["step"] for e in events if "val_loss" in e]
    where = [e["step"] for e in events if set(e) == {"step", "train_ms"}]
    assert [s for s, _ in train] == [4, 8, 12]          # on a CPU a loss is read at once, labelled with its step
    assert val == [0, 6, 12] and where == [4, 8, 12]
    assert all(0 < loss < 10 for _, loss in train)
    clocks = [e["train_ms"] for e in events]
    assert clocks == sorted(clocks)                      # the clock never runs backwards
    assert result.curve[-1].train_loss == train[-1][1]   # the record's curve has the latest train loss


def test_lines_off_a_terminal_hold_step_losses_and_speed():
    plan = smoke_plan(20)
    stream = io.StringIO()   # not a terminal: plain lines, not a bar
    with Monitor(Watch(log_every=5), plan, "+rope", stream=stream) as m:
        m.on_progress({"step": 0, "val_loss": 5.5, "train_ms": 0.0})
        m.on_progress({"step": 5, "train_ms": 500.0})                     # a log point, no loss yet (GPU lag)
        m.on_progress({"step": 5, "train_loss": 4.25, "train_ms": 500.0})
        m.on_progress({"step": 10, "train_loss": 3.5, "train_ms": 1000.0})
        m.on_progress({"step": 10, "val_loss": 3.75, "train_ms": 1000.0})
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[+rope] step 0/20 · val loss 5.5000"
    assert lines[1] == "[+rope] step 5/20 · train loss 4.2500 · 100.0 ms/step · 20,480 tok/s"
    # a validation at the step of a train loss joins it on one line
    assert lines[2] == "[+rope] step 10/20 · train loss 3.5000 · val loss 3.7500 · 100.0 ms/step · 20,480 tok/s"
    assert len(lines) == 3


def test_quiet_prints_nothing():
    stream = io.StringIO()
    with Monitor(Watch(progress=False), smoke_plan(5), "x", stream=stream) as m:
        m.on_progress({"step": 5, "train_loss": 3.0, "train_ms": 10.0})
    assert stream.getvalue() == ""


def test_remix_run_piped_prints_a_plain_line_every_n_steps(tmp_path):
    res = subprocess.run([sys.executable, "-m", "remix", "run", str(RECIPES / "smoke.toml"), "--steps", "12",
                          "--log-every", "4", "--device", "cpu", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    out = res.stdout.splitlines()
    assert out[0] == "smoke · full recipe · seed 1 · 12 steps: training"
    steps = [line.split(" step ")[1].split("/")[0] for line in out if line.startswith("[smoke] step ")]
    assert steps == ["0", "4", "8", "12"]
    assert "ms/step" in out[2] and "tok/s" in out[2] and "train loss" in out[2]
    assert out[-1].startswith("smoke · full recipe · seed 1 · 12 steps: finished, val ")
    assert "\x1b[" not in res.stdout                      # no bar, no escape codes in a log file


def test_tensorboard_gets_event_files_with_the_run_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    plan = smoke_plan(8)
    result = execute_plan(plan, ResultStore(tmp_path / "results"),
                          watch=Watch(log_every=4, progress=False, tensorboard=str(tmp_path / "tb")))
    runs = [p.parent for p in (tmp_path / "tb").rglob("events.out.tfevents.*")]
    assert len(runs) == 1 and runs[0].name.startswith("smoke-seed1-8steps-")
    acc = EventAccumulator(str(runs[0]))
    acc.Reload()
    assert [e.step for e in acc.Scalars("loss/train")] == [4, 8]
    assert [e.step for e in acc.Scalars("loss/val")] == [0, 8]
    assert acc.Scalars("loss/val")[-1].value == pytest.approx(result.final_val_loss, rel=1e-6)


class FakeWandb(types.ModuleType):
    """Stands in for the wandb package (not installed here, and it wants an account or offline mode)."""
    def __init__(self):
        super().__init__("wandb")
        self.runs = []

    def init(self, **kwargs):
        run = types.SimpleNamespace(kwargs=kwargs, logged=[], summary={}, finished=None)
        run.log = lambda data, step: run.logged.append((step, data))
        run.finish = lambda exit_code=0: setattr(run, "finished", exit_code)
        self.runs.append(run)
        return run


def test_wandb_run_gets_config_scalars_and_outcome(tmp_path, monkeypatch):
    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    plan = smoke_plan(8)
    execute_plan(plan, ResultStore(tmp_path), watch=Watch(log_every=4, progress=False, wandb="remix-test"))
    (run,) = fake.runs
    assert run.kwargs["project"] == "remix-test" and run.kwargs["config"]["identity"] == plan.identity
    assert [step for step, data in run.logged if "loss/train" in data] == [4, 8]
    assert run.summary["status"] == "finished" and run.finished == 0


def test_a_missing_tracker_is_an_error_before_training(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)   # import wandb -> ImportError
    with pytest.raises(WatchError, match=r"pip install 'remix\[wandb\]'"):
        check_trackers(Watch(wandb="p"))
    with pytest.raises(WatchError, match="--log-every 0"):
        check_trackers(replace(Watch(), log_every=0))
