"""The `remix` command line: run, ablate, show, ingredients (+ data, history, report, status)."""

from __future__ import annotations

import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from remix.recipe import Recipe, RecipeError, load_recipe
from remix.options import RunOptions

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Replay the nanoGPT speedrun as toggleable ingredients and measure what each is worth.")
# Piped output (CI logs, `| less`) gets wide lines rather than rich's 80 columns.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def fail(message: str, code: int = 2) -> None:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def parse_set(item: str) -> tuple[str, Any]:
    if "=" not in item:
        fail(f"--set {item!r}: expected path=value, e.g. --set train.steps=100")
    path, text = item.split("=", 1)
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text   # a bare word is a string
    return path.strip(), value


def run_options(seed, scale, steps, sets, device, results, target=None, world=None) -> RunOptions:
    if scale not in (None, "tiny"):
        fail(f"--scale {scale!r}: expected tiny")
    if seed is not None and seed < 0:
        fail(f"--seed {seed}: expected a seed ≥ 0")
    if steps is not None and steps <= 0:
        fail(f"--steps {steps}: expected a positive number of steps")
    if device not in (None, "cpu", "cuda"):
        fail(f"--device {device!r}: expected cpu or cuda")
    if device == "cuda":
        import torch
        if not torch.cuda.is_available():
            fail("--device cuda: no CUDA device is visible")
    if target is not None and target <= 0:
        fail(f"--target {target}: expected a positive val loss")
    return RunOptions(seed=seed, scale=scale, steps=steps, sets=tuple(parse_set(s) for s in sets), device=device,
                      results=str(results), world=world or int(os.environ.get("WORLD_SIZE", "1")), target=target)


def load(path: Path) -> Recipe:
    try:
        return load_recipe(path)
    except RecipeError as e:
        fail(str(e))


# Options shared by run and ablate.
Seed = typer.Option(None, "--seed", help="Random seed (default: the recipe's).")
Scale = typer.Option(None, "--scale", help="tiny: shrink the recipe to run on a CPU in seconds.")
Steps = typer.Option(None, "--steps", help="Training steps (the cooldown, a fraction of the run, scales with "
                                           "them; warm-ups keep their step counts, except at --scale tiny).")
Out = typer.Option(Path("results"), "--out", "--results", help="Directory of run records.")
Target = typer.Option(None, "--target", help="Target val loss (default: the recipe's; tiny scale: 2.4).")
TTT = typer.Option("cheap", "--ttt", help="Time-to-target for sweeps: cheap (one run per variant, slope from "
                                         "a second step count) or exact (a search over step counts).")
Tol = typer.Option(0.02, "--tol", help="Exact mode: stop when the bracket is within this fraction of the steps.")
Executor = typer.Option("auto", "--executor", help="auto, inprocess, per-gpu (one run per visible GPU) or slurm "
                                                 "(one job per run through submitit; local jobs where no sbatch).")
SlurmConfigFile = typer.Option(None, "--slurm-config", help="A TOML file with a \\[slurm] table: partition, time "
                                                           "(minutes), gpus_per_node, nodes, account, qos, array, "
                                                           "max_parallel, wait, cluster (slurm | local).")
SlurmItems = typer.Option([], "--slurm", help="One Slurm parameter as KEY=VALUE, over --slurm-config "
                                              "(repeatable), e.g. --slurm partition=gpu --slurm time=30.")
Device = typer.Option(None, "--device", help="cpu or cuda (default: cuda when available).")
Sets = typer.Option([], "--set", help="Override a spec path, e.g. --set optim.hidden.lr=0.04 (repeatable).")
Force = typer.Option(False, "--force", help="Train again even if a finished record with this identity exists.")
Seeds = typer.Option(1, "--seeds", help="Run each variant with this many seeds (seed, seed+1, ...).")
LogEvery = typer.Option(25, "--log-every", help="Steps between progress reports: a plain line (step, train and "
                                                "val loss, ms/step, tokens/s) when stdout is not a terminal, "
                                                "else the progress bar; and the trackers' scalars.")
