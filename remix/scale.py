"""Scales: a documented shrink of any recipe, so every recipe runs on a laptop CPU and in CI.

`tiny` keeps the recipe's ingredients and depth (per-layer patterns — a dropped attention layer, U-net
pairs, value embeddings on the first and last layers — need every layer), and shrinks only widths and
lengths. Ingredients that only set what tiny overrides (bf16_params: tiny is fp32; long_rows: tiny's rows)
then change nothing: a prefix sweep trains their prefix once, and the report says "the same spec":
  * model: width 64, head_dim a quarter of the recipe's (at least 8; heads fill the width), the MLP's
    width ratio kept, the vocabulary of the embedded corpus (257 byte-level ids; a padding multiple of
    at most 8, so padded rows stay a sliver of the softmax as at full size);
  * rows of at most 256 tokens, 8 of them per step (2,048 tokens), 120 steps (or --steps), 2 untimed steps;
  * every config field that is a length in tokens (remix.registry.tokens: windows, mask blocks) scaled
    by 1/16, so a 1,024-token window becomes 64 (a quarter of a tiny row); position tables as long as a row;
  * every config field that counts steps (remix.registry.steps: warm-ups, cooldowns, stage boundaries)
    scaled with the step count;
  * validation every 40 steps on 8,192 tokens; data: the embedded corpus (no network);
  * fp32 for every tensor, no autocast: bf16 on a CPU is emulated (6x slower per step here) and its
    rounding says nothing at this size; `--set model.param_dtype=bfloat16` puts it back;
  * a target val loss of 2.4 (byte-level loss on the embedded corpus; the recipes' 3.28 is GPT-2
    tokens on FineWeb), reached by the fuller recipes and missed by the base, so times mean something.
"""

from __future__ import annotations

from dataclasses import replace

from remix.registry import step_fields, token_fields
from remix.slots import slot_components
from remix.spec import Spec

SCALES = ("tiny",)
SCALE_TARGETS = {"tiny": 2.4}
WIDTH, ROWS, BATCH, STEPS = 64, 256, 8, 120
TOKEN_RATIO = 1 / 16     # a 1,024-token window -> 64: a quarter of a tiny row, as 1,024 is of GPT-2's


def tiny(spec: Spec, steps: int | None = None) -> Spec:
    m, t = spec.model, spec.train
    seq, steps = min(t.seq_len, ROWS), steps or STEPS
    head_dim = max(8, m.head_dim // 4)
    model = replace(m, d_model=WIDTH, head_dim=head_dim, n_head=WIDTH // head_dim,
                    mlp_hidden=round(m.mlp_hidden / m.d_model * WIDTH), vocab_size=257,
                    vocab_multiple=min(m.vocab_multiple, 8),   # 257 → 264 rows: padding stays a sliver
                    max_len=seq, param_dtype="float32", dtypes={})
    spec = replace(spec, model=model)
    spec = rescale_steps(spec, steps / t.steps)
    spec = rescale_lengths(spec, TOKEN_RATIO)
    train = replace(t, seq_len=seq, device_batch=BATCH, tokens_per_step=BATCH * seq, steps=steps, untimed_steps=2,
                    autocast="none", extension_steps=round(t.extension_steps * steps / t.steps))
    evaluation = replace(spec.eval, every=40, tokens=4 * BATCH * seq, seq_len=None, device_batch=None)
    data = replace(spec.data, source="embedded", allow_epochs=True)
    return replace(spec, train=train, eval=evaluation, data=data)


def rescale_steps(spec: Spec, ratio: float) -> Spec:
    """Every argument the spec's components declare as a step count, times `ratio` (at least 1 if it was)."""
    return _rescale(spec, ratio, step_fields)


def rescale_lengths(spec: Spec, ratio: float) -> Spec:
    """Every argument the spec's components declare as a length in tokens, times `ratio` (at least 1)."""
    return _rescale(spec, ratio, token_fields)


def _rescale(spec: Spec, ratio: float, fields_of) -> Spec:
    from remix.validate import load_components
    load_components()
    for path, registry, component in slot_components(spec):
        if component.name not in registry:
            continue
        for name in fields_of(registry.entry(component.name).config):
            value = component.args.get(name, _default(registry, component.name, name))
            if isinstance(value, int) and value:
                spec = spec.set(f"{path}.{name}", max(1, round(value * ratio)))
    return spec


def _default(registry, name: str, field: str):
    import dataclasses
    for f in dataclasses.fields(registry.entry(name).config):
        if f.name == field:
            return f.default
    return None


def apply_scale(spec: Spec, scale: str | None, steps: int | None = None) -> Spec:
    """The scaled spec; `steps` (the command line's --steps) is the scaled run's length, so step-counted
    schedule arguments shrink with the final step count."""
    if scale is None:
        return spec
    if scale == "tiny":
        return tiny(spec, steps)
    raise ValueError(f"unknown scale {scale!r}; known: {', '.join(SCALES)}")
