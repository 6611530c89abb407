"""From run rows to the report's tables: time-to-target per variant, marginal times, leave-one-out,
optimizer × architecture interaction, recipes side by side.

All comparisons stay inside one *context* (hardware, data, target): a time measured on a CPU and one on
8×H100 are never subtracted. Within a recipe, a variant's runs at several step counts and seeds are
pooled per seed into a time-to-target (remix.ttt), then summarised over seeds (remix.stats).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from remix import stats, ttt
from reports.load import Loaded


@dataclass
class Tables:
    seeds: pd.DataFrame          # one row per (context, recipe, vkey, seed): the time-to-target estimate
    variants: pd.DataFrame       # one row per (context, recipe, vkey): summary over seeds
    marginal: pd.DataFrame       # one row per (context, recipe, prefix index ≥ 1)
    leave_one_out: pd.DataFrame  # one row per (context, recipe, dropped ingredient)
    interaction: pd.DataFrame    # one row per (context, ingredient, recipe) with a marginal effect
    recipes: pd.DataFrame        # one row per (context, bar): base and each recipe's full variant


def member_runs(loaded: Loaded) -> pd.DataFrame:
    """Members joined with their run's numbers and status (unfinished runs are kept: a variant whose
    runs diverged or are still running is listed as such, not silently dropped)."""
    runs = loaded.runs
    if not len(runs) or not len(loaded.members):
        return pd.DataFrame(columns=[*loaded.members.columns, "context", "seed", "steps", "final_val_loss",
                                     "ms_per_step", "target", "status"])
    cols = ["context", "seed", "steps", "final_val_loss", "ms_per_step", "target", "status"]
    df = loaded.members.merge(runs[cols].reset_index(drop=True).assign(identity=runs.identity.values),
                              on="identity", how="inner")
    return df


def _done(r: Any) -> bool:
    return r.status == "finished" and not pd.isna(r.final_val_loss)


def _main_steps(rows: list[Any]) -> int:
    """The step count a variant was planned at (not its slope or search runs): the most common one."""
    planned = [r.steps for r in rows if r.role == "variant"] or [r.steps for r in rows]
    counts: dict[int, int] = {}
    for s in planned:
        counts[int(s)] = counts.get(int(s), 0) + 1
    return min(counts, key=lambda s: (-counts[s], s))


def _points(rows: list[Any]) -> list[ttt.Point]:
    return [ttt.Point(int(r.steps), float(r.final_val_loss), None if pd.isna(r.ms_per_step) else float(r.ms_per_step))
            for r in rows]


def seed_estimates(df: pd.DataFrame) -> pd.DataFrame:
    # plain dicts, not pandas groupby: thousands of tiny groups are where pandas is slow
    groups: dict[tuple[str, str], dict[str, list[Any]]] = {}
    for r in df.itertuples(index=False):
        groups.setdefault((r.context, r.recipe), {}).setdefault(r.vkey, []).append(r)
    rows: list[dict[str, Any]] = []
    for (context, recipe) in sorted(groups):
        every = groups[(context, recipe)]
        per_variant = {k: [r for r in rs if _done(r)] for k, rs in every.items()}
        target = float(next(iter(every.values()))[0].target)
        slope, slope_from = _borrowable_slope({k: rs for k, rs in per_variant.items() if rs}, target)
        for vkey, vrows in per_variant.items():
            main = _main_steps(every[vkey])
            unfinished = [r for r in every[vkey] if not _done(r)]
            done_seeds = {int(r.seed) for r in vrows}
            for seed in sorted({int(r.seed) for r in unfinished} - done_seeds):
                rows.append(_unfinished_row(context, recipe, vkey, seed, main, target,
                                            [r for r in unfinished if int(r.seed) == seed]))
            if not vrows:
                continue
            at_main = [r.final_val_loss for r in vrows if r.steps == main]
            noise = float(np.std(at_main, ddof=1)) if len({r.seed for r in vrows if r.steps == main}) >= 2 else None
            first = vrows[0]
            by_seed: dict[int, list[Any]] = {}
            for r in vrows:
                by_seed.setdefault(int(r.seed), []).append(r)
            for seed in sorted(by_seed):
                srows = by_seed[seed]
                pts = _points(srows)
                est = ttt.estimate(pts, target, slope, slope_from, noise=noise)
                main_loss = [r.final_val_loss for r in srows if r.steps == main]
                br = ttt.bracket(pts, target)
                rows.append({
                    "context": context, "recipe": recipe, "vkey": vkey, "label": first.label, "vkind": first.vkind,
                    "vindex": first.vindex, "ingredient": first.ingredient, "seed": seed, "main_steps": main,
                    "main_loss": float(np.mean(main_loss)) if main_loss else math.nan,
                    "step_counts": len({r.steps for r in srows}), "mode": est.mode,
                    "bracket": (br[1].steps - br[0].steps) / br[1].steps if br and est.mode == ttt.EXACT else None,
                    "steps_to_target": est.steps, "steps_lo": est.steps_lo, "steps_hi": est.steps_hi,
                    "ms_per_step": est.ms_per_step, "time_s": _s(est.time_ms), "time_lo_s": _s(est.time_lo_ms),
                    "time_hi_s": _s(est.time_hi_ms), "slope_per_100": None if est.slope is None else est.slope * 100,
                    "slope_from": est.slope_from, "note": est.note, "target": target,
                    "identities": tuple(sorted(r.identity for r in srows))})
    return pd.DataFrame(rows)


def _unfinished_row(context: str, recipe: str, vkey: str, seed: int, main: int, target: float,
                    rows: list[Any]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[str(r.status)] = counts.get(str(r.status), 0) + 1
    first = rows[0]
    return {"context": context, "recipe": recipe, "vkey": vkey, "label": first.label, "vkind": first.vkind,
            "vindex": first.vindex, "ingredient": first.ingredient, "seed": seed, "main_steps": main,
            "main_loss": math.nan, "step_counts": 0, "mode": ttt.NONE, "bracket": None, "steps_to_target": None,
            "steps_lo": None, "steps_hi": None, "ms_per_step": None, "time_s": None, "time_lo_s": None,
            "time_hi_s": None, "slope_per_100": None, "slope_from": "", "target": target,
            "note": "no finished run: " + ", ".join(f"{n} {st}" for st, n in sorted(counts.items())),
            "identities": tuple(sorted(r.identity for r in rows))}


def _s(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000.0


def _borrowable_slope(per_variant: dict[str, list[Any]], target: float) -> tuple[float | None, str]:
    """The recipe's measured local slope for variants run at one step count: the full recipe's (its
    slope run) if it has one, else the variant whose losses lie nearest the target."""
    found = []
    for vkey, vrows in per_variant.items():
        by_seed: dict[int, list[Any]] = {}
        for r in vrows:
            by_seed.setdefault(int(r.seed), []).append(r)
        slopes = [s for s in (ttt.local_slope(_points(rs), near=target) for rs in by_seed.values()) if s is not None]
        if slopes:
            gap = abs(float(np.mean([r.final_val_loss for r in vrows])) - target)
            found.append((vkey != "full", gap, float(np.mean(slopes)), str(vrows[0].label)))
    if not found:
        return None, ""
    _, _, slope, label = min(found)
    return slope, label


def variant_summary(seeds: pd.DataFrame) -> pd.DataFrame:
    rows = []
    if not len(seeds):
        return pd.DataFrame()
    for (context, recipe, vkey), g in seeds.groupby(["context", "recipe", "vkey"], sort=False):
        t = stats.mean_interval(g.time_s)
        l = stats.mean_interval(g.main_loss)
        steps = stats.mean_interval(g.steps_to_target)
        modes = sorted(set(g["mode"]))
        one = g.iloc[0]
        brackets = [b for b in g.bracket if b is not None and not pd.isna(b)]
        rows.append({
            "context": context, "recipe": recipe, "vkey": vkey, "label": one.label, "vkind": one.vkind,
            "vindex": one.vindex, "ingredient": one.ingredient, "n_seeds": len(g), "main_steps": one.main_steps,
            "loss": l.mean, "loss_hw": l.half_width, "steps_to_target": steps.mean, "time_s": t.mean,
            "time_hw_s": t.half_width, "n_timed": t.n,
            # a single seed's interval can only come from the fit; with seeds the spread over seeds rules
            "time_lo_s": one.time_lo_s if len(g) == 1 else t.lo, "time_hi_s": one.time_hi_s if len(g) == 1 else t.hi,
            "ms_per_step": float(np.nanmean(g.ms_per_step.astype(float))) if g.ms_per_step.notna().any() else None,
            "mode": "/".join(modes), "bracket": max(brackets) if brackets else None,
            "slope_from": ", ".join(sorted({s for s in g.slope_from if s})),
            "note": "; ".join(sorted({n for n in g.note if n})),
            "times": [x for x in g.time_s if x is not None and not pd.isna(x)],
            "losses": [x for x in g.main_loss if not pd.isna(x)],
            "identities": frozenset(i for ids in g.identities for i in ids),
        })
    return pd.DataFrame(rows)


def marginal_table(variants: pd.DataFrame) -> pd.DataFrame:
    """Δ along each recipe's order: prefix k against prefix k−1 (the full recipe is the last prefix)."""
    rows = []
    if not len(variants):
        return pd.DataFrame()
    for (context, recipe), g in variants.groupby(["context", "recipe"], sort=False):
        prefixes = g[g.vindex.notna() & (g.vkind == "prefix")].copy()
        prefixes["vindex"] = prefixes.vindex.astype(int)
        prefixes = prefixes.sort_values("vindex")
        by_index = {int(r.vindex): r for r in prefixes.itertuples()}
        metric = "time" if all(len(r.times) for r in by_index.values()) else "loss"
        for k, cur in by_index.items():
            if k == 0 or (k - 1) not in by_index:
                continue
            prev = by_index[k - 1]
            c = stats.welch(prev.times, cur.times) if metric == "time" else stats.welch(prev.losses, cur.losses)
            rows.append({"context": context, "recipe": recipe, "index": k, "ingredient": cur.ingredient,
                         "metric": metric, "before": prev.time_s if metric == "time" else prev.loss,
                         "after": cur.time_s if metric == "time" else cur.loss, "delta": c.diff,
                         "delta_hw": c.half_width, "p_value": c.p_value, "significant": c.significant,
                         "verdict": c.verdict, "mode": cur.mode, "n_seeds": min(prev.n_seeds, cur.n_seeds),
                         "steps": cur.main_steps})
    return pd.DataFrame(rows)


