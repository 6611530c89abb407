"""Attention window warm-up: the sliding window grows linearly over the run, from one block to 1,792 tokens.

What: the window is a step value (a device tensor the document mask reads, so growing it never
recompiles). With x = step / N (N the scheduled steps), forms (option `form`):
  * "tokens" (#13–#15): W = 64·⌊(64 + 1728·x)/64⌋ tokens, exact per token: 64 at step 0, 1,728 on the
    last training step, 1,792 at the final validation;
  * "blocks_floor" (#16–#18): n = ⌊1 + 13.5·x⌋ blocks of 128 tokens (a query sees its own block and the
    n − 1 before it);
  * "blocks_ceil" (#19–#21, record 21's form): n = max(1, ⌈13.5·x⌉) blocks.
Short layers (the layer plan's short_window, #20 on) get ⌊n/2⌋ blocks, at least their own block; with
the token form, half the window. Validation uses the window of its step, so the final one sees 14
blocks (1,792 tokens) and 7 for short layers, as in records #20–#21.
Where from: #13 (11/24/24, 4.66 min, 2024-11-24_WindowWarmup), block masks #16 (12/10/24, 3.80 min,
2024-12-10_MFUTweaks), ceil form #19 (01/13/25, 3.142 min, 2025-01-13_Fp8LmHead), long/short #20.
Requires: document_mask (its window becomes the schedule's; the block forms set its block to 128).
Math: changes it (and the evaluation protocol: validation's context is the schedule's).
"""

import math
from dataclasses import dataclass

from remix import registry
from remix.ingredient import Provenance, ingredient
from remix.slots import STEP_VALUES
from remix.spec import C
from remix.stages import StepValues

R13 = Provenance("13", "11/24/24", "4.66 minutes", "2024-11-24_WindowWarmup", "window 64 → 1,792 tokens")
R16 = Provenance("16", "12/10/24", "3.80 minutes", "2024-12-10_MFUTweaks", "128-token block windows")
R19 = Provenance("19", "01/13/25", "3.142 minutes", "2025-01-13_Fp8LmHead", "n = max(1, ⌈13.5·x⌉) blocks")
FORMS = ("tokens", "blocks_floor", "blocks_ceil")


@dataclass(frozen=True)
class WindowWarmupConfig:
    form: "str" = "blocks_ceil"
    block: "int" = registry.tokens(128)      # the block forms' block; the token form moves in steps of half of it
    start: "int" = registry.tokens(128)      # the floor form's value at x = 0 (tokens)
    rise: "int" = registry.tokens(1728)      # tokens added over the run

    def __post_init__(self):
        if self.form not in FORMS:
            raise ValueError(f"form must be one of {', '.join(FORMS)}, got {self.form!r}")
        if self.block < 1 or self.rise < 0:
            raise ValueError(f"expected block ≥ 1 and rise ≥ 0, got {self.block} and {self.rise}")


class WindowWarmup(StepValues):
    def __init__(self, cfg: WindowWarmupConfig, steps: int):
        self.cfg, self.steps = cfg, steps

    def blocks(self, step: int) -> int:
        c, x = self.cfg, step / self.steps
        if c.form == "blocks_floor":
            return max(1, math.floor((c.start + c.rise * x) / c.block))
        return max(1, math.ceil(c.rise * x / c.block - 1e-9))

    def __call__(self, step: int) -> dict:
        c = self.cfg
        if c.form == "tokens":
            unit = c.block // 2
            window = unit * math.floor((unit + c.rise * step / self.steps) / unit)
            return {"window": window, "window_short": max(1, window // 2)}
        n = self.blocks(step)
        return {"window": n * c.block, "window_short": max(1, n // 2) * c.block}


@STEP_VALUES.register("window_warmup", config=WindowWarmupConfig)
def window_warmup(cfg: WindowWarmupConfig, spec, horizon) -> StepValues:
    return WindowWarmup(cfg, horizon.steps)


@ingredient(name="window_warmup", summary="the attention window grows from one block to 1,792 tokens over the run",
            category="schedule", provenance=(R13, R16, R19), options=WindowWarmupConfig, requires=("document_mask",),
            doc=__doc__)
def INGREDIENT(spec, form, block, start, rise):
    spec = spec.set("schedule.state.windows", C("window_warmup", form=form, block=block, start=start, rise=rise))
    return spec.set("model.attention.block", 0 if form == "tokens" else block)
