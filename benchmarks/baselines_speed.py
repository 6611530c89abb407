"""remix's A, M and record-21 recipes against the reference scripts, same GPU, same data, same step count.

Run on a GPU machine from the repository root:

    python3 benchmarks/baselines_speed.py --data DIR --ref DIR [--steps 200] [--which M A R21] [--repeat N]
    python3 benchmarks/baselines_speed.py --ref DIR --which R21 --dry-run    # patch only, print what changed
    python3 benchmarks/baselines_speed.py --data DIR --ref DIR --gpus 8 --which M A R21 \
        --sync bucketed_allreduce overlap_allreduce reduce_scatter            # several GPUs (issue #18)

--data: a directory with *_train_*.bin / *_val_*.bin shards (e.g. a copy of ../shared/data).
--ref:  a directory holding train_gpt_M.py, train_gpt_A.py and train_gpt.py (record 21, upstream
        2025-05-24_StableTorch) of flukeskywalker/modded-nanogpt-remixed (fetched read-only; never
        committed). They are patched in a temporary directory: no 8-GPU assert, the data paths, the step
        count, validation every --val-every steps over --val-tokens; every patch must hit exactly once.

On one GPU a reference script trains one row per step (its global batch is world_size rows): 65,536
tokens for A and M, 49,152 for record 21 (train_seq_len 48·1024; its validation rows stay 262,144), so
remix runs with train.tokens_per_step = that row: the same math, step for step. Both scale their
schedules (lr cooldown, record 21's window warm-up) to the --steps they are given.
Prints ms/step between the two last validations (steady state, validation excluded), tokens/s, val
losses and peak memory, side by side; with --repeat N the pairs run N times, alternating, and the
ratio is taken between medians. --val-tokens shortens validation for speed-only repeats.
With --gpus N both train one row per GPU per step (remix --gpus N, torchrun with N processes), and
--sync trains remix again with each gradient-synchronisation ingredient added; tokens/s is per GPU.
--also trains remix again with each set of ingredients added (NAME or NAME+NAME+...; ~NAME leaves one of
the recipe's out): the systems ingredients of issue #15, one set per prefix, show what each is worth
beside the script in the same call (A and M close with two: `--also '~fused_softcap_ce'
'~block_mask_from_bounds+~fused_softcap_ce'` measures them from M's side).
The table is written after every run, so a call cut short by its time limit keeps what finished.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RECIPES = {"M": "recipes/muon_baseline.toml", "A": "recipes/adamw_baseline.toml", "R21": "recipes/record_21.toml"}
SCRIPTS = {"M": "train_gpt_M.py", "A": "train_gpt_A.py", "R21": "train_gpt.py"}
ROWS = {"M": 65536, "A": 65536, "R21": 49152}   # tokens per row per GPU: train_gpt_{M,A}.py, train_gpt.py (48·1024)
VAL_ROWS = {"M": 65536, "A": 65536, "R21": 262144}   # validation rows (train_gpt.py: val_seq_len 4·64·1024)
VAL_LINE = re.compile(r"step:(\d+)/\d+ val_loss:([\d.]+) train_time:(\d+)ms")
PEAK = re.compile(r"peak memory allocated: (\d+) MiB")


def run_remix(which: str, data: Path, steps: int, val_every: int, val_tokens: int, out: Path, gpus: int = 1,
              add: str | None = None) -> dict:
    """remix's recipe with one row per GPU per step (`add`: "a+b+~c" adds a and b, leaves c out)."""
    cmd = [sys.executable, "-m", "remix", "ablate" if add else "run", RECIPES[which], "--steps", str(steps),
           "--force", "--set", f"train.tokens_per_step={ROWS[which] * gpus}", "--set", f"eval.every={val_every}",
           "--set", f"eval.tokens={val_tokens}", "--set", f"data.source='{data}'", "--out", str(out)]
    for name in add.split("+") if add else []:
        cmd += ["--drop", name[1:]] if name.startswith("~") else ["--add", name]
    cmd += ["--gpus", str(gpus)] if gpus > 1 else []
    started = time.time()
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    record = max((p for p in out.glob("*.json") if p.stat().st_mtime >= started - 1), key=lambda p: p.stat().st_mtime)
    d = json.loads(record.read_text())
    vals = {p["step"]: (p["val_loss"], p["train_time_ms"]) for p in d["curve"] if p["val_loss"] is not None}
    return {"vals": vals, "peak_mib": d["peak_memory_mib"]}


