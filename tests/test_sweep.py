"""Sweeps: planning, resuming, spreading over GPUs, the exact-mode search and `status`.

The planning/executor tests use a stand-in recipe, planner and execute function (a synthetic loss law
instead of training), so that they test the sweep logic alone; the end-to-end test at the bottom trains
a real tiny recipe with the real runner.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from remix import sweep as sw
from remix.executors import InProcess, PerGPU, Task
from remix.results import CurvePoint, ResultStore, RunResult
from remix.spec import stable_hash

TESTS = Path(__file__).parent


# --- stand-ins for the engine --------------------------------------------------------------------

@dataclass(frozen=True)
class FakeRecipe:
    name: str = "toy"
    ingredients: tuple = (("a", {}), ("b", {}), ("c", {}))
    variant: dict = field(default_factory=lambda: {"kind": "full"})
    target: float = 3.28
    seed: int = 0

    def prefixes(self):
        n = len(self.ingredients)
        return [replace(self, ingredients=self.ingredients[:k],
                        variant={"kind": "prefix", "index": k, "size": n + 1,
                                 "last": self.ingredients[k - 1][0] if k else None}) for k in range(n + 1)]

    def drop(self, *names):
        return replace(self, ingredients=tuple(i for i in self.ingredients if i[0] not in names),
                       variant={"kind": "drop", "dropped": list(names)})


@dataclass(frozen=True)
class FakeOptions:
    seed: int | None = None
    steps: int | None = None


@dataclass(frozen=True)
class FakePlan:
    recipe: FakeRecipe
    spec: dict
    seed: int
    identity: str

    @property
    def variant(self):
        return self.recipe.variant


def fake_planner(recipe, options):
    steps = options.steps or 1000
    names = [n for n, _ in recipe.ingredients]
    spec = {"train": {"steps": steps, "tokens_per_step": 1024}, "model": {"ingredients": names}}
    return FakePlan(recipe, spec, options.seed, stable_hash({"spec": spec, "seed": options.seed}))


def law(n_ingredients: int, steps: int, seed: int = 0) -> float:
    # each ingredient makes the same steps worth more; seeds add a little deterministic noise
    return 2.8 + (20.0 - 3.0 * n_ingredients) / math.sqrt(steps) + 0.001 * ((seed * 7919) % 5 - 2)


CALLS: list[str] = []


def fake_execute(plan, store, *, force=False, sweep=None, progress=True):
    """Writes a 'running' record, then the finished one, like the real runner."""
    done = store.finished(plan.identity)
    if done is not None and not force:
        return done
    CALLS.append(plan.identity)
    steps = plan.spec["train"]["steps"]
    n = len(plan.recipe.ingredients)
    r = RunResult(identity=plan.identity, status="running", recipe={"name": plan.recipe.name, "path": "", "text": ""},
                  variant=dict(plan.recipe.variant),
                  ingredients=[{"name": a, "options": o} for a, o in plan.recipe.ingredients],
                  seed=plan.seed, target=plan.recipe.target, spec=plan.spec,
                  hardware={"device": "cpu", "device_name": "fake", "device_count": 1}, software={},
                  sweep=sweep, started_at="2026-01-01T00:00:00+00:00")
    store.save(r)
    loss = law(n, steps, plan.seed)
    r.curve = [CurvePoint(0, 0.0, None, 5.0), CurvePoint(steps, steps * 10.0, loss, loss)]
    r.status, r.final_val_loss, r.steps_done = "finished", loss, steps
    r.train_time_ms, r.ms_per_step = steps * 10.0, 10.0
    r.message = f"gpu={os.environ.get('CUDA_VISIBLE_DEVICES', '-')} pid={os.getpid()}"
    r.finished_at = "2026-01-01T00:00:30+00:00"
    store.save(r)
    return r


class Boom(Exception):
    pass


def killing_execute(after: int):
    """An execute that is 'killed' (KeyboardInterrupt) while training its `after`-th run, leaving the
    record that run had already written as 'running' — what kill -9 leaves behind."""
    count = {"n": 0}

    def execute(plan, store, *, force=False, sweep=None):
        if store.finished(plan.identity) is not None and not force:
            return store.finished(plan.identity)
        count["n"] += 1
        if count["n"] == after:
            store.save(RunResult(plan.identity, "running", {"name": "toy"}, dict(plan.recipe.variant), [],
                                 plan.seed, 3.28, plan.spec, {}, {}, started_at="2026-01-01T00:00:00+00:00"))
            raise KeyboardInterrupt
        return fake_execute(plan, store, force=force, sweep=sweep)
    return execute


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()


# --- planning ------------------------------------------------------------------------------------

def test_prefix_sweep_plans_each_prefix_per_seed_and_a_slope_run():
    s = sw.plan_sweep(FakeRecipe(), kind="prefixes", seeds=2, options=FakeOptions(), planner=fake_planner)
    assert len(s.runs) == 2 * (4 + 1)
    first_seed = s.runs[:5]
    assert [r.label for r in first_seed] == ["base", "+a", "+b", "+c", "+c"]
    assert [r.role for r in first_seed] == ["variant"] * 4 + ["slope"]
    assert first_seed[-1].steps == 1250 and first_seed[-2].steps == 1000
    assert {r.seed for r in s.runs} == {0, 1}
    assert [r.index for r in s.runs] == list(range(10))
    again = sw.plan_sweep(FakeRecipe(), kind="prefixes", seeds=2, options=FakeOptions(), planner=fake_planner)
    assert again.id == s.id                                   # the same command plans the same sweep
    other = sw.plan_sweep(FakeRecipe(), kind="prefixes", seeds=1, options=FakeOptions(), planner=fake_planner)
    assert other.id != s.id


def test_leave_each_out_plans_the_recipe_and_each_drop():
    s = sw.plan_sweep(FakeRecipe(), kind="each", seeds=1, options=FakeOptions(steps=800), planner=fake_planner)
    assert [r.label for r in s.runs] == ["toy", "-a", "-b", "-c", "toy"]
    assert [r.steps for r in s.runs] == [800, 800, 800, 800, 1000]


def test_step_count_grid_replaces_the_slope_run_and_duplicates_are_planned_once():
    s = sw.plan_sweep(FakeRecipe(), kind="prefixes", options=FakeOptions(), step_counts=[900, 1100],
                      planner=fake_planner)
    assert len(s.runs) == 8 and {r.role for r in s.runs} == {"variant"}
    one = FakeRecipe(ingredients=(("a", {}),))
    s = sw.plan_sweep(one, kind="each", options=FakeOptions(), slope=False, planner=fake_planner)
    assert [r.label for r in s.runs] == ["toy", "-a"]
    assert len({r.identity for r in s.runs}) == len(s.runs)


def test_bad_sweep_requests_are_clear_errors():
    with pytest.raises(sw.SweepError, match="unknown sweep kind"):
        sw.plan_sweep(FakeRecipe(), kind="zigzag", options=FakeOptions(), planner=fake_planner)
    with pytest.raises(sw.SweepError, match="at least 1"):
        sw.plan_sweep(FakeRecipe(), kind="single", seeds=0, options=FakeOptions(), planner=fake_planner)


# --- running and resuming ------------------------------------------------------------------------

def test_sweep_records_and_manifest_and_a_second_run_trains_nothing(tmp_path):
    store = ResultStore(tmp_path)
    s = sw.plan_sweep(FakeRecipe(), kind="prefixes", options=FakeOptions(), planner=fake_planner)
    results = sw.run_sweep(s, store, executor=InProcess(fake_execute))
    assert [r.identity for r in results] == [r.identity for r in s.runs]
    assert all(r.status == "finished" for r in results)
    assert results[2].sweep == {"id": s.id, "kind": "prefixes", "index": 2, "size": 5, "role": "variant",
                                "label": "+b"}
    manifest = sw.read_manifest(sw.manifest_path(store, s))
    assert [e["identity"] for e in manifest["runs"]] == [r.identity for r in s.runs]
    assert manifest["runner"] is None
    assert not any(p.suffix == ".json" for p in (tmp_path / "sweeps").iterdir())   # never read as a record
    n = len(CALLS)
    sw.run_sweep(s, store, executor=InProcess(fake_execute))
    assert len(CALLS) == n


def test_interrupted_sweep_resumes_redoing_only_the_unfinished_run(tmp_path):
    store = ResultStore(tmp_path)
    s = sw.plan_sweep(FakeRecipe(), kind="prefixes", options=FakeOptions(), planner=fake_planner)
    with pytest.raises(KeyboardInterrupt):
        sw.run_sweep(s, store, executor=InProcess(killing_execute(after=3)))
    assert [store.find(r.identity).status if store.find(r.identity) else None for r in s.runs] == \
        ["finished", "finished", "running", None, None]
    (path, manifest), = sw.manifests(tmp_path)
    progress = sw.sweep_progress(path, manifest, store)
    assert [r.state for r in progress.runs] == ["done", "done", "interrupted", "pending", "pending"]
    assert progress.eta_s == pytest.approx(30.0 * 3)
    CALLS.clear()
    results = sw.run_sweep(s, store, executor=InProcess(fake_execute))
    assert CALLS == [r.identity for r in s.runs[2:]]
    assert all(r.status == "finished" for r in results)


def test_a_failing_run_does_not_stop_the_sweep(tmp_path):
    def execute(plan, store, *, force=False, sweep=None):
        if plan.recipe.variant.get("index") == 1:
            raise Boom("bad data")
        return fake_execute(plan, store, force=force, sweep=sweep)
    s = sw.plan_sweep(FakeRecipe(), kind="prefixes", options=FakeOptions(), planner=fake_planner)
    with pytest.raises(sw.SweepFailed, match="bad data") as e:
        sw.run_sweep(s, ResultStore(tmp_path), executor=InProcess(execute))
    assert len(e.value.results) == 4


def test_per_gpu_executor_pins_one_run_per_gpu(tmp_path):
    store = ResultStore(tmp_path)
    s = sw.plan_sweep(FakeRecipe(), kind="prefixes", options=FakeOptions(), planner=fake_planner)
    env = {"PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")])}
    ex = PerGPU(devices=["0", "1"], execute=f"{__name__}:fake_execute", env=env, poll_s=0.05)
    results = sw.run_sweep(s, store, executor=ex)
    assert len(results) == 5 and all(r.status == "finished" for r in results)
    gpus = [r.message.split()[0] for r in results]
    assert set(gpus) == {"gpu=0", "gpu=1"}
    assert len({r.message.split()[1] for r in results}) == 5          # one process per run
    assert all(r.sweep["id"] == s.id for r in results)
    assert (tmp_path / "logs").is_dir()


def test_per_gpu_worker_failure_is_reported_with_its_log(tmp_path):
    env = {"PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")])}
    ex = PerGPU(devices=["0"], execute="no_such_module:execute", env=env, poll_s=0.05)
    plan = fake_planner(FakeRecipe(), FakeOptions(seed=0))
    outcome = ex.run([Task(plan)], ResultStore(tmp_path))
    assert len(outcome.failures) == 1 and "no_such_module" in outcome.failures[0] and not outcome.held


# --- exact mode ----------------------------------------------------------------------------------

def test_search_sweep_brackets_every_variant_and_resumes_without_training(tmp_path):
    store = ResultStore(tmp_path)
    recipe = FakeRecipe(ingredients=(("a", {}), ("b", {})))
    kw = dict(kind="prefixes", seeds=1, options=FakeOptions(), store=store, planner=fake_planner,
              executor=InProcess(fake_execute), tol=0.02)
    s = sw.search_sweep(recipe, **kw)
    from remix import ttt
    for k, label in enumerate(["base", "+a", "+b"]):
        pts = [ttt.Point(r.steps, store.find(r.identity).final_val_loss) for r in s.runs if r.label == label]
        truth = ((20.0 - 3.0 * k) / (3.28 - 2.8 + 0.002)) ** 2     # seed 0's offset is -0.002
        lo, hi = ttt.bracket(pts, 3.28)
        assert lo.steps < truth < hi.steps and hi.steps - lo.steps <= 0.02 * hi.steps
    CALLS.clear()
    again = sw.search_sweep(recipe, **kw)
    assert CALLS == [] and again.id == s.id and len(again.runs) == len(s.runs)


# --- end to end: the real runner, a real CLI process, kill -9, resume, report --------------------

E2E_RECIPE = """
name = "three"
base = "llmc_gpt2"
target = 3.38
seed = 0
ingredients = ["rmsnorm", "rope", "relu2"]

