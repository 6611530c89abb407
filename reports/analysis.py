"""From run rows to the report's tables: time-to-target per variant, marginal times, leave-one-out,
optimizer × architecture interaction, recipes side by side.

What is pooled, and what never is:

- A *variant* is what a run trains (reports.load: the spec less its step count and seed). Every run of
  it in one context (hardware, data, target) is pooled, whichever command made it: a standalone `remix
  run` of a recipe and the last prefix of its sweep are one variant, and so are `ablate --drop rope` and
  the leave-one-out sweep's −rope. A recipe's *roles* (prefix k, the full recipe, the recipe less X) only
  say which variants to compare.
- A table compares variants at one *planned step count* S (the one most of its roles were planned at):
  a cheap estimate is anchored at the variant's runs at S, with a slope measured at S (its own runs at S
  and at most ×1.5 away, else the full recipe's, and one source for all seeds of the variant). Runs of
  the variant at other step counts join only an exact estimate, which needs a converged bracket
  (≤ ttt.EXACT_MAX_BRACKET): a 30-step and a 120-step run are two experiments, not one.
- A run that diverged, failed, is running, or is unstable (finished above the val loss it started from)
  gives no number; the variant's note says so, and a comparison with it is n/a, never an effect charged
  to the next ingredient.
- Times are summarised over seeds on the log scale (remix.stats): an interval is never a negative time.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from remix import stats, ttt
from reports.load import Loaded, role_label

@dataclass
class Tables:
    seeds: pd.DataFrame          # one row per (context, recipe, variant, steps, seed): the estimate
    variants: pd.DataFrame       # one row per (context, recipe, variant, planned steps): summary over seeds
    marginal: pd.DataFrame       # one row per (context, recipe, ingredient of its order)
    leave_one_out: pd.DataFrame  # one row per (context, recipe, dropped ingredient)
    interaction: pd.DataFrame    # one row per (context, ingredient, recipe) with a marginal effect
    recipes: pd.DataFrame        # one row per (context, bar): base and each recipe's full variant
    notes: list[str] = field(default_factory=list)
    changes: pd.DataFrame = field(default_factory=pd.DataFrame)   # one row per (context, recipe, addition or swap, steps)


@dataclass(frozen=True)
class Run:
    identity: str
    seed: int
    steps: int
    loss: float | None
    ms: float | None
    status: str
    message: str


@dataclass
class Estimate:
    """A variant's time to target at one planned step count, over its seeds."""
    variant: str
    steps: int                   # the planned steps it is anchored at (an exact estimate does not depend on them)
    mode: str
    seeds: list[dict[str, Any]]  # per-seed rows
    times: list[float]           # per-seed seconds to target (the seeds that have one)
    losses: list[float]          # per-seed final val loss at the planned steps
    time: stats.Interval
    loss: stats.Interval
    steps_to_target: float | None
    ms_per_step: float | None
    bracket: float | None
    slope_from: str
    note: str
    usable: bool                 # has a finished run with a final val loss that counts
    n_runs: int
    identities: frozenset        # the runs that went into the estimate


# --- the runs ------------------------------------------------------------------------------------

def _runs(loaded: Loaded) -> tuple[dict[str, Run], dict[tuple[str, str], list[Run]]]:
    by_id: dict[str, Run] = {}
    pools: dict[tuple[str, str], list[Run]] = {}
    for r in loaded.runs.itertuples(index=False):
        run = Run(r.identity, int(r.seed), int(r.steps), None if pd.isna(r.final_val_loss) else float(r.final_val_loss),
                  None if r.ms_per_step is None or pd.isna(r.ms_per_step) else float(r.ms_per_step), str(r.status),
                  str(r.message or ""))
        by_id[r.identity] = run
        pools.setdefault((r.context, r.variant), []).append(run)
    return by_id, pools


def _usable(r: Run) -> bool:
    return r.status == "finished" and r.loss is not None


def _issues(runs: list[Run], steps: int | None = None) -> str:
    """Why some runs give no number: '1 unstable (ends worse than it began: …); 2 diverged'; runs planned at
    another step count than `steps` say theirs ('1 interrupted at 120 steps')."""
    bad = [r for r in runs if not _usable(r)]
    if not bad:
        return ""
    parts = []
    for status in sorted({r.status for r in bad}):
        group = [r for r in bad if r.status == status]
        name = status if status != "finished" else "finished without a final val loss (NaN or missing)"
        text = f"{len(group)} {name}"
        other = sorted({r.steps for r in group if steps is not None and r.steps != steps})
        if other:
            text += " at " + ", ".join(f"{s:,}" for s in other) + " steps"
        if status == "unstable":
            text += f" ({group[0].message or 'its final val loss is above its initial one'})"
        parts.append(text)
    return "; ".join(parts)