Quiet = typer.Option(False, "--quiet", help="No progress bar or progress lines (run lines still print).")
TensorBoard = typer.Option(None, "--tensorboard", help="Write TensorBoard event files under this directory, one "
                                                     "subdirectory per run (pip install 'remix\\[tensorboard]').")
Gpus = typer.Option(1, "--gpus", help="Processes per node for one run: one per GPU, or CPU processes (gloo) with "
                                      "--device cpu. Above 1, remix starts torchrun itself.")
Nodes = typer.Option(1, "--nodes", help="Nodes for one run (start the same command on each, with its --node-rank).")
NodeRank = typer.Option(0, "--node-rank", help="This node's index, 0..nodes-1.")
Master = typer.Option(None, "--master", help="ADDR:PORT of node 0 (needed with --nodes above 1).")
WandB = typer.Option(None, "--wandb", help="Log each run to this Weights & Biases project "
                                           "(pip install 'remix\\[wandb]'; `wandb login` or WANDB_MODE=offline).")


def check_launch(gpus, nodes, node_rank, master, device, executor="auto"):
    from remix.launch import Launch, LaunchError, check
    launch = Launch(gpus, nodes, node_rank, master)
    if launch.wanted and executor == "per-gpu":
        fail(f"--gpus {gpus} trains each run over {launch.world} processes; --executor per-gpu gives each run one GPU: "
             "choose one")
    try:
        return check(launch, device)
    except LaunchError as e:
        fail(str(e))


def job_device(options: RunOptions, cluster) -> RunOptions:
    """A Slurm job with GPUs trains on them, wherever the sweep is planned (a login node has none)."""
    from dataclasses import replace
    if cluster is not None and cluster.gpus_per_node > 0 and options.device is None:
        return replace(options, device="cuda")
    return options


def launch_world(launch) -> int | None:
    """The processes the run will have: the launch's when remix starts torchrun, else torchrun's own."""
    from remix.launch import inside_torchrun
    return None if inside_torchrun() is not None or not launch.wanted else launch.world


def slurm_settings(executor: str, config: Optional[Path], items: list[str], launch):
    """The SlurmConfig for --executor slurm (None for any other executor); its devices make the run's world."""
    if executor != "slurm":
        if config is not None or items:
            fail("--slurm-config and --slurm go with --executor slurm")
        return None
    if launch.wanted:
        fail("--executor slurm: give the devices per run as --slurm gpus_per_node=N --slurm nodes=M, not --gpus/--nodes")
    from remix.executors import ExecutorError
    from remix.slurm import load_config
    try:
        cluster = load_config(config, items)
    except ExecutorError as e:
        fail(str(e))
    if cluster.target == "local" and cluster.gpus_per_node > 0:
        import torch
        if torch.cuda.device_count() < cluster.gpus_per_node:
            fail(f"--executor slurm: no sbatch here, so jobs run on this machine (submitit's local executor), which has "
                 f"{torch.cuda.device_count()} GPU(s) for gpus_per_node = {cluster.gpus_per_node}; --slurm "
                 "gpus_per_node=0 runs CPU jobs")
    return cluster


