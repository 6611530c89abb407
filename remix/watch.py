"""Watching a run: a progress bar on a terminal, a plain line every N steps anywhere else (nohup, Slurm,
CI, a per-GPU worker's log), and optional experiment trackers (TensorBoard event files, Weights & Biases).

    watch = Watch(log_every=25, tensorboard="tb", wandb="my-project")
    with Monitor(watch, plan, label="+qk_norm") as monitor:
        trainer.run(result, monitor.on_progress, log_every=watch.log_every)

`Trainer.run` reports progress as dicts: {"step", "train_ms"} at every log point, plus "train_loss" or
"val_loss" when one is known. A train loss arrives when the device has copied it to the host without a
sync, so on a GPU it may come up to `log_every` steps after its step; it always carries its own step.

The trackers are optional packages, imported only when asked for (`remix[tensorboard]`, `remix[wandb]`);
`check_trackers` says before any training that one is missing.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

LOG_EVERY = 25


class WatchError(ValueError):
    pass


@dataclass(frozen=True)
class Watch:
    log_every: int = LOG_EVERY          # steps between train-loss reports (lines, bar, trackers)
    progress: bool | None = None        # None: a bar on a terminal, plain lines otherwise; False: quiet
    tensorboard: str | None = None      # directory for TensorBoard event files (one subdirectory per run)
    wandb: str | None = None            # Weights & Biases project


def check_trackers(watch: Watch) -> None:
    """A missing tracker package is a WatchError naming the extra to install, before anything trains."""
    if watch.log_every < 1:
        raise WatchError(f"--log-every {watch.log_every}: expected a number of steps ≥ 1")
    if watch.tensorboard is not None:
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        except ImportError:
            raise WatchError("--tensorboard needs the tensorboard package: pip install 'remix[tensorboard]'") from None
    if watch.wandb is not None:
        try:
            import wandb  # noqa: F401
        except ImportError:
            raise WatchError("--wandb needs the wandb package: pip install 'remix[wandb]'") from None


def run_name(plan: Any, label: str) -> str:
    """recipe/label-seed0-30steps-1a2b3c4d: readable in TensorBoard's run list, unique per run identity."""
    safe = re.sub(r"[^A-Za-z0-9_.+-]+", "_", label).strip("_") or "run"
    return f"{plan.recipe.name}/{safe}-seed{plan.seed}-{plan.spec.train.steps}steps-{plan.identity[:8]}"