[options.rope]
frequencies = "standard"

[overrides]
model.n_layer = 1
model.d_model = 32
model.n_head = 2
model.head_dim = 16
model.mlp_hidden = 64
model.vocab_size = 257
model.max_len = 32
optim.decay.lr = 1e-2
optim.no_decay.lr = 1e-2
data.source = "embedded"
train.steps = 60
train.seq_len = 32
train.device_batch = 4
train.tokens_per_step = 128
train.untimed_steps = 1
train.autocast = "none"
eval.every = 20
eval.tokens = 2048
schedule.lr.warmup = 5
"""


def _statuses(results: Path) -> dict[str, str]:
    import json
    out = {}
    for p in results.glob("*.json"):
        try:
            out[p.name] = json.loads(p.read_text())["status"]
        except (ValueError, KeyError, OSError):
            pass   # never happens with atomic writes; tolerated so the poll cannot crash
    return out


def test_tiny_prefix_sweep_killed_resumed_and_reported(tmp_path):
    """A 3-ingredient recipe's prefix sweep on the CPU through the real `remix run --prefixes`, killed
    with SIGKILL while a run is training, resumed by the same command, then reported."""
    import signal
    import subprocess
    import time
    from reports.build import build_report

    recipe, results = tmp_path / "three.toml", tmp_path / "results"
    recipe.write_text(E2E_RECIPE)
    cmd = [sys.executable, "-c", "from remix.cli import main; main()", "run", str(recipe), "--prefixes",
           "--out", str(results), "--device", "cpu"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=TESTS.parent)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        s = _statuses(results)
        if sum(v == "finished" for v in s.values()) >= 2 and "running" in s.values():
            break
        time.sleep(0.005)
    assert proc.poll() is None, f"the sweep ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _statuses(results)
    finished = {name for name, st in before.items() if st == "finished"}
    assert len(finished) >= 2 and "running" in before.values()
    stamps = {name: (results / name).stat().st_mtime_ns for name in finished}

    (path, manifest), = sw.manifests(results)
    progress = sw.sweep_progress(path, manifest, ResultStore(results))
    assert len(progress.runs) == 5                               # base, +rmsnorm, +rope, full, slope run
    assert progress.runner_alive is False
    assert progress.count("interrupted") == 1 and progress.count("done") == len(finished)

    done = subprocess.run(cmd, capture_output=True, text=True, cwd=TESTS.parent, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    after = _statuses(results)
    assert set(after.values()) == {"finished"} and len(after) == 5
    assert all((results / name).stat().st_mtime_ns == stamps[name] for name in finished)   # not redone
    assert len(sw.manifests(results)) == 1                         # the same sweep, resumed

    rep = build_report(results, tmp_path / "report", history=False)
    names = {p.name for p in rep.files}
    assert {"recipes.png", "waterfall-three.png", "curves-three.png", "report.md"} <= names
    text = rep.markdown.read_text()
    for label in ("base", "+rmsnorm", "+rope"):
        assert f"| {label} | 1 | 60 |" in text
    # every prefix got a time to target, by a named mode: the full recipe from its two step counts (its
    # slope run), the others from one run each and the slope measured on the full recipe
    from reports.analysis import analyse
    from reports.load import load_records
    v = analyse(load_records(results)).variants.set_index("label")
    assert set(v.index) == {"base", "+rmsnorm", "+rope", "three"}
    assert v.time_s.notna().all() and set(v["mode"]) <= {"exact", "cheap"}
    assert (v.drop(index="three").slope_from == "three").all()
    assert "| three | 1 | 60 |" in text


def test_per_gpu_executor_trains_real_plans_in_pinned_workers(tmp_path):
    """The real runner's RunPlans, pickled to `python -m remix.executors run-one` workers, two at a time.
    No GPU here: the 'devices' are labels and the plans train on the CPU, but the pickling, pinning,
    subprocess and store paths are the ones a GPU machine uses."""
    from remix.recipe import load_recipe
    from remix.runner import RunOptions
    recipe_path = tmp_path / "three.toml"
    recipe_path.write_text(E2E_RECIPE.replace("train.steps = 60", "train.steps = 10"))
    store = ResultStore(tmp_path / "results")
    s = sw.plan_sweep(load_recipe(recipe_path), kind="prefixes", options=RunOptions(device="cpu"), slope=False)
    ex = PerGPU(devices=["7", "9"], poll_s=0.05)
    results = sw.run_sweep(s, store, executor=ex)
    assert [r.status for r in results] == ["finished"] * 4
    assert [r.sweep["index"] for r in results] == [0, 1, 2, 3] and all(r.sweep["id"] == s.id for r in results)
    logs = sorted((store.root / "logs").glob("*.log"))
    assert len(logs) == 4


def test_status_tells_a_live_run_from_one_a_killed_runner_left(tmp_path):
    store = ResultStore(tmp_path)
    s = sw.plan_sweep(FakeRecipe(), kind="prefixes", options=FakeOptions(), planner=fake_planner)
    with pytest.raises(KeyboardInterrupt):
        sw.run_sweep(s, store, executor=InProcess(killing_execute(after=2)))   # leaves run 1 'running'
    # a new runner (this live process) has started since, and is training run 3
    runner = {"pid": os.getpid(), "host": __import__("socket").gethostname(), "started_at": "2026-01-01T00:00:05+00:00",
              "executor": "inprocess", "parallel": 1}
    sw.write_manifest(store, s, runner=runner)
    plan = s.runs[3].plan
    store.save(RunResult(plan.identity, "running", {"name": "toy"}, {}, [], 0, 3.28, plan.spec, {}, {},
                         started_at="2026-01-01T00:00:06+00:00"))
    (path, manifest), = sw.manifests(tmp_path)
    states = [r.state for r in sw.sweep_progress(path, manifest, store).runs]
    assert states == ["done", "interrupted", "pending", "running", "pending"]


def test_leave_each_out_of_muon_baseline_drops_dependents_along():
    from remix.recipe import load_recipe
    from remix.runner import RunOptions
    s = sw.plan_sweep(load_recipe(TESTS.parent / "recipes" / "muon_baseline.toml"), kind="each",
                      options=RunOptions(scale="tiny", device="cpu"))
    labels = [r.label for r in s.runs]
    assert "-muon,-muon_momentum_warmup" in labels and "-muon_momentum_warmup" in labels
    assert labels[0] == labels[-1] == "muon_baseline" and s.runs[-1].role == "slope"


# --- the console: what a sweep says as it goes ---------------------------------------------------

def test_the_console_names_each_run_counts_them_and_says_when_one_is_reused(tmp_path):
    import io
    from rich.console import Console
    from remix.cli_run import RunConsole
    store = ResultStore(tmp_path)
    s = sw.plan_sweep(FakeRecipe(), kind="prefixes", options=FakeOptions(), planner=fake_planner)
    text = io.StringIO()
    console = RunConsole(Console(file=text, width=200), store)
    sw.run_sweep(s, store, executor=InProcess(fake_execute), on_event=console)
    lines = text.getvalue().splitlines()
    assert lines[0] == "run 1/5 · base · seed 0 · 1000 steps: training"
    assert lines[1].startswith("run 1/5 · base · seed 0 · 1000 steps: finished, val ")
    assert lines[-2] == "run 5/5 · +c · seed 0 · 1250 steps (slope run): training"
    assert len(lines) == 10
    text.truncate(0), text.seek(0)
    sw.run_sweep(s, store, executor=InProcess(fake_execute), on_event=console)
    lines = text.getvalue().splitlines()
    assert len(lines) == 5 and all(": reused, not trained: finished, val " in line for line in lines)


def test_a_sweep_checks_its_data_once_before_any_manifest(tmp_path):
    from typer.testing import CliRunner
    from remix.cli import _mount, app
    _mount()
    res = CliRunner().invoke(app, ["run", str(TESTS.parent / "recipes" / "smoke.toml"), "--prefixes",
                                   "--set", f"data.source='{tmp_path}/missing'", "--out", str(tmp_path / "res"),
                                   "--device", "cpu"])
    assert res.exit_code == 2 and res.output.count("error:") == 1 and "missing" in res.output
    assert not (tmp_path / "res").exists()


def test_a_run_another_process_is_training_is_not_trained_twice(tmp_path):
    from typer.testing import CliRunner
    from remix.cli import _mount, app
    from remix.lock import run_lock
    from remix.recipe import load_recipe
    from remix.runner import RunOptions, plan_run
    _mount()
    recipe = TESTS.parent / "recipes" / "smoke.toml"
    plan = plan_run(load_recipe(recipe), RunOptions(device="cpu", steps=2))
    with run_lock(tmp_path / "res", plan.identity):
        res = CliRunner().invoke(app, ["run", str(recipe), "--steps", "2", "--device", "cpu", "--out",
                                       str(tmp_path / "res")])
    assert res.exit_code == 1 and f"is being trained by pid {os.getpid()}" in res.output
    assert not list((tmp_path / "res").glob("*.json"))


def test_a_diverged_run_exits_1_and_says_so(tmp_path):
    from typer.testing import CliRunner
    from remix.cli import _mount, app
    _mount()
    res = CliRunner().invoke(app, ["run", str(TESTS.parent / "recipes" / "smoke.toml"), "--steps", "25", "--device",
                                   "cpu", "--out", str(tmp_path), "--set", "optim.decay.lr=1e4", "--set",
                                   "optim.no_decay.lr=1e4", "--quiet"])
    assert res.exit_code == 1, res.output
    assert ": diverged" in res.output and "1 diverged of 1 run(s)" in res.output


def test_a_sweep_leaves_held_runs_to_their_holder_and_says_so(tmp_path):
    from remix.lock import run_lock
    store = ResultStore(tmp_path)
    s = sw.plan_sweep(FakeRecipe(), kind="prefixes", options=FakeOptions(), planner=fake_planner)

    def locking_execute(plan, store, *, force=False, sweep=None):
        with run_lock(store.root, plan.identity):
            return fake_execute(plan, store, force=force, sweep=sweep)
    held = s.runs[2].identity
    with run_lock(tmp_path, held):
        with pytest.raises(sw.SweepFailed, match="1 run\\(s\\) left to another process") as e:
            sw.run_sweep(s, store, executor=InProcess(locking_execute))
    assert e.value.failures == [] and held in e.value.held[0]
    assert store.find(held) is None and len(e.value.results) == 4
