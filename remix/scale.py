"""Scales: a documented shrink of any recipe, so every recipe runs on a laptop CPU and in CI.

`tiny` keeps every ingredient active and shrinks only sizes and lengths:
  * model: at most 4 layers, width 128, head_dim a quarter of the recipe's (heads fill the width),
    the MLP's width ratio kept, the vocabulary of the embedded corpus (257 byte-level ids; a padding
    multiple of at most 8, so padded rows stay a sliver of the softmax as at full size);
  * rows of at most 256 tokens, 8 of them per step (2,048 tokens), 120 steps (or --steps), 2 untimed steps;
  * attention windows at most a quarter of a row; position tables as long as a row;
  * schedule arguments that count steps (warmup, steps, cooldown_steps) scaled with the step count;
  * validation every 40 steps on 8,192 tokens; data: the embedded corpus (no network);
  * a target val loss of 2.4 (byte-level loss on the embedded corpus; the recipes' 3.28 is GPT-2
    tokens on FineWeb), reached by the fuller recipes and missed by the base, so times mean something.
"""

from __future__ import annotations

from dataclasses import replace

from remix.spec import Component, Spec

STEP_ARGS = ("warmup", "steps", "cooldown_steps")
SCALES = ("tiny",)
SCALE_TARGETS = {"tiny": 2.4}


def tiny(spec: Spec, steps: int | None = None) -> Spec:
    m, t = spec.model, spec.train
    width, seq, batch, steps = 128, min(t.seq_len, 256), 8, steps or 120
    head_dim = max(8, m.head_dim // 4)
    model = replace(m, n_layer=min(m.n_layer, 4), d_model=width, head_dim=head_dim, n_head=width // head_dim,
                    mlp_hidden=round(m.mlp_hidden / m.d_model * width), vocab_size=257,
                    vocab_multiple=min(m.vocab_multiple, 8),   # 257 → 264 rows: padding stays a sliver
                    max_len=seq, attention=_window(m.attention, seq))
    ratio = steps / t.steps
    schedule = replace(spec.schedule, lr=_steps(spec.schedule.lr, ratio), momentum=_steps(spec.schedule.momentum, ratio))
    train = replace(t, seq_len=seq, device_batch=batch, tokens_per_step=batch * seq, steps=steps, untimed_steps=2)
    evaluation = replace(spec.eval, every=40, tokens=4 * batch * seq, seq_len=None, device_batch=None)
    data = replace(spec.data, source="embedded", allow_epochs=True)
    return replace(spec, model=model, schedule=schedule, train=train, eval=evaluation, data=data)


def _window(c: Component, seq: int) -> Component:
    return c.with_args(window=min(c.args["window"], seq // 4)) if "window" in c.args else c


def _steps(c: Component, ratio: float) -> Component:
    scaled = {k: max(1, round(v * ratio)) if v else v for k, v in c.args.items()
              if k in STEP_ARGS and isinstance(v, int)}
    return c.with_args(**scaled) if scaled else c


def apply_scale(spec: Spec, scale: str | None, steps: int | None = None) -> Spec:
    """The scaled spec; `steps` (the command line's --steps) is the scaled run's length, so step-counted
    schedule arguments shrink with the final step count."""
    if scale is None:
        return spec
    if scale == "tiny":
        return tiny(spec, steps)
    raise ValueError(f"unknown scale {scale!r}; known: {', '.join(SCALES)}")