def merge_notes(notes: dict[int, str]) -> str:
    """One note per kind for a variant's seeds, not one per seed: notes that differ only in their numbers
    become one with each number's range ('extrapolated +30% to +45% ...')."""
    groups: dict[str, list[tuple[int, str]]] = {}
    number = r"[-+−]?\d[\d,]*(?:\.\d+)?%?"
    for seed, note in sorted(notes.items()):
        if note:
            groups.setdefault(re.sub(number, "#", note), []).append((seed, note))
    out = []
    for template, items in groups.items():
        texts = list(dict.fromkeys(n for _, n in items))
        if len(texts) == 1:
            text = texts[0]
        else:
            columns = list(zip(*(re.findall(number, t) for t in texts)))
            ranges = iter(c[0] if len(set(c)) == 1 else f"{min(c, key=_num)} to {max(c, key=_num)}" for c in columns)
            text = re.sub("#", lambda _: next(ranges), template)
        seeds = [s for s, _ in items]
        out.append(text if len(seeds) == len(notes) else f"{text} (seed{'s' if len(seeds) > 1 else ''} "
                                                          f"{', '.join(map(str, seeds))})")
    return "; ".join(out)


def _num(text: str) -> float:
    return float(text.replace(",", "").replace("%", "").replace("−", "-"))


# --- one variant's estimate ------------------------------------------------------------------------

def estimate(variant: str, runs: list[Run], steps: int, target: float,
             borrow: Callable[[int], tuple[float | None, str]]) -> Estimate:
    """Time to target of one variant, anchored at `steps` (see the module's docstring for the rules)."""
    usable = [r for r in runs if _usable(r)]
    issues = _issues(runs, steps)
    by_seed: dict[int, list[Run]] = {}
    for r in usable:
        by_seed.setdefault(r.seed, []).append(r)
    points = {seed: [ttt.Point(r.steps, r.loss, r.ms) for r in rs] for seed, rs in by_seed.items()}
    at_steps = {seed: [r for r in rs if r.steps == steps] for seed, rs in by_seed.items()}
    at_steps = {seed: rs for seed, rs in at_steps.items() if rs}
    losses = {seed: float(np.mean([r.loss for r in rs])) for seed, rs in at_steps.items()}
    noise = float(np.std(list(losses.values()), ddof=1)) if len(losses) >= 2 else None
    exact = {seed: e for seed, e in ((s, ttt.exact(p, target, noise)) for s, p in points.items()) if e is not None}
    notes: dict[int, str] = {}
    if exact:
        mode, per_seed, slope_from = ttt.EXACT, exact, ""
        used = {seed: by_seed[seed] for seed in exact}
        for seed in sorted(set(points) - set(exact)):
            notes[seed] = "no converged bracket: left out of the exact estimate"
    else:
        anchors = {seed: ttt.Point(steps, losses[seed], _mean([r.ms for r in rs])) for seed, rs in at_steps.items()}
        own = {seed: s for seed, s in ((s, ttt.local_slope_at(points[s], steps)) for s in anchors) if s is not None}
        if own and set(own) == set(anchors):
            slopes, slope_from = own, "own runs"
        elif own:
            common = float(np.mean(list(own.values())))
            slopes = dict.fromkeys(anchors, common)
            slope_from = f"own runs of seed{'s' if len(own) > 1 else ''} {', '.join(map(str, sorted(own)))}"
        else:
            slope, slope_from = borrow(steps)
            slopes = dict.fromkeys(anchors, slope)
        per_seed = {seed: ttt.cheap(anchors[seed], target, slopes[seed], slope_from) for seed in anchors}
        near = (lambda r: max(r.steps, steps) / min(r.steps, steps) <= ttt.LOCAL) if own else (lambda r: r.steps == steps)
        used = {seed: [r for r in by_seed[seed] if near(r)] for seed in anchors}
        mode = ttt.CHEAP if any(e.mode == ttt.CHEAP for e in per_seed.values()) else ttt.NONE
        if not anchors:
            notes[-1] = f"no run with a final val loss at {steps:,} steps" + (f": {issues}" if issues else "")
            issues = ""
    rows = []
    for seed in sorted(per_seed):
        e = per_seed[seed]
        if e.note:
            notes[seed] = e.note
        rows.append({"seed": seed, "mode": e.mode, "steps_to_target": e.steps, "steps_lo": e.steps_lo,
                     "steps_hi": e.steps_hi, "ms_per_step": e.ms_per_step, "time_s": _s(e.time_ms),
                     "time_lo_s": _s(e.time_lo_ms), "time_hi_s": _s(e.time_hi_ms),
                     "main_loss": losses.get(seed, math.nan),
                     "slope_per_100": None if e.slope is None else e.slope * 100, "slope_from": e.slope_from,
                     "note": e.note, "identities": tuple(sorted(r.identity for r in used.get(seed, [])))})
    timed = [r for r in rows if r["mode"] != ttt.NONE and r["time_s"] is not None]
    time = stats.log_mean_interval([r["time_s"] for r in timed])
    if len(timed) == 1 and timed[0]["time_lo_s"] is not None:   # one seed: the fit's own interval
        time = stats.Interval(time.value, timed[0]["time_lo_s"], timed[0]["time_hi_s"], 1)
    widths = [ttt.bracket_width(points[s], target) for s in exact]
    note = "; ".join(n for n in (issues, merge_notes(notes)) if n)
    if mode != ttt.NONE and notes.get(-1):
        mode = ttt.NONE
    return Estimate(variant, steps, mode, rows, [r["time_s"] for r in timed], list(losses.values()), time,
                    stats.mean_lo_hi(list(losses.values())),
                    stats.log_mean_interval([r["steps_to_target"] for r in timed]).value if timed else None,
                    _mean([r["ms_per_step"] for r in timed] or [r["ms_per_step"] for r in rows]),
                    max(widths) if widths else None, slope_from if mode == ttt.CHEAP else "", note,
                    bool(usable), len(runs), frozenset(r.identity for rs in used.values() for r in rs))


