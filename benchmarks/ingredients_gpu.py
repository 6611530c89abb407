"""M plus each ingredient on one GPU: ms/step and val@100/200 beside plain M, within a device-time budget.

Run on a GPU machine from the repository root (the enwiki shards of ../shared/data in --data):

    python3 benchmarks/ingredients_gpu.py --data .data/enwiki [--category architecture attention ...]
        [--only NAME ...] [--steps 200] [--budget 1500] [--out bench-out/ingredients]

Each variant is `remix ablate recipes/muon_baseline.toml [--drop KERNEL] --add <requirements> --add NAME`
(Recipe.plus: M's same-math kernels that conflict with NAME are dropped) with one 65,536-token row per step (the reference scripts' geometry on one GPU). Records go to --out, a remix
results store, and the figures to --out/ingredients_gpu.json, by call, after every run. A variant some
earlier call measured there is kept, not trained again, so a list too long for one session's device time
is finished by running the same command again with the same --out (carried to the GPU and back). Each
call measures plain M first, again: a variant is compared with the M of its own call, since one GPU's
speed moves by about 1% from call to call. The loop stops before a variant it would not have time to
finish (the slowest run so far is the estimate). Prints one table per call, and for runs with stages or
window changes their ms/step per phase and the graphs compiled.

Compilation is most of a 200-step run's wall time (on one H200, M: ~117 s of which ~28 s train). With
--prime N the variants are first trained for a few steps into a scratch store, N processes at a time:
that compiles every graph they need into the inductor cache (TORCHINDUCTOR_CACHE_DIR), and nothing is
measured. The measured runs then follow one at a time, alone on the GPU, and load their graphs from the
cache. Primed runs compute what unprimed ones do; only their wall time shrinks. A call primes only as many
variants as its budget can measure (by the H200's figures below): the cache does not outlive the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

M = "recipes/muon_baseline.toml"
ROW = 65536


def variants(categories: list[str] | None, only: list[str] | None) -> list[tuple[str, list[str]]]:
    """(name, the `remix ablate` options that make M plus it) for every catalogue ingredient M lacks: its
    requirements added first, and M's same-math ingredients it conflicts with dropped (Recipe.plus)."""
    from remix.ingredient import catalogue
    from remix.recipe import RecipeError, load_recipe
    cat, m = catalogue(), load_recipe(ROOT / M)
    names = list(only or [])
    if categories or not names:   # --only first, then the categories' (every ingredient with neither)
        names += [n for n in sorted(cat) if n not in m.names and n not in names
                  and (not categories or cat[n].category in categories)]
    out = []
    for n in names:
        try:
            v = m.plus(n)
        except RecipeError as e:   # a name unknown or already in M: said before any device time is spent
            raise SystemExit(f"--only {n}: {e}") from None
        out.append((n, [x for d in m.names if d not in v.names for x in ("--drop", d)]
                    + [x for a in v.names if a not in m.names for x in ("--add", a)]))
    return out


def command(changes: list[str], args: argparse.Namespace, steps: int, out: Path) -> list[str]:
    """The `remix` command line of one variant (plain M when it has no --drop/--add options). It always
    trains (--force): the book of calls, not the results store, says what is measured already."""
    cmd = [sys.executable, "-m", "remix", "ablate" if changes else "run", M, "--steps", str(steps),
           "--out", str(out), "--quiet", "--force"]
    if args.tiny:   # a check of this script on a CPU
        cmd += ["--scale", "tiny", "--device", "cpu"]
    else:
        cmd += ["--set", f"train.tokens_per_step={ROW}", "--set", f"eval.every={args.val_every}",
                "--set", f"eval.tokens={args.val_tokens}", "--set", f"data.source='{args.data}'"]
    return cmd + changes


# What a call costs on one H200 (benchmarks/results/h200_2026-12-02c): a primed 200-step run measures in
# 50-60 s; four runs primed side by side take about 100 s.
MEASURED_S, PRIME_WAVE_S = 60.0, 100.0