def relaunch_if_asked(launch, recipe: Recipe, options: RunOptions) -> None:
    """With --gpus/--nodes and no torchrun around: check the recipe at the launch's world (a batch that cannot
    be split is refused here, before any process starts), then run this command under torchrun and exit
    with its status."""
    from remix.launch import inside_torchrun, relaunch, rendezvous_hint
    if not launch.wanted or inside_torchrun() is not None:
        return
    from remix.runner import resolve_spec
    try:
        resolve_spec(recipe, options)
    except RecipeError as e:
        fail(str(e))
    argv = sys.argv[1:]
    start = next((i for i, a in enumerate(argv) if a in ("run", "ablate")), None)
    if start is None:
        fail("--gpus/--nodes start torchrun with this command line, which is not a `remix run` or `remix ablate`")
    where = f"{launch.nodes} node(s) × {launch.gpus}" if launch.nodes > 1 else f"{launch.gpus}"
    out.print(f"torchrun: {where} process(es)" + (f", this is node {launch.node_rank}" if launch.nodes > 1 else ""),
              highlight=False)
    code = relaunch(launch, argv[start:])
    if code not in (0, 1, 130):   # 2: the ranks said why; anything else is torchrun's (a rank crashed, no rendezvous)
        err.print(f"[red]error:[/red] torchrun exited with status {code}; if no rank started training, "
                  f"{rendezvous_hint(launch)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def make_watch(log_every: int, quiet: bool, tensorboard: Optional[Path], wandb: Optional[str]):
    from remix.watch import Watch, WatchError, check_trackers
    watch = Watch(log_every=log_every, progress=False if quiet else None,
                  tensorboard=None if tensorboard is None else str(tensorboard), wandb=wandb)
    try:
        check_trackers(watch)
    except WatchError as e:
        fail(str(e))
    return watch


def placed_options(recipe, seed, scale, steps, set_, device, out_dir, target, executor, gpus, nodes, node_rank,
                   master, slurm_config, slurm):
    """The run options on the devices asked for: checked launch flags, Slurm settings, and (when --gpus asks
    for processes this one is not yet among) torchrun started here, which does not return."""
    launch = check_launch(gpus, nodes, node_rank, master, device, executor)
    cluster = slurm_settings(executor, slurm_config, slurm, launch)
    options = job_device(run_options(seed, scale, steps, set_, device, out_dir, target,
                                     world=cluster.world if cluster else launch_world(launch)), cluster)
    relaunch_if_asked(launch, load(recipe), options)
    return options, cluster


@app.command()
def run(recipe: Path = typer.Argument(..., help="A recipe TOML file."), seed: Optional[int] = Seed,
        scale: Optional[str] = Scale, steps: Optional[int] = Steps, out_dir: Path = Out,
        device: Optional[str] = Device, set_: list[str] = Sets, force: bool = Force,
        prefixes: bool = typer.Option(False, "--prefixes", help="Train the base, then each prefix of the order."),
        seeds: int = Seeds, target: Optional[float] = Target, ttt: str = TTT, tol: float = Tol,
        executor: str = Executor, log_every: int = LogEvery, quiet: bool = Quiet,
        tensorboard: Optional[Path] = TensorBoard, wandb: Optional[str] = WandB, gpus: int = Gpus,
        nodes: int = Nodes, node_rank: int = NodeRank, master: Optional[str] = Master,
        slurm_config: Optional[Path] = SlurmConfigFile, slurm: list[str] = SlurmItems):
    """Train a recipe (or each prefix of its order) and write one record per run.

    Exit status 1 when a run diverged, was unstable, failed or is being trained by another process."""
    options, cluster = placed_options(recipe, seed, scale, steps, set_, device, out_dir, target, executor, gpus,
                                      nodes, node_rank, master, slurm_config, slurm)
    watch = make_watch(log_every, quiet, tensorboard, wandb)
    execute(load(recipe), options, kind="prefixes" if prefixes else "single", seeds=seeds, force=force,
            ttt=ttt, tol=tol, executor=cluster or executor, watch=watch)


@app.command()
def ablate(recipe: Path = typer.Argument(..., help="A recipe TOML file."),
           drop: list[str] = typer.Option([], "--drop", help="Leave this ingredient out (repeatable)."),
           add: list[str] = typer.Option([], "--add", help="Add NAME or NAME@POSITION (repeatable). "
                                  "Without a position, an ingredient that changes the math goes before the recipe's "
                                  "closing same-math kernels (A's and M's fused loss and mask build), others last."),
           each: bool = typer.Option(False, "--each", help="Leave each ingredient out in turn."),
           seed: Optional[int] = Seed, scale: Optional[str] = Scale, steps: Optional[int] = Steps,
           out_dir: Path = Out, device: Optional[str] = Device, set_: list[str] = Sets, force: bool = Force,
           seeds: int = Seeds, target: Optional[float] = Target, ttt: str = TTT, tol: float = Tol,
           executor: str = Executor, log_every: int = LogEvery, quiet: bool = Quiet,
           tensorboard: Optional[Path] = TensorBoard, wandb: Optional[str] = WandB, gpus: int = Gpus,
           nodes: int = Nodes, node_rank: int = NodeRank, master: Optional[str] = Master,
           slurm_config: Optional[Path] = SlurmConfigFile, slurm: list[str] = SlurmItems):
    """Train the recipe less (--drop) or plus (--add) ingredients, or leave each out in turn (--each).

    Exit status 1 when a run diverged, was unstable, failed or is being trained by another process."""
    options, cluster = placed_options(recipe, seed, scale, steps, set_, device, out_dir, target, executor, gpus,
                                      nodes, node_rank, master, slurm_config, slurm)
    sweep_args = dict(seeds=seeds, force=force, ttt=ttt, tol=tol, executor=cluster or executor,
                      watch=make_watch(log_every, quiet, tensorboard, wandb))
    base = load(recipe)
    if each:
        if drop or add:
            fail("--each leaves every ingredient out in turn; it takes no --drop or --add")
        execute(base, options, kind="each", **sweep_args)
        return
    if not drop and not add:
        fail("ablate needs --drop NAME, --add NAME[@POSITION] or --each")
    execute(changed(base, drop, add), options, kind="single", **sweep_args)


def changed(recipe: Recipe, drop: list[str], add: list[str]) -> Recipe:
    """The recipe less --drop names, then plus --add NAME[@POSITION] items in turn (ablate's and show's)."""
    try:
        variant = recipe.drop(*drop) if drop else recipe
        for item in add:
            name, _, pos = item.partition("@")
            if pos and not pos.lstrip("-").isdigit():
                fail(f"--add {item!r}: the position after @ must be a whole number")
            variant = variant.add(name, int(pos) if pos else None)
            after = variant.names[variant.names.index(name) + 1:]
            if after and not pos:   # placed before the recipe's closing kernels: say so, the label does not
                err.print(f"[dim]--add {name}: before {', '.join(after)} (same-math kernels close the recipe; "
                          f"{name}@{len(variant.names) - 1} puts it last)[/dim]", highlight=False)
    except RecipeError as e:
        fail(str(e))
    return variant


def execute(recipe: Recipe, options: RunOptions, *, kind: str, seeds: int, force: bool, ttt: str = "cheap",
            tol: float = 0.02, executor: str = "auto", watch=None) -> None:
    if seeds < 1:
        fail(f"--seeds {seeds}: expected at least 1")
    if ttt not in ("cheap", "exact"):
        fail(f"--ttt {ttt!r}: expected cheap or exact")
    if isinstance(executor, str) and executor not in ("auto", "inprocess", "per-gpu"):
        fail(f"--executor {executor!r}: expected auto, inprocess, per-gpu or slurm")
    if not 0 < tol < 1:
        fail(f"--tol {tol}: expected a fraction between 0 and 1")
    from remix.cli_run import execute as carry_out
    carry_out(recipe, options, kind=kind, seeds=seeds, force=force, ttt=ttt, tol=tol, executor=executor,
              watch=watch, out=out, fail=fail)


@app.command()
def show(recipe: Path = typer.Argument(..., help="A recipe TOML file."), scale: Optional[str] = Scale,
         steps: Optional[int] = Steps, set_: list[str] = Sets,
         drop: list[str] = typer.Option([], "--drop", help="Show the recipe less this ingredient."),
         add: list[str] = typer.Option([], "--add", help="Show the recipe plus NAME or NAME@POSITION, placed "
                                       "as ablate places it."),
         model_: bool = typer.Option(False, "--model", help="Also the model as built: each layer, each part "
                                     "and its hook points, each parameter with its shape, role and optimizer group."),
         devices: int = typer.Option(1, "--gpus", help="Resolve for this many devices (the device batch is fitted "
                                                      "to them; the split of each step is shown).")):
    """The resolved spec (each field and what set it), the ingredients, sizes and data; trains nothing."""
    from remix.model import build_model, padded_vocab
    from remix.runner import resolve_spec
    from remix.scale import SCALE_TARGETS
    from remix.trainer import accumulation
    if devices < 1:
        fail(f"--gpus {devices}: expected at least 1")
    options = run_options(None, scale, steps, set_, None, "results", world=devices if devices > 1 else None)
    r = changed(load(recipe), drop, add)
    try:
        spec, source, skipped = resolve_spec(r, options)
    except RecipeError as e:
        fail(str(e))
    target = SCALE_TARGETS.get(scale, r.target)   # what a run at this scale aims for (plan_run's rule)
    out.print(f"[bold]{r.name}[/bold]  {r.description}")
    out.print(f"base {r.base}; target val loss {target:g}" + (f" (--scale {scale}; the recipe's is {r.target:g})"
                                                               if target != r.target else "") + f"; seed {r.seed}")
    out.print("ingredients: " + (" → ".join(r.names) or "(none)"))
    table = Table("path", "value", "last set by", box=None, pad_edge=False)
    for path, value in spec.paths().items():
        origin = source.get(path, "base")
        table.add_row(path, repr(value), origin if origin != "base" else "[dim]base[/dim]")
    out.print(table)
    model = build_model(spec.model, bos_id=0, device="meta")
    n = sum(p.numel() for p in model.parameters())
    t = spec.train
    out.print(f"parameters: {n:,}  (head rows {padded_vocab(spec.model):,})")
    out.print(f"tokens per step: {t.tokens_per_step:,} = {options.world} device(s) × {accumulation(spec, options.world)}"
              f" micro-step(s) × {t.device_batch} × {t.seq_len}; {t.steps:,} steps = {t.steps * t.tokens_per_step:,} tokens")
    out.print(f"data: {describe_data(spec.data.source, spec.model.vocab_size)}", highlight=False)
    if skipped:
        out.print(f"[yellow]overrides not applicable to this variant:[/yellow] {', '.join(skipped)}")
    from remix.overrides import quiet_overrides
    quiet = quiet_overrides(r)
    if quiet:   # an ablation of either ingredient then removes less than its name says
        out.print("[yellow]quiet overrides[/yellow] (a later ingredient changed what an earlier one set):")
        for o in quiet:
            out.print("  " + escape(str(o)), highlight=False)
    if model_:
        show_model(spec)


def show_model(spec) -> None:
    from remix.model.describe import describe_model
    d = describe_model(spec)
    out.print("[bold]layers[/bold]")
    for line in d["layers"]:
        out.print("  " + line, highlight=False)
    out.print("[bold]parts[/bold]" + ("" if d["parts"] else ": none"))
    for line in d["parts"]:
        out.print("  " + line, highlight=False)
    table = Table("parameter", "shape", "dtype", "role", "group", "numel", box=None, pad_edge=False)
    for name, shape, dtype, role, group, n in d["params"]:
        table.add_row(name, "×".join(map(str, shape)), dtype, role, group, f"{n:,}")
    out.print(table)
    out.print(f"total: {d['total']:,} parameters")


def describe_data(source: str, vocab_size: int | None = None) -> str:
    """One line on the recipe's data; what `run` would refuse about it (ids past the vocabulary) said here too."""
    from remix.data import DataError, open_dataset
    try:
        ds = open_dataset(source)
    except DataError as e:
        return f"{source} — not available here: {e}"
    text = (f"{ds.name}: {len(ds.train_files)} train file(s), {ds.train_tokens:,} tokens; "
            f"{len(ds.val_files)} val file(s), {ds.val_tokens:,} tokens (BOS {ds.bos_id}, vocab {ds.vocab_size})")
    if vocab_size is not None and ds.vocab_size > vocab_size:
        text += (f"\n  but model.vocab_size is {vocab_size}: `run` refuses this data "
                 f"(--set model.vocab_size={ds.vocab_size})")
    return text


@app.command()
def ingredients(as_json: bool = typer.Option(False, "--json", help="Print the catalogue as JSON.")):
    """The ingredient catalogue, with provenance."""
    from dataclasses import asdict
    from remix.ingredient import catalogue
    cat = catalogue()
    if as_json:
        rows = [{"name": i.name, "category": i.category, "summary": i.summary,
                 "provenance": [asdict(p) for p in i.provenance], "requires": list(i.requires),
                 "conflicts": list(i.conflicts), "math_equivalent": i.math_equivalent, "options": i.options}
                for i in cat.values()]
        print(json.dumps(rows, indent=1, default=str))
        return
    _print_catalogue(cat)


def _print_catalogue(cat) -> None:
    """The catalogue grouped by category, then the records that have no ingredient and why (history/).
    Below 120 columns the requires/conflicts and math-equivalent columns fold into marks on the name."""
    from remix.ingredient import CATEGORIES
    console = Console(highlight=False, width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160)
    wide = console.width >= 120
    for category in CATEGORIES:
        members = [i for i in cat.values() if i.category == category]
        if not members:
            continue
        table = Table(title=f"{category} ({len(members)})", title_justify="left", show_lines=False, expand=True)
        table.add_column("name", no_wrap=True)
        table.add_column("records", ratio=1)
        table.add_column("summary", ratio=3 if wide else 2)
        if wide:
            table.add_column("requires / conflicts", ratio=1)
            table.add_column("math-eq.", no_wrap=True)
        for i in members:
            records = " ".join(f"#{p.record}" if p.record else "remixed" for p in i.provenance)
            rel = "; ".join(part for part in (
                "requires " + ", ".join(i.requires) if i.requires else "",
                "conflicts with " + ", ".join(i.conflicts) if i.conflicts else "") if part)
            if wide:
                table.add_row(i.name, records, i.summary, rel or "-", "yes" if i.math_equivalent else "no")
            else:
                name = i.name + (" =" if i.math_equivalent else "")
                summary = i.summary + (f" ({rel})" if rel else "")
                table.add_row(name, records, summary)
        console.print(table)
    console.print(f"{len(cat)} ingredients" + ("" if wide else "; '=' after a name: the same math (systems)"))
    _print_records_without(console)


def _print_records_without(console: Console) -> None:
    from rich.text import Text
    try:
        from history.data import default_history
        history = default_history()
    except Exception as exc:   # the history is optional here: say why it is not shown
        console.print(Text(f"(records without an ingredient not shown: {exc})", style="yellow"))
        return
    none = [r for r in history.records if not r.ingredients]
    part = [r for r in history.records if r.ingredients and r.missing]
    table = Table(title=f"Records without an ingredient, and why ({len(none)})", title_justify="left",
                  expand=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("record", ratio=1)
    table.add_column("why no ingredient", ratio=2)
    for r in none:
        table.add_row(r.key, r.description, Text(r.reason or "no reason given", style="" if r.reason else "red"))
    console.print(table)
    for r in part:
        console.print(Text(f"#{r.key} is covered in part; missing: {r.missing}", style="yellow"))


def _mount() -> None:
    """Sub-commands that live with their features."""
    from history.cli import app as history_app
    from remix.cli_report import register
    from remix.data.cli import app as data_app
    app.add_typer(data_app, name="data", help="Get FineWeb, or tokenize your own text into shards.")
    app.add_typer(history_app, name="history", help="The speedrun's records, and a clone's history.")
    register(app)


def main() -> None:
    # As the speedrun: the CUDA caching allocator grows segments instead of fragmenting. It must be set
    # before CUDA starts, which planning a run (reading the device's name) already does.
    os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")
    _mount()
    try:
        app()
    except RecipeError as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(2)