class Monitor:
    """Turns the trainer's progress into a bar or plain lines, and into tracker scalars (main rank only)."""

    def __init__(self, watch: Watch, plan: Any, label: str, *, main: bool = True, stream: TextIO | None = None):
        self.watch, self.plan, self.label, self.main = watch, plan, label, main
        self.stream = stream or sys.stdout
        self.steps = plan.spec.train.steps
        self.tokens_per_step = plan.spec.train.tokens_per_step
        show = watch.progress is not False
        self.bar_mode = main and show and _is_terminal(self.stream)
        self.line_mode = main and show and not self.bar_mode
        self.last: tuple[int, float] | None = None     # (step, train_ms) of the previous report, for ms/step
        # a train loss whose line waits one event: a validation at the same step joins it on one line
        self.held: tuple[int, float, tuple[float, float] | None] | None = None
        self._bar = self._task = None
        self._tb = self._wandb = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> "Monitor":
        if self.bar_mode:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
            self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                 TextColumn("{task.completed}/{task.total}"),
                                 TextColumn("loss {task.fields[loss]}  val {task.fields[val]}  {task.fields[tps]} tok/s"),
                                 TimeRemainingColumn(), refresh_per_second=2)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=self.steps, loss="-", val="-", tps="-")
        if self.main and self.watch.tensorboard is not None:
            from torch.utils.tensorboard import SummaryWriter
            self._tb = SummaryWriter(log_dir=str(Path(self.watch.tensorboard) / run_name(self.plan, self.label)))
        if self.main and self.watch.wandb is not None:
            import wandb
            p = self.plan
            self._wandb = wandb.init(project=self.watch.wandb, name=run_name(p, self.label).replace("/", " "),
                                     group=p.recipe.name, config={"spec": p.spec.to_dict(), "seed": p.seed,
                                                                  "identity": p.identity, "label": self.label})
        return self

    def __exit__(self, *exc: Any) -> None:
        self._flush()
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def finish(self, result: Any) -> None:
        """The run's outcome to the trackers (its status and final numbers), then close them (after the
        training block, which may have ended in an exception: the outcome is known only then)."""
        if self._tb is not None:
            self._tb.add_text("status", f"{result.status}: {result.message or 'ok'}")
            self._tb.close()
            self._tb = None
        if self._wandb is not None:
            self._wandb.summary.update({"status": result.status, "final_val_loss": result.final_val_loss,
                                        "ms_per_step": result.ms_per_step, "tokens_per_s": result.tokens_per_s})
            self._wandb.finish(exit_code=0 if result.status == "finished" else 1)
            self._wandb = None

    # -- progress ----------------------------------------------------------------------------------
    def on_progress(self, p: dict) -> None:
        step, ms = p["step"], p["train_ms"]
        news = "train_loss" in p or "val_loss" in p
        # rates between loss reports only: those arrive in step order even when train losses come late
        rate = self._rate(step, ms) if news else None
        if self._bar is not None:
            fields = {}
            if "train_loss" in p:
                fields["loss"] = f"{p['train_loss']:.3f}"
            if "val_loss" in p:
                fields["val"] = f"{p['val_loss']:.4f}"
            if step > 0 and ms > 0:
                fields["tps"] = f"{step * self.tokens_per_step / ms * 1000:,.0f}"
            # a late train loss carries an earlier step: the bar never moves back
            done = max(step, int(self._bar.tasks[0].completed))
            self._bar.update(self._task, completed=done, **fields)
        if news and self.line_mode:
            self._lines(step, p, rate)
        if news:
            self._track(step, p, rate)

    def _rate(self, step: int, ms: float) -> tuple[float, float] | None:
        """(ms/step, tokens/s) since the previous loss report, on the host's clock (validation excluded)."""
        if self.last is None or step <= self.last[0]:
            self.last = self.last or (step, ms)
            return None
        (s0, m0), self.last = self.last, (step, ms)
        per = (ms - m0) / (step - s0)
        return (per, self.tokens_per_step / per * 1000) if per > 0 else None

    def _lines(self, step: int, p: dict, rate: tuple[float, float] | None) -> None:
        if "train_loss" in p:
            self._flush()
            self.held = (step, p["train_loss"], rate)
            return
        held = self.held if self.held is not None and self.held[0] == step else None
        if held is None:
            self._flush()
        self.held = None
        self._line(step, held[1] if held else None, p["val_loss"], (held[2] if held else None) or rate)

    def _flush(self) -> None:
        if self.held is not None:
            step, train, rate = self.held
            self.held = None
            self._line(step, train, None, rate)

    def _line(self, step: int, train: float | None, val: float | None, rate: tuple[float, float] | None) -> None:
        parts = [f"[{self.label}] step {step}/{self.steps}"]
        if train is not None:
            parts.append(f"train loss {train:.4f}")
        if val is not None:
            parts.append(f"val loss {val:.4f}")
        if rate is not None:
            parts += [f"{rate[0]:.1f} ms/step", f"{rate[1]:,.0f} tok/s"]
        print(" · ".join(parts), file=self.stream, flush=True)

    def _track(self, step: int, p: dict, rate: tuple[float, float] | None) -> None:
        scalars = {}
        if "train_loss" in p:
            scalars["loss/train"] = p["train_loss"]
        if "val_loss" in p:
            scalars["loss/val"] = p["val_loss"]
        if rate is not None:
            scalars["perf/ms_per_step"], scalars["perf/tokens_per_s"] = rate
        if not scalars:
            return
        if self._tb is not None:
            for key, value in scalars.items():
                self._tb.add_scalar(key, value, step)
        if self._wandb is not None:
            self._wandb.log(scalars, step=step)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