def leave_one_out_table(variants: pd.DataFrame) -> pd.DataFrame:
    """What removing each ingredient costs: time(recipe − X) − time(recipe), positive = X was worth it."""
    rows = []
    if not len(variants):
        return pd.DataFrame()
    for (context, recipe), g in variants.groupby(["context", "recipe"], sort=False):
        full = g[g.vkey == "full"]
        drops = g[g.vkind == "drop"]
        if not len(full) or not len(drops):
            continue
        full = full.iloc[0]
        metric = "time" if len(full.times) and all(len(t) for t in drops.times) else "loss"
        for d in drops.itertuples():
            c = stats.welch(full.times, d.times) if metric == "time" else stats.welch(full.losses, d.losses)
            rows.append({"context": context, "recipe": recipe, "ingredient": d.ingredient, "metric": metric,
                         "full": full.time_s if metric == "time" else full.loss,
                         "without": d.time_s if metric == "time" else d.loss, "cost": c.diff,
                         "cost_hw": c.half_width, "p_value": c.p_value, "significant": c.significant,
                         "verdict": c.verdict, "mode": d.mode, "n_seeds": min(full.n_seeds, d.n_seeds)})
    df = pd.DataFrame(rows)
    if len(df):
        # effects within noise are listed, not ranked: significant ones first by size, then the rest
        df["rank"] = None
        for _, g in df.groupby(["context", "recipe"]):
            sig = g[g.significant].sort_values("cost", ascending=False)
            df.loc[sig.index, "rank"] = range(1, len(sig) + 1)
        df = df.assign(_o=df["rank"].fillna(10 ** 9)).sort_values(["context", "recipe", "_o", "ingredient"])
        df = df.drop(columns="_o").reset_index(drop=True)
    return df


