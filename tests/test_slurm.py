"""--executor slurm through submitit's local executor (no Slurm here): the same path as on a cluster. A job
killed mid-run (the signal Slurm sends on pre-emption or at its time limit) leaves an interrupted record
and is requeued to train the run again; a second submission of the sweep submits nothing queued, running
or finished; `remix status` lists the jobs."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import RECIPES

pytest.importorskip("submitit")

from remix.cli import _mount, app  # noqa: E402

runner = CliRunner()
_mount()


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def wait_for(predicate, timeout: float = 120, every: float = 0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out waiting")


STEPS = 80


def test_local_jobs_are_requeued_when_killed_and_never_submitted_twice(tmp_path, monkeypatch):
    from remix.options import RunOptions
    from remix.recipe import load_recipe
    from remix.results import ResultStore
    from remix.slurm import JobBook, Slurm, SlurmConfig
    from remix.sweep import plan_sweep, run_sweep
    monkeypatch.setenv("OMP_NUM_THREADS", "1")   # the jobs' torch: two threads contend on a shared 2-core machine
    store = ResultStore(tmp_path / "results")
    # long enough (a few seconds of steps) that the signal below lands mid-run on a loaded CI machine too
    options = RunOptions(steps=STEPS, device="cpu", results=str(store.root),
                         sets=(("eval.every", STEPS // 2), ("eval.tokens", 4096), ("model.n_layer", 2)))
    sweep = plan_sweep(load_recipe(RECIPES / "smoke.toml"), kind="single", options=options)
    events = []
    slurm = Slurm(SlurmConfig(cluster="local", gpus_per_node=0))
    run_sweep(sweep, store, executor=slurm, on_event=lambda kind, task, detail: events.append((kind, detail)))
    identity = sweep.runs[0].identity
    job = JobBook(store.root).read()[identity]
    assert [k for k, _ in events] == ["submitted"] and job["cluster"] == "local"

    # while it runs, the same sweep again submits nothing
    wait_for(lambda: (r := store.find(identity)) is not None and r.status == "running")
    again = []
    run_sweep(sweep, store, executor=slurm, on_event=lambda kind, task, detail: again.append((kind, detail)))
    assert [k for k, _ in again] == ["queued"] and f"local job {job['job_id']}" in again[0][1]

    # pre-empted mid-run: the task gets submitit's signal (what Slurm sends), the record says interrupted,
    # the job is requeued and trains the run again to the end
    task_pid = wait_for(lambda: children(int(job["job_id"])))[0]
    os.kill(task_pid, signal.SIGUSR2)
    seen = wait_for(lambda: (r := store.find(identity)) is not None and r.status != "running" and r)
    assert seen.status == "interrupted" and "requeued" in seen.message
    done = wait_for(lambda: (r := store.find(identity)) is not None and r.status == "finished" and r)
    assert done.steps_done == STEPS
    assert JobBook(store.root).read()[identity]["requeues"] == 1

    # finished: the sweep reuses the record and submits nothing; status lists the job
    again = []
    run_sweep(sweep, store, executor=slurm, on_event=lambda kind, task, detail: again.append(kind))
    assert again == ["reused"]
    res = runner.invoke(app, ["status", "--results", str(store.root)])
    assert res.exit_code == 0 and f"local {job['job_id']}" in res.output and "finished" in res.output


def test_slurm_settings_from_a_file_and_flags(tmp_path):
    from remix.executors import ExecutorError
    from remix.slurm import load_config
    path = tmp_path / "cluster.toml"
    path.write_text('[slurm]\npartition = "gpu"\ntime = "1:30:00"\ngpus_per_node = 8\naccount = "lab"\n')
    c = load_config(path, ["nodes=2", "qos=high", "array=true", "max_parallel=4"])
    assert (c.partition, c.time, c.gpus_per_node, c.nodes, c.account, c.qos, c.array, c.max_parallel, c.world) == \
        ("gpu", 90, 8, 2, "lab", "high", True, 4, 16)
    with pytest.raises(ExecutorError, match="unknown key.*partion"):
        load_config(None, ["partion=gpu"])
    with pytest.raises(ExecutorError, match="expected KEY=VALUE"):
        load_config(None, ["gpu"])
    res = runner.invoke(app, ["run", str(RECIPES / "smoke.toml"), "--executor", "slurm", "--slurm", "nodes=0"])
    assert res.exit_code == 2 and "slurm nodes = 0: expected at least 1" in res.output
    res = runner.invoke(app, ["run", str(RECIPES / "smoke.toml"), "--slurm", "nodes=2"])
    assert res.exit_code == 2 and "go with --executor slurm" in res.output
    res = runner.invoke(app, ["run", str(RECIPES / "smoke.toml"), "--executor", "slurm", "--gpus", "2",
                                       "--device", "cpu"])
    assert res.exit_code == 2 and "not --gpus/--nodes" in res.output
    import torch
    if not torch.cuda.is_available():
        res = runner.invoke(app, ["run", str(RECIPES / "smoke.toml"), "--executor", "slurm", "--slurm", "cluster=local"])
        assert res.exit_code == 2 and "gpus_per_node=0 runs CPU jobs" in " ".join(res.output.split())
