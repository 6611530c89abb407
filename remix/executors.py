"""Executors: how a list of planned runs gets trained, kept apart from which runs a sweep holds.

An executor takes tasks (a picklable `RunPlan`, the sweep it belongs to, how to watch it) and a results
store, and makes each plan's record exist in the store. Records travel only through the store (so a run
trained by any executor, on any machine, is found the same way); the executor returns an `Outcome`: the
messages of runs that failed without a record to say so, and of runs another process was training (its
lock, remix.lock). It tells `on_event` when each run starts and ends, for the console. Two exist:

- `InProcess`: one after another in this process (one device, or a CPU).
- `PerGPU`: one subprocess per run, pinned to one GPU with CUDA_VISIBLE_DEVICES, as many at once as
  there are GPUs; the plan travels pickled to `python -m remix.executors run-one`. One process per run,
  not per GPU, so that a run that crashes or poisons its CUDA context takes nothing else down.

torchrun and Slurm executors take the same list later. `python -m remix.executors run-one TASK.pkl` is also
what a Slurm job would call.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from remix.results import ResultStore

DEFAULT_EXECUTE = "remix.execute:execute_plan"
HELD_EXIT = 3   # a worker's exit status when another process holds its run's lock


class ExecutorError(RuntimeError):
    pass


@dataclass(frozen=True)
class Task:
    """One run to make: the plan, the {id, kind, index, size, role, label} its record carries in `sweep`,
    and how to watch it (a remix.watch.Watch; None: the default)."""
    plan: Any
    sweep: dict[str, Any] | None = None
    watch: Any = None

    @property
    def identity(self) -> str:
        return self.plan.identity


@dataclass
class Outcome:
    failures: list[str] = field(default_factory=list)   # runs that raised (no record says why)
    held: list[str] = field(default_factory=list)       # runs another process was training


# on_event(kind, task, detail): "start" (detail: where it runs, or None), "done" (the record, or None),
# "failed" and "held" (the message)
Events = Callable[[str, Task, Any], None]


def _quiet(kind: str, task: Task, detail: Any) -> None:
    pass


def _execute(execute: Callable[..., Any], task: Task, store: ResultStore, force: bool) -> Any:
    kwargs = {"watch": task.watch} if task.watch is not None else {}
    return execute(task.plan, store, force=force, sweep=task.sweep, **kwargs)


class Executor(Protocol):
    name: str

    def run(self, tasks: Sequence[Task], store: ResultStore, *, force: bool = False,
            on_event: Events | None = None) -> Outcome:
        """Trains every task's plan into `store`; says which raised and which another process held."""


def load_callable(ref: str) -> Callable[..., Any]:
    """'package.module:function' -> the function."""
    module, _, name = ref.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise ExecutorError(f"cannot load the execute function {ref!r}: {e}") from None


class InProcess:
    name = "inprocess"

    def __init__(self, execute: Callable[..., Any] | str = DEFAULT_EXECUTE):
        self._execute = execute

    def run(self, tasks: Sequence[Task], store: ResultStore, *, force: bool = False,
            on_event: Events | None = None) -> Outcome:
        from remix.lock import RunLocked
        execute = load_callable(self._execute) if isinstance(self._execute, str) else self._execute
        on_event = on_event or _quiet
        outcome = Outcome()
        for task in tasks:
            on_event("start", task, None)
            try:
                result = _execute(execute, task, store, force)
            except KeyboardInterrupt:
                raise
            except RunLocked as e:
                outcome.held.append(str(e))
                on_event("held", task, str(e))
            except Exception as e:  # a bad run must not stop the sweep; it is reported at the end
                message = f"{task.identity}: {type(e).__name__}: {e}"
                outcome.failures.append(message)
                on_event("failed", task, message)
            else:
                on_event("done", task, result)
        return outcome


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES entries."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    try:
        import torch
        return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    except Exception:
        return []