def variant(which: str, changes: str):
    """The recipe `run_remix` trains for `changes` ("a+~b"), built here to check it (RecipeError if not)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from remix.recipe import load_recipe
    r = load_recipe(Path(__file__).resolve().parent.parent / RECIPES[which])
    drops = [n[1:] for n in changes.split("+") if n.startswith("~")]
    r = r.drop(*drops) if drops else r
    for name in (n for n in changes.split("+") if not n.startswith("~")):
        r = r.add(name)
    return r


class PatchError(ValueError):
    pass


def _sub(text: str, pattern: str, replacement: str, what: str, name: str) -> str:
    """One substitution that must hit exactly once: a reference script that changed is an error, not a
    run with the script's own settings."""
    new, n = re.subn(pattern, lambda _: replacement, text)
    if n != 1:
        raise PatchError(f"{name}: expected one {what} line matching {pattern!r}, found {n}")
    return new


def patch_text(text: str, data: Path, steps: int, val_every: int, val_tokens: int = 10485760,
               name: str = "script") -> str:
    text = _sub(text, r"assert world_size == 8\b", "assert world_size >= 1", "8-GPU assert", name)
    text = _sub(text, r'train_files = "[^"]*"', f'train_files = "{data}/*_train_*.bin"', "train_files", name)
    text = _sub(text, r'val_files = "[^"]*"', f'val_files = "{data}/*_val_*.bin"', "val_files", name)
    text = _sub(text, r"num_iterations = \d+", f"num_iterations = {steps}", "num_iterations", name)
    text = _sub(text, r"val_loss_every = \d+", f"val_loss_every = {val_every}", "val_loss_every", name)
    text = _sub(text, r"val_tokens = \d+", f"val_tokens = {val_tokens}", "val_tokens", name)
    return text


def patch_reference(source: Path, data: Path, steps: int, val_every: int, val_tokens: int = 10485760) -> str:
    if not source.is_file():
        raise PatchError(f"{source}: no such file (--ref must hold {', '.join(sorted(set(SCRIPTS.values())))})")
    return patch_text(source.read_text(), data, steps, val_every, val_tokens, name=str(source))


SETTINGS = re.compile(r"^\s*(train_files|val_files|num_iterations|val_loss_every|val_tokens|train_seq_len|"
                      r"val_seq_len|assert world_size)\b(.*)$", re.M)


def settings(text: str) -> dict[str, str]:
    """The lines a run depends on, as the (patched) script has them: what --dry-run prints."""
    return {key: rest.split("#")[0].strip() for key, rest in SETTINGS.findall(text)}


def run_reference(which: str, ref: Path, data: Path, steps: int, val_every: int, val_tokens: int,
                  gpus: int = 1) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / SCRIPTS[which]
        script.write_text(patch_reference(ref / SCRIPTS[which], data.resolve(), steps, val_every, val_tokens))
        proc = subprocess.run(["torchrun", "--standalone", f"--nproc_per_node={gpus}", str(script)], cwd=tmp,
                              capture_output=True, text=True)
        log = proc.stdout + proc.stderr
        if proc.returncode != 0:
            print(log[-4000:])
            raise SystemExit(f"reference {which} failed")
    vals = {int(s): (float(v), float(t)) for s, v, t in VAL_LINE.findall(log)}
    peak = PEAK.search(log)
    return {"vals": vals, "peak_mib": float(peak.group(1)) if peak else None}


