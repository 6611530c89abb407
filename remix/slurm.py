"""`--executor slurm`: a sweep's runs as Slurm jobs, through submitit (imported only here).

One job per run, or one array job for the sweep with a cap on how many run at once (`array = true`,
`max_parallel`). A job runs `remix.execute.execute_plan` on its pickled plan, so its record lands in the
same store as any other executor's. A run over several GPUs is one job of `nodes` × `gpus_per_node`
tasks, one rank each (submitit sets torch.distributed's environment).

What was submitted is kept in `<results>/slurm/jobs.json` (identity -> job id, cluster, submitit
folder, label, requeues): `remix status` lists it with each job's state, and a second `remix run` of the
same sweep submits nothing that is finished (its record), queued or running (its job). A job that
Slurm pre-empts or that reaches its time limit gets submitit's signal: the run's record becomes
`interrupted` (never a lost `running`) and the job is requeued, to train the run again from its start.

Where no Slurm is found (no `sbatch`), submitit's local executor runs the same path on this machine
(`cluster = "local"` asks for it anywhere): that is how the tests run it.

Parameters: a `[slurm]` table in a small TOML file (`--slurm-config FILE`), then `--slurm KEY=VALUE`.
"""

from __future__ import annotations

import os
import shutil
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Sequence

from remix.executors import DEFAULT_EXECUTE, Events, ExecutorError, Outcome, Task, _execute, _quiet, load_callable
from remix.results import ResultStore, now, write_atomic

# Slurm states in which a job will still train its run (sacct/squeue names)
ACTIVE = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "SUSPENDED", "RESIZING", "REQUEUE_HOLD",
          "REQUEUE_FED", "PREEMPTED", "SIGNALING", "STAGE_OUT"}


@dataclass(frozen=True)
class SlurmConfig:
    partition: str | None = None
    time: int = 60                # minutes a job may run (its time limit); submitit signals ~90 s before
    gpus_per_node: int = 1        # one rank per GPU; 0: a CPU job of one process
    nodes: int = 1                # nodes per run
    account: str | None = None
    qos: str | None = None
    cpus_per_task: int | None = None
    mem_gb: int | None = None
    array: bool = False           # one array job for the sweep instead of one job per run
    max_parallel: int = 8         # array: how many of its runs at once
    cluster: str | None = None    # slurm | local; None: slurm where `sbatch` is found, else local
    wait: bool = False            # wait for the jobs (and report their records) instead of returning at once
    requeues: int = 3             # how many times a pre-empted or timed-out job is requeued

    def __post_init__(self):
        for name in ("time", "nodes", "max_parallel"):
            if getattr(self, name) < 1:
                raise ExecutorError(f"slurm {name} = {getattr(self, name)}: expected at least 1")
        if self.gpus_per_node < 0 or self.requeues < 0:
            raise ExecutorError(f"slurm gpus_per_node and requeues must be ≥ 0, got {self.gpus_per_node}, "
                                f"{self.requeues}")
        if self.cluster not in (None, "slurm", "local"):
            raise ExecutorError(f"slurm cluster = {self.cluster!r}: expected slurm or local")

    @property
    def world(self) -> int:
        return max(1, self.gpus_per_node) * self.nodes

    @property
    def target(self) -> str:
        return self.cluster or ("slurm" if shutil.which("sbatch") else "local")


def _coerce(name: str, value: Any) -> Any:
    kind = {f.name: f.type for f in fields(SlurmConfig)}[name]
    if isinstance(value, str) and ("int" in kind or "bool" in kind):
        if "bool" in kind and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if name == "time" and ":" in value:   # H:MM:SS or MM:SS, as sbatch takes it
            parts = [int(p) for p in value.split(":")]
            while len(parts) < 3:
                parts.insert(0, 0)
            return max(1, round(parts[0] * 60 + parts[1] + parts[2] / 60))
        if value.isdigit():
            return int(value)
        raise ExecutorError(f"slurm {name} = {value!r}: expected {kind}")
    return value


def load_config(path: Path | None = None, items: Sequence[str] = ()) -> SlurmConfig:
    """The `[slurm]` table of `path` (if given), then KEY=VALUE items (the --slurm flags)."""
    given: dict[str, Any] = {}
    known = [f.name for f in fields(SlurmConfig)]
    if path is not None:
        try:
            table = tomllib.loads(Path(path).read_text()).get("slurm")
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ExecutorError(f"--slurm-config {path}: {e}") from None
        if not isinstance(table, dict):
            raise ExecutorError(f"--slurm-config {path}: no [slurm] table (keys: {', '.join(known)})")
        given.update(table)
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ExecutorError(f"--slurm {item!r}: expected KEY=VALUE, e.g. --slurm partition=gpu")
        given[key.strip()] = value.strip()
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ExecutorError(f"slurm: unknown key(s) {', '.join(unknown)}; expected {', '.join(known)}")
    return SlurmConfig(**{k: _coerce(k, v) for k, v in given.items()})


class JobBook:
    """`<results>/slurm/jobs.json`: what was submitted for which run identity."""

    def __init__(self, root: Path | str):
        self.folder = Path(root) / "slurm"
        self.path = self.folder / "jobs.json"

    def read(self) -> dict[str, dict]:
        import json
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def update(self, identity: str, **entry: Any) -> None:
        jobs = self.read()
        jobs[identity] = {**jobs.get(identity, {}), **entry}
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, jobs)


