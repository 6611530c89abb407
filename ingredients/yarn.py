"""YaRN: when the attention window grows, stretch RoPE's slow frequencies and raise the attention scale.

What: at each step where the long window changes from `old` to `new` blocks (L_old = old·128 tokens),
every rotary frequency ω_i is rescaled: r_i = L_old·ω_i/(2π) rotations over the old window,
γ_i = clamp((r_i − α)/(β − α), 0, 1) with α = 1, β = 32, s = old/new, ω_i ← ω_i·(s + γ_i·(1 − s)): fast
frequencies (many rotations) are kept, slow ones interpolated by old/new, zero ones stay zero; the
cos/sin tables are recomputed in place (no recompile). The attention scale starts at 0.1 and is
multiplied by 1 + 0.2·ln(new/old) at each change (0.1 → 0.11695 → 0.12752 → 0.13178 along 3→7→11→13);
it is a number per stage (one compiled graph each, made in the untimed warm-up). Updates are
cumulative, as in the record; the warm-up's rehearsal is undone before step 0.
Where from: #31 (09/10/25, 2.656 min, 2025-09-10_Yarn); from #42 the 11→13 change happens at the
start of the extension steps (window_stages' extension). Requires: rope, window_stages.
Math: changes it (replaces the fixed attention scale).
"""

import math
from dataclasses import dataclass

import torch

from remix.ingredient import Provenance, ingredient
from remix.slots import EVENTS, STEP_VALUES, build
from remix.spec import C
from remix.stages import Event, StepValues

R31 = Provenance("31", "09/10/25", "2.656 minutes", "2025-09-10_Yarn", "YaRN at every window change")


@dataclass(frozen=True)
class YarnConfig:
    alpha: "float" = 1.0
    beta: "float" = 32.0
    scale: "float" = 0.1          # the attention scale in the first stage
    growth: "float" = 0.2         # scale ×= 1 + growth·ln(new/old) at each change


def window_changes(spec, horizon) -> list[tuple[int, int, int]]:
    """(step, old, new) long windows in blocks, wherever the run's window stages change them."""
    windows = build(STEP_VALUES, spec.schedule.state["windows"], spec, horizon)
    out, previous = [], windows.blocks(0)[0]
    for step in range(1, horizon.total + 1):
        w = windows.blocks(step)[0]
        if w != previous:
            out.append((step, previous, w))
        previous = w
    return out


class YarnScale(StepValues):
    static = True   # the kernel takes the scale as a number: one graph per stage

    def __init__(self, cfg: YarnConfig, changes):
        self.cfg, self.changes = cfg, changes

    def __call__(self, step: int) -> dict:
        scale = self.cfg.scale
        for at, old, new in self.changes:
            if at <= step:
                scale *= 1 + self.cfg.growth * math.log(new / old)
        return {"attn_scale": scale}


class YarnFrequencies(Event):
    def __init__(self, cfg: YarnConfig, changes, base: torch.Tensor, block: int):
        self.cfg, self.block, self.changes = cfg, block, {at: (old, new) for at, old, new in changes}
        self.steps = tuple(self.changes)
        self.base = self.omega = base   # the rotary frequencies the model was built with

    def apply(self, step: int, model, optimizers) -> None:
        rotary = model.positions
        old, new = self.changes[step]
        r = old * self.block * self.omega / (2 * math.pi)   # rotations over the old window
        gamma = ((r - self.cfg.alpha) / (self.cfg.beta - self.cfg.alpha)).clamp(0, 1)
        s = old / new
        self.omega = self.omega * (s + gamma * (1 - s))
        _write_tables(rotary, self.omega)

    def reset(self, model, optimizers) -> None:
        self.omega = self.base
        _write_tables(model.positions, self.base)


def _write_tables(rotary, omega: torch.Tensor) -> None:
    theta = torch.outer(torch.arange(rotary.cos.size(0), dtype=torch.float32), omega)
    rotary.cos.copy_(theta.cos())
    rotary.sin.copy_(theta.sin())


@STEP_VALUES.register("yarn_scale", config=YarnConfig)
def yarn_scale(cfg: YarnConfig, spec, horizon) -> StepValues:
    return YarnScale(cfg, window_changes(spec, horizon))


@EVENTS.register("yarn", config=YarnConfig)
def yarn(cfg: YarnConfig, spec, horizon) -> Event:
    from ingredients.rope import frequencies
    rope = spec.model.positions.args
    base = frequencies(rope.get("frequencies", "truncated"), spec.model.head_dim, rope.get("base", 10000.0))
    block = spec.schedule.state["windows"].args.get("block", 128)
    return YarnFrequencies(cfg, window_changes(spec, horizon), base, block)


@ingredient(name="yarn", summary="at each window change, interpolate RoPE's slow frequencies; scale 0.1 growing",
            category="attention", provenance=R31, options=YarnConfig, requires=("rope", "window_stages"),
            refines=("attention_scale",), doc=__doc__)
def INGREDIENT(spec, alpha, beta, scale, growth):
    args = dict(alpha=alpha, beta=beta, scale=scale, growth=growth)
    return spec.set("schedule.state.yarn", C("yarn_scale", **args)).set("schedule.events.yarn", C("yarn", **args))