class PerGPU:
    name = "per-gpu"

    def __init__(self, devices: Sequence[str] | None = None, execute: str = DEFAULT_EXECUTE,
                 python: str = sys.executable, env: dict[str, str] | None = None, poll_s: float = 0.2):
        self.devices = list(devices) if devices is not None else visible_gpus()
        if not self.devices:
            raise ExecutorError("the per-gpu executor found no GPU (CUDA_VISIBLE_DEVICES / torch.cuda)")
        self.execute, self.python, self.env, self.poll_s = execute, python, env or {}, poll_s

    def run(self, tasks: Sequence[Task], store: ResultStore, *, force: bool = False,
            on_event: Events | None = None) -> Outcome:
        on_event = on_event or _quiet
        logs = store.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        queue = deque(tasks)
        free = list(self.devices)
        running: dict[str, tuple[subprocess.Popen, Any, Path]] = {}
        outcome = Outcome()
        with tempfile.TemporaryDirectory(prefix="remix-plans-") as tmp:
            try:
                while queue or running:
                    while free and queue:
                        task = queue.popleft()
                        dev = free.pop(0)
                        running[dev] = self._launch(task, dev, store, force, Path(tmp), logs)
                        on_event("start", task, f"GPU {dev}, log {running[dev][2]}")
                    time.sleep(self.poll_s)
                    for dev, (proc, task, log) in list(running.items()):
                        if proc.poll() is None:
                            continue
                        del running[dev]
                        free.append(dev)
                        if proc.returncode == HELD_EXIT:
                            message = _tail(log, 1)
                            outcome.held.append(message)
                            on_event("held", task, message)
                        elif proc.returncode != 0:
                            message = f"{task.identity} on GPU {dev}: exit {proc.returncode}; log {log}:\n{_tail(log)}"
                            outcome.failures.append(message)
                            on_event("failed", task, message)
                        else:
                            on_event("done", task, store.find(task.identity))
            except BaseException:
                # Ctrl-C or an error here: stop the children too (they mark their records interrupted)
                for proc, _, _ in running.values():
                    proc.send_signal(signal.SIGTERM)
                for proc, _, _ in running.values():
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                raise
        return outcome

    def _launch(self, task: Task, dev: str, store: ResultStore, force: bool, tmp: Path, logs: Path):
        pkl = tmp / f"{task.identity}.pkl"
        pkl.write_bytes(pickle.dumps(task))
        log = logs / f"{task.identity}.log"
        cmd = [self.python, "-m", "remix.executors", "run-one", str(pkl), "--results", str(store.root),
               "--execute", self.execute] + (["--force"] if force else [])
        env = {**os.environ, **self.env, "CUDA_VISIBLE_DEVICES": dev}
        with open(log, "ab") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        return proc, task, log


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def make_executor(kind: str = "auto", execute: Callable[..., Any] | str = DEFAULT_EXECUTE) -> Executor:
    """'inprocess', 'per-gpu', or 'auto' (per-gpu when more than one GPU is visible, except under torchrun:
    there every rank trains every run of the sweep together, in its own process)."""
    if kind == "auto":
        under_torchrun = int(os.environ.get("WORLD_SIZE", "1")) > 1
        kind = "per-gpu" if len(visible_gpus()) > 1 and not under_torchrun else "inprocess"
    if kind == "inprocess":
        return InProcess(execute)
    if kind == "per-gpu":
        if not isinstance(execute, str):
            raise ExecutorError("the per-gpu executor needs the execute function as 'module:function'")
        return PerGPU(execute=execute)
    raise ExecutorError(f"unknown executor {kind!r} (expected auto, inprocess or per-gpu)")


# --- the worker side -----------------------------------------------------------------------------

def _die_with_parent() -> None:
    """Linux: get SIGTERM when the sweep process dies (even by kill -9), so no orphan keeps training
    a run that the resumed sweep will start again."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:   # the parent died before the signal was armed
        os.kill(os.getpid(), signal.SIGTERM)


def _term_as_interrupt(signum, frame):
    # turn SIGTERM into KeyboardInterrupt so the runner's interrupt handling marks the record
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m remix.executors")
    sub = ap.add_subparsers(dest="cmd", required=True)
    one = sub.add_parser("run-one", help="train one pickled Task into a results directory")
    one.add_argument("task", type=Path)
    one.add_argument("--results", type=Path, required=True)
    one.add_argument("--execute", default=DEFAULT_EXECUTE)
    one.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    _die_with_parent()
    signal.signal(signal.SIGTERM, _term_as_interrupt)
    from remix.lock import RunLocked
    execute = load_callable(args.execute)
    task = pickle.loads(args.task.read_bytes())
    try:
        _execute(execute, task, ResultStore(args.results), args.force)
    except KeyboardInterrupt:
        return 130
    except RunLocked as e:
        print(e, file=sys.stderr, flush=True)
        return HELD_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main())