def steady_ms(vals: dict) -> float:
    (s0, (_, t0)), (s1, (_, t1)) = sorted(vals.items())[-2:]
    return (t1 - t0) / (s1 - s0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("data"))
    p.add_argument("--ref", type=Path, required=True)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--val-every", type=int, default=100)
    p.add_argument("--which", nargs="+", default=["M", "A"], choices=list(RECIPES))
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--val-tokens", type=int, default=10485760)
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "bench-out")))
    p.add_argument("--dry-run", action="store_true", help="patch the reference scripts and print their settings")
    p.add_argument("--gpus", type=int, default=1, help="GPUs per run (remix --gpus N, torchrun N processes); "
                   "one row per GPU per step, as the scripts")
    p.add_argument("--sync", nargs="*", default=[], help="also train remix with each of these gradient-sync "
                   "ingredients added (bucketed_allreduce, overlap_allreduce, reduce_scatter)")
    p.add_argument("--also", nargs="*", default=[], help="also train remix with each of these sets of ingredients "
                   "added: NAME or NAME+NAME+... (~NAME: left out), for one recipe only with a prefix (M:NAME+NAME)")
    args = p.parse_args()
    for which in args.which:   # the scripts assert it; say so before any GPU time is spent
        if args.val_tokens % (VAL_ROWS[which] * args.gpus):
            raise SystemExit(f"error: --val-tokens {args.val_tokens} is not a multiple of {which}'s validation "
                             f"row ({VAL_ROWS[which]:,} tokens) × {args.gpus} GPU(s)")
    for which in args.which:   # every set must make a recipe: said before any GPU time is spent
        for changes in (s.split(":", 1)[-1] for s in args.also if s.split(":", 1)[0] in (s, which)):
            try:
                variant(which, changes)
            except ValueError as e:
                raise SystemExit(f"error: --also {changes} on {RECIPES[which]}: {e}") from None
    if args.dry_run:
        for which in args.which:
            source = args.ref / SCRIPTS[which]
            try:
                patched = patch_reference(source, args.data.resolve(), args.steps, args.val_every, args.val_tokens)
            except PatchError as e:
                raise SystemExit(f"error: {e}") from None
            before, after = settings(source.read_text()), settings(patched)
            print(f"{which}: {source} (remix: {RECIPES[which]}, train.tokens_per_step={ROWS[which]})")
            for key in after:
                mark = "  " if before.get(key) == after[key] else "->"
                print(f"  {mark} {key}: {after[key]}")
        return
    runs: dict[str, list[dict]] = {}
    row = {}   # tokens per GPU per step of each run name

    def timed(name: str, which: str, fn) -> None:
        started = time.time()
        runs.setdefault(name, []).append({**fn(), "wall_s": round(time.time() - started, 1)})
        row[name] = ROWS[which]
        report(runs, row, args)

    for which in args.which:
        extra = [*args.sync, *(s.split(":", 1)[-1] for s in args.also if s.split(":", 1)[0] in (s, which))]
        for _ in range(args.repeat):   # the pair first, so a call cut short still has it
            timed(f"remix {which}", which, lambda: run_remix(which, args.data, args.steps, args.val_every,
                                                             args.val_tokens, args.out / "records", args.gpus))
            timed(f"reference {which}", which, lambda: run_reference(which, args.ref, args.data, args.steps,
                                                                     args.val_every, args.val_tokens, args.gpus))
            for add in extra:
                timed(f"remix {which}+{add}", which, lambda: run_remix(
                    which, args.data, args.steps, args.val_every, args.val_tokens, args.out / "records", args.gpus, add))


def report(runs: dict[str, list[dict]], row: dict[str, int], args: argparse.Namespace) -> None:
    """The table so far, printed and written to baselines_speed.json."""
    summary = {}
    print(f"\n{args.gpus} GPU(s); tokens/s per GPU")
    print(f"{'run':<32} {'ms/step':>8} {'tokens/s':>10} {'peak MiB':>9} {'wall s':>7}  val loss by step")
    for name, samples in runs.items():
        for r in samples:
            ms = steady_ms(r["vals"])
            losses = "  ".join(f"{s}: {v:.4f}" for s, (v, _) in sorted(r["vals"].items()))
            print(f"{name:<32} {ms:>8.1f} {row[name] / ms * 1000:>10,.0f} {r['peak_mib'] or 0:>9,.0f} "
                  f"{r['wall_s']:>7.0f}  {losses}")
        summary[name] = [{"ms_per_step": steady_ms(r["vals"]), "tokens_per_s": row[name] / steady_ms(r["vals"]) * 1000,
                          "peak_mib": r["peak_mib"], "gpus": args.gpus,
                          "wall_s": r["wall_s"], "val_loss": {s: v for s, (v, _) in r["vals"].items()}}
                         for r in samples]
    for which in args.which:
        if f"reference {which}" not in runs:
            continue
        theirs = statistics.median(steady_ms(r["vals"]) for r in runs[f"reference {which}"])
        for name in [n for n in runs if n == f"remix {which}" or n.startswith(f"remix {which}+")]:
            ours = statistics.median(steady_ms(r["vals"]) for r in runs[name])
            print(f"{name}: median {ours:.1f} vs {theirs:.1f} ms/step: {theirs / ours:.3f}x the reference's "
                  f"tokens/s ({len(runs[name])} run(s))")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "baselines_speed.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