def affordable(budget: float, parallel: int) -> int:
    """How many runs (plain M first) one call can prime and then measure within `budget` seconds."""
    k = 0
    while -(-(k + 1) // parallel) * PRIME_WAVE_S + (k + 1) * MEASURED_S <= budget:
        k += 1
    return k


# Enough steps that the warm-up of a primed run visits every stage boundary, as the measured run's does
# (boundaries are fractions of the run), and fewer than a measured run's first validation.
PRIME_STEPS = 12


def prime(todo: list[tuple[str, list[str]]], args: argparse.Namespace) -> dict[str, float | None]:
    """Compiles each variant's graphs into the cache, `args.prime` runs at a time; {name: wall s}, None
    where the run failed (its measured run then compiles from scratch, nothing else changes)."""
    from concurrent.futures import ThreadPoolExecutor
    env = {**os.environ, "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}   # N runs share the memory

    def one(item: tuple[str, list[str]]) -> float | None:
        t0 = time.time()
        cmd = command(item[1], args, PRIME_STEPS, args.out / "primed")
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
        if proc.returncode != 0:   # said now: its measured run will fail the same way or compile from scratch
            why = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            print(f"priming {item[0]} failed (exit {proc.returncode}): {why[0]}", flush=True)
            return None
        return round(time.time() - t0, 1)

    t0 = time.time()
    with ThreadPoolExecutor(args.prime) as pool:
        walls = dict(zip((n for n, _ in todo), pool.map(one, todo)))
    print(f"primed {len(todo)} variant(s), {args.prime} at a time, in {time.time() - t0:.0f} s: "
          + ", ".join(f"{n} failed" if w is None else f"{n} {w:.0f} s" for n, w in walls.items()), flush=True)
    return walls


def train(changes: list[str], args: argparse.Namespace) -> dict:
    cmd = command(changes, args, args.steps, args.out)
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    row = {"wall_s": round(time.time() - t0, 1), "exit": proc.returncode}
    line = next((x for x in reversed(proc.stdout.splitlines()) if "->" in x), "")
    record = Path(line.rsplit("-> ", 1)[1].strip()) if "-> " in line else None
    if record is None or not record.is_file():
        row["error"] = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no record"]
        return row
    d = json.loads(record.read_text())
    row.update(status=d["status"], ms_per_step=d.get("ms_per_step"), peak_mib=d.get("peak_memory_mib"),
               val={p["step"]: p["val_loss"] for p in d["curve"] if p["val_loss"] is not None},
               compilations=d.get("compilations"), segments=d.get("segments", []))
    return row


def settings(args: argparse.Namespace) -> dict:
    """What a measurement depends on besides the variant: a variant is kept only under the same settings.
    M's math is one of them (its ingredients less the same-math kernels it closes with): a new ingredient
    in M measures every variant again; a kernel appended to M does not (each Δ is against its call's M,
    and the call records which M that was)."""
    from remix.recipe import load_recipe
    return {"steps": args.steps, "val_every": args.val_every, "val_tokens": args.val_tokens, "row": ROW,
            "data": args.data.name, "tiny": args.tiny, "m_math": load_recipe(ROOT / M).without_kernels().names}


def load_book(path: Path) -> dict[str, dict]:
    """{call: {"settings": …, "rows": {name: row}}} of the calls before this one."""
    if not path.is_file():
        return {}

    def ints(row: dict) -> dict:   # JSON keeps the validation steps as strings
        return {**row, "val": {int(k): v for k, v in row["val"].items()}} if "val" in row else row
    return {call: {**c, "rows": {name: ints(row) for name, row in c["rows"].items()}}
            for call, c in json.loads(path.read_text())["calls"].items()}


def measured(book: dict[str, dict], now: dict) -> set[str]:
    """The variants (not M) finished in a call under the settings `now` whose M finished too (a Δ needs it)."""
    done = set()
    for call in book.values():
        rows = call["rows"]
        if call["settings"] == now and rows.get("M", {}).get("status") == "finished":
            done |= {n for n, r in rows.items() if n != "M" and r.get("status") == "finished"}
    return done


def save(book: dict[str, dict], path: Path) -> None:
    from remix.atomic import atomic_open   # (which makes the folder)
    with atomic_open(path) as f:   # a call killed mid-write leaves the previous book, not half of this one
        f.write(json.dumps({"calls": book}, indent=1))


def table(book: dict[str, dict[str, dict]]) -> None:
    """One block per call: each variant against the M measured in the same call (calls differ by ~1%)."""
    nan = float("nan")
    print(f"\n{'variant':<28} {'ms/step':>8} {'Δ ms':>7} {'val@100':>8} {'val@200':>8} {'Δ val':>7}")
    for call, c in book.items():
        print(f"call {call}")
        rows = c["rows"]
        m = rows.get("M", {})
        for name, r in rows.items():
            if "val" not in r:
                print(f"{name:<28} {'failed: ' + ' '.join(r.get('error', [])):>40}")
                continue
            last = max(r["val"])
            dms = r["ms_per_step"] - m["ms_per_step"] if "ms_per_step" in m else nan
            dval = r["val"][last] - m.get("val", {}).get(last, nan)
            print(f"{name:<28} {r['ms_per_step']:>8.1f} {dms:>+7.1f} {r['val'].get(100, nan):>8.4f} "
                  f"{r['val'].get(200, nan):>8.4f} {dval:>+7.4f}")
    staged = {(c, n): r for c, call in book.items() for n, r in call["rows"].items()
              if len(r.get("segments", [])) > len(r.get("val", {})) - 1}
    if staged:   # runs with stages, windows or events: the clock per segment between their boundaries
        print(f"\n{'variant':<28} {'graphs':>6}  ms/step by segment (start-end)")
        for (_, name), r in staged.items():
            parts = "  ".join(f"{s['start']}-{s['end']}: {s['ms_per_step']:.1f}" for s in r["segments"])
            print(f"{name:<28} {r.get('compilations') or 0:>6}  {parts}")


def measure(todo: list[tuple[str, list[str]]], book: dict, path: Path, args: argparse.Namespace) -> None:
    """One call: plain M, then each variant, into the book's last call, saved after every run."""
    start, slowest, rows = time.time(), 0.0, list(book.values())[-1]["rows"]
    primed = {}
    if args.prime > 0:   # prime no more than this call can measure: the cache does not outlive the machine
        fits = affordable(args.budget, args.prime)
        if fits < len(todo):
            print(f"this call can prime and measure {fits} run(s) in {args.budget:.0f} s: "
                  f"{len(todo) - fits} variant(s) wait for the next call")
        todo, slowest = todo[:fits], MEASURED_S
        primed = prime(todo, args) if todo else {}
    for name, changes in todo:
        left = args.budget - (time.time() - start)
        if left < slowest * 1.1:
            print(f"stopping before {name}: {left:.0f} s left, the slowest run took {slowest:.0f} s "
                  f"(run the same command again to go on)")
            break
        rows[name] = train(changes, args)   # M again in every call: each Δ compares runs of one call
        if name in primed:
            rows[name]["primed_s"] = primed[name]
        slowest = max(slowest, rows[name]["wall_s"])
        print(name, json.dumps(rows[name]), flush=True)
        save(book, path)   # after every run: a call cut short keeps what finished
        if name == "M" and rows[name].get("status") != "finished":
            print("plain M did not finish: nothing in this call could be compared with it; stopping")
            break


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path(".data/enwiki"))
    p.add_argument("--category", nargs="*")
    p.add_argument("--only", nargs="*")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--val-every", type=int, default=100)
    p.add_argument("--val-tokens", type=int, default=2097152)
    p.add_argument("--budget", type=float, default=1500, help="seconds this call may spend")
    p.add_argument("--out", type=Path, default=Path("bench-out/ingredients"))
    p.add_argument("--prime", type=int, default=0, metavar="N",
                   help="first compile the graphs of the variants this call can measure into the cache, N "
                        "processes at a time")
    p.add_argument("--tiny", action="store_true", help="check the script on a CPU at tiny scale")
    args = p.parse_args()
    args.data = args.data.resolve()
    path = args.out / "ingredients_gpu.json"
    book, now = load_book(path), settings(args)
    done = measured(book, now)
    todo = [v for v in variants(args.category, args.only) if v[0] not in done]
    if done:
        print(f"{len(done)} variant(s) measured by earlier calls with these settings are kept ({path})")
    if todo:
        from remix.recipe import load_recipe
        book[time.strftime("%Y-%m-%d %H:%M:%S")] = {"settings": now, "m": load_recipe(ROOT / M).names, "rows": {}}
        measure([("M", []), *todo], book, path, args)
    table(book)


if __name__ == "__main__":
    main()