def _mean(values: list[float | None]) -> float | None:
    v = [x for x in values if x is not None and not pd.isna(x)]
    return float(np.mean(v)) if v else None


def _s(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000.0


# --- one recipe in one context ---------------------------------------------------------------------

class RecipeView:
    """A recipe's roles in one context: which variant plays each, at which step counts, in what order."""

    def __init__(self, context: str, recipe: str, members: pd.DataFrame, variant_of: dict[str, str],
                 pools: dict[tuple[str, str], list[Run]], target: float, notes: list[str]):
        self.context, self.recipe, self.target, self.pools = context, recipe, target, pools
        self.members = members
        self.variant_of = variant_of
        self.notes = notes
        self.roles = self._roles()
        self.order = self._order()
        self.cache: dict[tuple[str, int], Estimate] = {}
        self.borrowed: dict[int, tuple[float | None, str]] = {}
        self._planned: dict[tuple[str, ...], int | None] = {}
        # plain tuples: these are read once per role and variant, where pandas' per-call cost adds up
        self.rows = [(m.rkey, m.rkind, m.role, int(m.planned_steps)) for m in members.itertuples(index=False)]

    def _roles(self) -> dict[str, str]:
        """role key -> variant; where one role was played by several variants (an edited recipe, a --set),
        the one with the most runs, and a note naming the others."""
        counts: dict[str, Counter] = {}
        for m in self.members.itertuples(index=False):
            if m.identity in self.variant_of:
                counts.setdefault(m.rkey, Counter())[self.variant_of[m.identity]] += 1
        roles = {}
        for rkey, c in counts.items():
            (best, n), *others = c.most_common()
            roles[rkey] = best
            if others:
                self.notes.append(f"{self.recipe} ({self.context}): '{rkey}' was run as {len(others) + 1} different "
                                  f"specs; using the one with {n} run(s), leaving out {sum(k for _, k in others)}")
        return roles

    def _order(self) -> list[str]:
        """The recipe's ingredients in order, from its prefix runs (their `last` and their ingredient lists)."""
        pre = self.members[self.members.rkind == "prefix"]
        if not len(pre):
            return []
        sizes = Counter(int(s) for s in pre.rsize.dropna())
        n = (sizes.most_common(1)[0][0] - 1) if sizes else int(pre.rindex.max())
        names: dict[int, str] = {}
        for m in pre.itertuples(index=False):
            if m.rindex is not None and not pd.isna(m.rindex) and 0 < int(m.rindex) <= n and m.ingredient:
                names.setdefault(int(m.rindex) - 1, m.ingredient)
        return [names.get(i, f"#{i + 1}") for i in range(n)]

    # -- which variant, at which steps ---------------------------------------------------------------
    def variant(self, rkey: str) -> str | None:
        """The variant playing a role; the last prefix and the full recipe stand in for each other (only
        where the recipe's order is known, i.e. a prefix sweep exists)."""
        last = f"prefix:{len(self.order)}" if self.order else None
        if rkey == "full" and "full" not in self.roles and last:
            rkey = last
        if rkey == last and rkey not in self.roles and "full" in self.roles:
            rkey = "full"
        return self.roles.get(rkey)

    def planned(self, kinds: tuple[str, ...]) -> int | None:
        """The step count most of these roles were planned at (their role-'variant' runs): the one that
        covers the most roles, then the most runs, then the larger."""
        if kinds not in self._planned:
            rows = [r for r in self.rows if r[1] in kinds and r[2] == "variant"] or \
                [r for r in self.rows if r[1] in kinds]
            roles: dict[int, set] = {}
            runs: Counter = Counter()
            for rkey, _, _, steps in rows:
                roles.setdefault(steps, set()).add(rkey)
                runs[steps] += 1
            self._planned[kinds] = max(roles, key=lambda s: (len(roles[s]), runs[s], s)) if roles else None
        return self._planned[kinds]

    def planned_steps(self, rkey: str) -> list[int]:
        """Every step count this role was planned at."""
        return sorted({steps for key, _, role, steps in self.rows if key == rkey and role == "variant"})

    def estimate(self, variant: str, steps: int) -> Estimate:
        key = (variant, steps)
        if key not in self.cache:
            self.cache[key] = estimate(variant, self.pools.get((self.context, variant), []), steps, self.target,
                                       self.borrow)
        return self.cache[key]

    def borrow(self, steps: int) -> tuple[float | None, str]:
        """The recipe's measured local slope at `steps`: the full recipe's (its slope run), else the role
        variant with one whose loss lies nearest the target."""
        if steps not in self.borrowed:
            self.borrowed[steps] = self._borrow(steps)
        return self.borrowed[steps]

    def _borrow(self, steps: int) -> tuple[float | None, str]:
        found = []
        for rkey, variant in self.roles.items():
            runs = [r for r in self.pools.get((self.context, variant), []) if _usable(r)]
            by_seed: dict[int, list[ttt.Point]] = {}
            for r in runs:
                by_seed.setdefault(r.seed, []).append(ttt.Point(r.steps, r.loss, r.ms))
            slopes = [s for s in (ttt.local_slope_at(p, steps) for p in by_seed.values()) if s is not None]
            if slopes:
                gap = abs(float(np.mean([r.loss for r in runs if r.steps == steps])) - self.target)
                is_full = variant == self.variant("full")
                found.append((not is_full, gap, rkey, float(np.mean(slopes)), self.label(variant)))
        if not found:
            return None, ""
        *_, slope, label = min(found)
        return slope, label

    def label(self, variant: str) -> str:
        """What the variant is called in this recipe: every role it plays, e.g. '+fused_softcap_ce = muon_baseline'."""
        labels = []
        for rkey, v in self.roles.items():
            if v == variant:
                kind, _, rest = rkey.partition(":")
                index = int(rest) if kind == "prefix" and rest.isdigit() else None
                size = len(self.order) + 1 if index is not None else None
                ingredient = self.order[index - 1] if index and index <= len(self.order) else rest
                labels.append(role_label(self.recipe, rkey, ingredient, index, size))
        return " = ".join(dict.fromkeys(sorted(labels, key=_label_order))) or variant[:8]

    def index(self, variant: str) -> int | None:
        ks = [int(k.split(":")[1]) for k, v in self.roles.items() if v == variant and k.startswith("prefix:")
              and k.split(":")[1].isdigit()]
        return min(ks) if ks else None


def _label_order(label: str) -> tuple[int, str]:
    return (0 if label.startswith("+") or label == "base" else 1 if label.startswith("−") else 2, label)


# --- the tables ----------------------------------------------------------------------------------

def _variant_row(view: RecipeView, e: Estimate) -> dict[str, Any]:
    return {"context": view.context, "recipe": view.recipe, "variant": e.variant, "label": view.label(e.variant),
            "vindex": view.index(e.variant), "main_steps": e.steps, "n_runs": e.n_runs,
            "n_seeds": len(e.seeds), "loss": e.loss.value if e.loss.n else math.nan, "loss_lo": e.loss.lo,
            "loss_hi": e.loss.hi, "steps_to_target": e.steps_to_target,
            "time_s": e.time.value if e.time.n else None, "time_lo_s": e.time.lo, "time_hi_s": e.time.hi,
            "n_timed": e.time.n, "ms_per_step": e.ms_per_step, "mode": e.mode, "bracket": e.bracket,
            "slope_from": e.slope_from, "note": e.note, "usable": e.usable, "times": e.times,
            "losses": e.losses, "identities": e.identities, "runs": " ".join(sorted(e.identities))}


def _metric(estimates: list[Estimate]) -> str:
    """Time when every variant that has a finished run at the planned steps has a time to target."""
    counted = [e for e in estimates if e is not None and e.losses]
    return "time" if counted and all(e.times for e in counted) else "loss"


def _missing(e: Estimate | None, metric: str, name: str) -> str:
    """Why a side of a comparison has no number ('' when it has one)."""
    if e is None:
        return f"n/a: {name} was not run"
    if e.times if metric == "time" else e.losses:
        return ""
    return f"n/a: {name}: " + (e.note or f"no {'time to target' if metric == 'time' else 'final val loss'}")


def _effect(before: Estimate | None, after: Estimate | None, metric: str, names: tuple[str, str]) -> dict[str, Any]:
    """The comparison columns of a marginal / leave-one-out row, or n/a with the reason."""
    why = _missing(before, metric, names[0]) or _missing(after, metric, names[1])
    if why:
        return {"before": None if before is None else _value(before, metric),
                "after": None if after is None else _value(after, metric), "delta": None, "delta_lo": None,
                "delta_hi": None, "ratio": None, "ratio_lo": None, "ratio_hi": None, "p_value": None,
                "significant": False, "verdict": why}
    c = stats.time_effect(before.times, after.times) if metric == "time" else \
        stats.loss_effect(before.losses, after.losses)
    return {"before": _value(before, metric), "after": _value(after, metric), "delta": c.diff, "delta_lo": c.lo,
            "delta_hi": c.hi, "ratio": c.ratio, "ratio_lo": c.ratio_lo, "ratio_hi": c.ratio_hi,
            "p_value": c.p_value, "significant": c.significant, "verdict": c.verdict}


def _value(e: Estimate, metric: str) -> float | None:
    if metric == "time":
        return e.time.value if e.time.n else None
    return e.loss.value if e.loss.n else None


def _marginal(view: RecipeView) -> tuple[list[dict], list[Estimate]]:
    if not view.order:
        return [], []
    steps = view.planned(("prefix",))
    chain = [None if view.variant(f"prefix:{k}") is None else view.estimate(view.variant(f"prefix:{k}"), steps)
             for k in range(len(view.order) + 1)]
    metric = _metric(chain)
    rows = []
    for k, name in enumerate(view.order, 1):
        prev, cur = chain[k - 1], chain[k]
        names = (view.label(prev.variant) if prev else f"prefix {k - 1}", view.label(cur.variant) if cur else f"+{name}")
        effect = _effect(prev, cur, metric, names)
        if prev is not None and cur is not None and prev.variant == cur.variant:
            effect["verdict"] = "no effect here: the same spec as the prefix before (at this scale)"
        elif _same_math(name):
            effect["verdict"] += ("; same math: what it is worth is time, on hardware that runs its kernel "
                                  "(the records' kernels say which ran)")
        rows.append({"context": view.context, "recipe": view.recipe, "index": k, "ingredient": name, "metric": metric,
                     **effect, "mode": cur.mode if cur else ttt.NONE,
                     "before_variant": prev.variant if prev else None, "after_variant": cur.variant if cur else None,
                     "n_seeds": min(len(prev.seeds) if prev else 0, len(cur.seeds) if cur else 0), "steps": steps})
    return rows, [e for e in chain if e is not None]


def _same_math(name: str) -> bool:
    """Whether the catalogue calls the ingredient math-equivalent (False for a name it no longer has)."""
    from remix.ingredient import catalogue
    ing = catalogue().get(name)
    return bool(ing and ing.math_equivalent)


def _leave_one_out(view: RecipeView) -> tuple[list[dict], list[Estimate]]:
    # a swap (`--drop a --add b`, "drop:a+b") leaves nothing out on its own: not a leave-one-out row
    drops = sorted({m.rkey for m in view.members.itertuples(index=False) if m.rkind == "drop" and "+" not in m.rkey})
    full_variant = view.variant("full")
    if not drops or full_variant is None:
        return [], []
    steps = view.planned(("drop",))
    full = view.estimate(full_variant, steps)
    without = {d: view.estimate(view.roles[d], steps) for d in drops if d in view.roles}
    metric = _metric([full, *without.values()])
    rows = []
    for d in drops:
        e = without.get(d)
        name = d.split(":", 1)[1]
        effect = _effect(full, e, metric, (view.recipe, f"−{name}"))
        rows.append({"context": view.context, "recipe": view.recipe, "ingredient": name, "metric": metric,
                     "full": effect.pop("before"), "without": effect.pop("after"), "cost": effect.pop("delta"),
                     "cost_lo": effect.pop("delta_lo"), "cost_hi": effect.pop("delta_hi"), **effect,
                     "mode": e.mode if e else ttt.NONE, "n_seeds": min(len(full.seeds), len(e.seeds) if e else 0),
                     "steps": steps, "full_variant": full.variant, "without_variant": e.variant if e else None})
    return rows, [full, *without.values()]


def _changes(view: RecipeView) -> tuple[list[dict], list[Estimate]]:
    """What each addition (`ablate --add`) or swap (`--drop a --add b`) does to the full recipe, at each
    step count the variant was run at: its value minus the full recipe's (negative: faster / lower)."""
    full_variant = view.variant("full")
    keys = sorted(k for k in view.roles if k.startswith("add:") or (k.startswith("drop:") and "+" in k))
    rows, compared = [], []
    for rkey in keys:
        for steps in view.planned_steps(rkey):
            full = None if full_variant is None else view.estimate(full_variant, steps)
            e = view.estimate(view.roles[rkey], steps)
            metric = _metric([x for x in (full, e) if x is not None])
            label = view.label(e.variant)
            effect = _effect(full, e, metric, (view.recipe, label))
            rows.append({"context": view.context, "recipe": view.recipe, "change": label, "metric": metric,
                         "full": effect.pop("before"), "changed": effect.pop("after"), **effect,
                         "mode": e.mode, "n_seeds": min(len(full.seeds) if full else 0, len(e.seeds)),
                         "steps": steps, "full_variant": full_variant, "changed_variant": e.variant})
            compared += [x for x in (full, e) if x is not None]
    return rows, compared


def _rank(df: pd.DataFrame) -> pd.DataFrame:
    """Effects within noise are listed, not ranked: significant ones first by size, then the rest."""
    if not len(df):
        return df
    df["rank"] = None
    for _, g in df.groupby(["context", "recipe"]):
        sig = g[g.significant].sort_values("cost", ascending=False)
        df.loc[sig.index, "rank"] = range(1, len(sig) + 1)
    df = df.assign(_o=df["rank"].fillna(10 ** 9)).sort_values(["context", "recipe", "_o", "ingredient"])
    return df.drop(columns="_o").reset_index(drop=True)


def interaction_table(marginal: pd.DataFrame, loo: pd.DataFrame) -> pd.DataFrame:
    """Each ingredient's effect (time with it − time without it) under every recipe that has one.
    Leave-one-out (on top of everything else in the recipe) is preferred over the prefix Δ (on top of
    what came before it in the order); the `source` column says which."""
    rows = []
    for t in ([] if not len(loo) else loo.itertuples()):
        if t.cost is None or pd.isna(t.cost):
            continue
        rows.append({"context": t.context, "ingredient": t.ingredient, "recipe": t.recipe, "metric": t.metric,
                     "effect": -t.cost, "effect_lo": None if t.cost_hi is None or pd.isna(t.cost_hi) else -t.cost_hi,
                     "effect_hi": None if t.cost_lo is None or pd.isna(t.cost_lo) else -t.cost_lo,
                     "verdict": t.verdict, "significant": t.significant, "source": "leave-one-out", "mode": t.mode})
    have = {(r["context"], r["ingredient"], r["recipe"]) for r in rows}
    for t in ([] if not len(marginal) else marginal.itertuples()):
        if (t.context, t.ingredient, t.recipe) not in have and t.delta is not None and not pd.isna(t.delta):
            rows.append({"context": t.context, "ingredient": t.ingredient, "recipe": t.recipe, "metric": t.metric,
                         "effect": t.delta, "effect_lo": t.delta_lo, "effect_hi": t.delta_hi, "verdict": t.verdict,
                         "significant": t.significant, "source": "prefix Δ", "mode": t.mode})
    df = pd.DataFrame(rows)
    if not len(df):
        return df
    counts = df.groupby(["context", "ingredient", "metric"]).recipe.transform("nunique")
    return df[counts >= 2].sort_values(["context", "ingredient", "recipe"]).reset_index(drop=True)


def _bars(views: list[RecipeView]) -> list[dict]:
    """The base (prefix 0) and each recipe's full variant, at the steps of its prefix chain (else of its
    full runs); two recipes' shared base (one variant at one step count) is one bar, estimated as in the
    first recipe (a cheap estimate's borrowed slope is that recipe's; its mode says so)."""
    rows, bases = [], {}
    for view in views:
        steps = view.planned(("prefix",)) or view.planned(("full", "prefix")) or 0
        base = view.variant("prefix:0")
        if base is not None:
            e = view.estimate(base, steps)
            bases.setdefault((e.variant, e.steps), (view, e))
        full = view.variant("full")
        if full is not None:
            rows.append(_bar(view, view.recipe, view.estimate(full, steps), False))
    shared = len(bases) == 1
    return [_bar(v, "base" if shared else f"base ({v.recipe})", e, True) for v, e in bases.values()] + rows


def _bar(view: RecipeView, name: str, e: Estimate, is_base: bool) -> dict[str, Any]:
    return {"context": view.context, "bar": name, "recipe": view.recipe, "is_base": is_base,
            "time_s": e.time.value if e.time.n else None, "time_lo_s": e.time.lo, "time_hi_s": e.time.hi,
            "n_seeds": len(e.times), "mode": e.mode, "loss": e.loss.value if e.loss.n else math.nan,
            "steps_to_target": e.steps_to_target, "main_steps": e.steps}


def analyse(loaded: Loaded) -> Tables:
    _, pools = _runs(loaded)
    runs, members = loaded.runs, loaded.members
    notes: list[str] = []
    variant_of = dict(zip(runs.identity, runs.variant)) if len(runs) else {}
    context_of = dict(zip(runs.identity, runs.context)) if len(runs) else {}
    target_of = dict(zip(runs.context, runs.target)) if len(runs) else {}
    views: list[RecipeView] = []
    for recipe in dict.fromkeys(members.recipe) if len(members) else []:
        mine = members[members.recipe == recipe]
        contexts = dict.fromkeys(context_of[i] for i in mine.identity if i in context_of)
        for context in contexts:
            # planned runs without a record belong to every context of the recipe (they name its order)
            here = mine[mine.identity.map(lambda i: context_of.get(i, context) == context)]
            views.append(RecipeView(context, recipe, here, variant_of, pools, float(target_of[context]), notes))
    marginal, loo, changes, variant_rows, seed_rows, seen = [], [], [], [], [], set()
    for view in views:
        m, chain = _marginal(view)
        l, compared = _leave_one_out(view)
        c, changed = _changes(view)
        marginal += m
        loo += l
        changes += c
        listed = list(chain) + list(compared) + list(changed)
        for rkey, variant in view.roles.items():   # every role's variant at its own planned steps too
            kind = rkey.split(":")[0]
            steps = view.planned((kind,)) if kind in ("prefix", "drop", "add", "full") else None
            for s in view.planned_steps(rkey) or ([steps] if steps else []):
                listed.append(view.estimate(variant, s))
        for e in listed:
            key = (view.context, view.recipe, e.variant, "exact" if e.mode == ttt.EXACT else e.steps)
            if key in seen:
                continue
            seen.add(key)
            variant_rows.append(_variant_row(view, e))
            seed_rows += [{"context": view.context, "recipe": view.recipe, "variant": e.variant,
                           "label": view.label(e.variant), "main_steps": e.steps, **row} for row in e.seeds]
    variants = pd.DataFrame(variant_rows)
    marginal_df = pd.DataFrame(marginal)
    loo_df = _rank(pd.DataFrame(loo))
    return Tables(pd.DataFrame(seed_rows), variants, marginal_df, loo_df, interaction_table(marginal_df, loo_df),
                  pd.DataFrame(_bars(views)), notes, pd.DataFrame(changes))
