"""The device batch is a memory knob, the global batch is the math.

A recipe states tokens per step (the math) and a device batch (what fits in memory). Over `world`
devices one micro-step takes world × device_batch × seq_len tokens and gradient accumulation makes up
the rest, so the device batch must split the step. When the recipe's does not (2,048 tokens per step
over 2 devices × 8 rows × 256 tokens), the largest smaller device batch that does is taken, and the run
says so; only when none does (the step is not a multiple of world × seq_len) is the recipe refused,
by remix.validate. A staged schedule whose rows are rounded to the device batch keeps the device batch
only if every stage's tokens per step stay what they were: the math never moves.
"""

from __future__ import annotations

from remix.spec import Spec

ORIGIN = "fit to the devices"   # what `source` names as having set a lowered device batch


def fit_device_batch(spec: Spec, world: int) -> tuple[Spec, dict[str, str]]:
    """(the spec with a device batch that splits every step over `world` devices, {path: what was done}
    for each batch lowered). The eval batch, which changes no math, is fitted the same way."""
    notes = {}
    t = spec.train
    if not _splits(spec, world):
        wanted = _stage_tokens(spec)
        for rows in range(t.device_batch - 1, 0, -1):
            fitted = spec.set("train.device_batch", rows)
            if _splits(fitted, world) and _stage_tokens(fitted) == wanted:
                notes["train.device_batch"] = (
                    f"{ORIGIN}: lowered from {t.device_batch} to {rows}, as {t.tokens_per_step:,} tokens per step "
                    f"do not split into {world} device(s) × {t.device_batch} rows × {t.seq_len} tokens; gradient "
                    f"accumulation keeps the global batch")
                spec = fitted
                break
    e, t = spec.eval, spec.train
    eval_seq, eval_rows = e.seq_len or t.seq_len, e.device_batch or t.device_batch
    if e.tokens % (world * eval_rows * eval_seq):
        for rows in range(eval_rows - 1, 0, -1):
            if e.tokens % (world * rows * eval_seq) == 0:
                notes["eval.device_batch"] = (f"{ORIGIN}: lowered from {eval_rows} to {rows} so {e.tokens:,} "
                                              f"eval tokens split over {world} device(s)")
                spec = spec.set("eval.device_batch", rows)
                break
    return spec, notes


def _splits(spec: Spec, world: int) -> bool:
    t = spec.train
    if t.tokens_per_step % (world * t.device_batch * t.seq_len):
        return False
    stages = _stages(spec)
    return stages is None or all(st.tokens_per_step % (world * st.device_batch * st.seq_len) == 0 for st in stages)


def _stages(spec: Spec):
    from remix.stages import StepPlan
    try:
        return StepPlan(spec).stages
    except Exception:   # a bad schedule is remix.validate's to report, with its path
        return None


def _stage_tokens(spec: Spec):
    stages = _stages(spec)
    return None if stages is None else [(st.start, st.tokens_per_step, st.seq_len) for st in stages]
