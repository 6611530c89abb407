"""Benchmark: `remix report` over 1,000 run records must take under 5 s.

Writes ~1,000 synthetic records (reports/synthetic.py: three recipes of 22 ingredients, a prefix sweep
and a leave-one-out sweep of each, 10 seeds (1,030 records), each with its slope run; curves of 11 points) to a temp
directory, then times loading, analysis, figures and the Markdown separately, and the whole
`build_report` the CLI calls (without the speedrun-history figure, which reads no records; its cost is
printed on its own).

    python benchmarks/report_1000.py [--seeds 10] [--keep DIR]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from remix.results import ResultStore  # noqa: E402
from reports import synthetic  # noqa: E402

BUDGET_S = 5.0


def make_records(root: Path, seeds: int) -> int:
    shared = [f"ing{i:02d}" for i in range(1, 21)]
    recipes = {"adamw_like": shared + ["tuned_adamw", "ing21"], "muon_like": shared + ["muon", "ing22"],
               "mixed": shared[:10] + ["muon"] + shared[10:] + ["ing23"]}
    store = ResultStore(root)
    for name, ingredients in recipes.items():
        for kind in ("prefixes", "each"):
            synthetic.write_sweep(store, name, kind, seeds, 2500, ingredients)
    return sum(1 for _ in root.glob("*.json"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="remix-bench-"))
    n = make_records(root / "results", args.seeds)
    print(f"{n} records in {root / 'results'}")

    t0 = time.perf_counter()
    import matplotlib.pyplot  # noqa: F401  (imported by the report; timed apart for clarity)
    from reports.analysis import analyse
    from reports.build import build_report
    from reports.load import load_records
    t_import = time.perf_counter() - t0

    t0 = time.perf_counter()
    loaded = load_records(root / "results")
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    analyse(loaded)
    t_analyse = time.perf_counter() - t0

    t0, c0 = time.perf_counter(), _cpu()
    rep = build_report(root / "results", root / "report", history=False)
    t_build, c_build = time.perf_counter() - t0, _cpu() - c0
    figures = sum(1 for p in rep.files if p.suffix == ".png")

    t0 = time.perf_counter()
    hist = build_report(root / "results", root / "report-h", history=True)
    t_hist = time.perf_counter() - t0 - t_build

    print(f"imports (matplotlib, pandas, scipy)  {t_import:6.2f} s")
    print(f"load {len(loaded.runs):5d} records              {t_load:6.2f} s")
    print(f"analyse (time-to-target, stats)      {t_analyse:6.2f} s")
    print(f"build_report: {figures} figures ×2 + md  {t_build:6.2f} s  (CPU {c_build:.2f} s; includes load and analyse)")
    print(f"  + speedrun-history figure          {t_hist:+6.2f} s  ({'made' if len(hist.files) > len(rep.files) else 'absent'})")
    total = t_import + t_build
    verdict = "OK" if total < BUDGET_S else "OVER BUDGET"
    print(f"total as the CLI pays it             {total:6.2f} s  (budget {BUDGET_S:.0f} s: {verdict})")
    if verdict != "OK" and c_build < BUDGET_S:
        print("  (CPU time is within budget: this machine is busy; wall time counts waiting for a core)")


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the figure workers)."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


if __name__ == "__main__":
    main()