def interaction_table(marginal: pd.DataFrame, loo: pd.DataFrame) -> pd.DataFrame:
    """Each ingredient's effect (time with it − time without it) under every recipe that has one.
    Leave-one-out (on top of everything else in the recipe) is preferred over the prefix Δ (on top of
    what came before it in the order); the `source` column says which."""
    rows = []
    for t in ([] if not len(loo) else loo.itertuples()):
        rows.append({"context": t.context, "ingredient": t.ingredient, "recipe": t.recipe, "metric": t.metric,
                     "effect": -t.cost, "effect_hw": t.cost_hw, "verdict": t.verdict, "significant": t.significant,
                     "source": "leave-one-out", "mode": t.mode})
    have = {(r["context"], r["ingredient"], r["recipe"]) for r in rows}
    for t in ([] if not len(marginal) else marginal.itertuples()):
        if (t.context, t.ingredient, t.recipe) not in have:
            rows.append({"context": t.context, "ingredient": t.ingredient, "recipe": t.recipe, "metric": t.metric,
                         "effect": t.delta, "effect_hw": t.delta_hw, "verdict": t.verdict,
                         "significant": t.significant, "source": "prefix Δ", "mode": t.mode})
    df = pd.DataFrame(rows)
    if not len(df):
        return df
    counts = df.groupby(["context", "ingredient", "metric"]).recipe.transform("nunique")
    return df[counts >= 2].sort_values(["context", "ingredient", "recipe"]).reset_index(drop=True)