def job_state(entry: dict) -> str:
    """The scheduler's word for a job now: PENDING, RUNNING, COMPLETED, ... or UNKNOWN."""
    if entry.get("cluster") == "local":   # the local executor's job id is the pid of its controller
        try:
            os.kill(int(entry["job_id"]), 0)
        except (OSError, ValueError):
            return "FINISHED"
        return "RUNNING"
    try:
        import submitit
        return str(submitit.SlurmJob(folder=entry["folder"], job_id=str(entry["job_id"])).state)
    except Exception:   # sacct unreachable from here: say so rather than guess
        return "UNKNOWN"


def job_running(entry: dict) -> bool:
    """Whether the job will still write its run's record (an unknown state counts as yes: not stale)."""
    state = job_state(entry).split()[0]
    return state in ACTIVE or state == "UNKNOWN"


class TrainJob:
    """What a job runs: one task's plan into the store. submitit calls `checkpoint` on pre-emption or
    timeout (its signal arrives during training): the job is requeued with the same arguments, and the
    run (whose record train_plan marks interrupted as the job exits) is trained again from its start."""

    def __init__(self, execute: str = DEFAULT_EXECUTE):
        self.execute = execute

    def __call__(self, task: Task, root: str, force: bool) -> str:
        import submitit
        if int(os.environ.get("SUBMITIT_LOCAL_NTASKS", os.environ.get("SLURM_NTASKS", "1"))) > 1:
            submitit.helpers.TorchDistributedEnvironment().export()   # RANK, WORLD_SIZE, MASTER_ADDR …
        hardware = task.plan.hardware
        if hardware.get("device") == "cuda":
            import torch
            if torch.cuda.is_available():   # planned on a login node: the record names the GPU it ran on
                hardware["device_name"] = torch.cuda.get_device_name(0)
        result = _execute(load_callable(self.execute), task, ResultStore(root), force)
        return getattr(result, "status", "done")

    def checkpoint(self, task: Task, root: str, force: bool):
        import submitit
        if os.environ.get("RANK", "0") == "0":
            book = JobBook(root)
            count = book.read().get(task.identity, {}).get("requeues", 0) + 1
            book.update(task.identity, requeues=count, requeued_at=now())
        return submitit.helpers.DelayedSubmission(TrainJob(self.execute), task, root, force)


class Slurm:
    name = "slurm"

    def __init__(self, config: SlurmConfig = SlurmConfig(), execute: str = DEFAULT_EXECUTE, poll_s: float = 1.0):
        self.config, self.execute, self.poll_s = config, execute, poll_s

    def _executor(self, store: ResultStore):
        try:
            import submitit
        except ImportError:
            raise ExecutorError("--executor slurm needs submitit: pip install 'remix[slurm]'") from None
        c = self.config
        ex = submitit.AutoExecutor(folder=str(JobBook(store.root).folder / "jobs"), cluster=c.target)
        tasks = max(1, c.gpus_per_node)
        params: dict[str, Any] = dict(timeout_min=c.time, nodes=c.nodes, tasks_per_node=tasks, name="remix")
        if c.target == "slurm":
            params.update(gpus_per_node=c.gpus_per_node, slurm_array_parallelism=c.max_parallel,
                          slurm_max_num_timeout=c.requeues)
            for key in ("partition", "account", "qos"):
                if getattr(c, key) is not None:
                    params[f"slurm_{key}"] = getattr(c, key)
        if c.cpus_per_task is not None:
            params["cpus_per_task"] = c.cpus_per_task
        if c.mem_gb is not None:
            params["mem_gb"] = c.mem_gb
        ex.update_parameters(**params)
        return ex

    def run(self, tasks: Sequence[Task], store: ResultStore, *, force: bool = False,
            on_event: Events | None = None) -> Outcome:
        on_event = on_event or _quiet
        book, outcome = JobBook(store.root), Outcome()
        jobs = book.read()
        todo = []
        for task in tasks:
            entry = jobs.get(task.identity)
            state = job_state(entry) if entry else None
            if state is not None and state.split()[0] in ACTIVE and not force:
                on_event("queued", task, f"already submitted as {entry.get('cluster')} job {entry['job_id']} "
                                         f"({state}); not submitted again")
                continue
            todo.append(task)
        if not todo:
            return outcome
        ex = self._executor(store)
        args = [(TrainJob(self.execute), t, str(store.root), force) for t in todo]
        if self.config.array and len(todo) > 1:
            with ex.batch():
                submitted = [ex.submit(*a) for a in args]
        else:
            submitted = [ex.submit(*a) for a in args]
        for task, job in zip(todo, submitted):
            book.update(task.identity, job_id=str(job.job_id), cluster=self.config.target,
                        folder=str(job.paths.folder), label=str((task.sweep or {}).get("label", task.plan.recipe.name)),
                        submitted_at=now(), requeues=0)
            on_event("submitted", task, f"{self.config.target} job {job.job_id}")
        if self.config.wait:
            self._wait(todo, submitted, store, on_event, outcome)
        return outcome

    @staticmethod
    def _wait(todo, submitted, store, on_event, outcome) -> None:
        for task, job in zip(todo, submitted):
            try:
                job.result()
            except Exception as e:   # the job's error, with its log's tail (submitit includes it)
                message = f"{task.identity}: job {job.job_id}: {str(e).strip().splitlines()[-1] if str(e) else e}"
                record = store.find(task.identity)
                if record is None or record.status == "running":
                    outcome.failures.append(message)
                on_event("failed", task, message)
            else:
                on_event("done", task, store.find(task.identity))

    @property
    def waits(self) -> bool:
        return self.config.wait