def recipes_table(variants: pd.DataFrame) -> pd.DataFrame:
    """Bars for the side-by-side plot: the base (prefix 0) and each recipe's full variant."""
    rows = []
    if not len(variants):
        return pd.DataFrame()
    for context, g in variants.groupby("context", sort=False):
        bases = g[(g.vkind == "prefix") & (g.vindex == 0)]
        unique: dict[frozenset, Any] = {}
        for b in bases.itertuples():          # two recipes' shared base is one set of runs: one bar
            unique.setdefault(b.identities, b)
        for b in unique.values():
            rows.append(_bar(context, "base" if len(unique) == 1 else f"base ({b.recipe})", b, True))
        for f in g[g.vkey == "full"].itertuples():
            rows.append(_bar(context, f.recipe, f, False))
    return pd.DataFrame(rows)


def _bar(context: str, name: str, v: Any, is_base: bool) -> dict[str, Any]:
    return {"context": context, "bar": name, "recipe": v.recipe, "is_base": is_base, "time_s": v.time_s,
            "time_lo_s": v.time_lo_s, "time_hi_s": v.time_hi_s, "n_seeds": v.n_seeds, "mode": v.mode,
            "loss": v.loss, "steps_to_target": v.steps_to_target, "main_steps": v.main_steps}


def analyse(loaded: Loaded) -> Tables:
    seeds = seed_estimates(member_runs(loaded))
    variants = variant_summary(seeds)
    marginal = marginal_table(variants)
    loo = leave_one_out_table(variants)
    return Tables(seeds, variants, marginal, loo, interaction_table(marginal, loo), recipes_table(variants))
