"""Window stages: three fixed attention windows, one per third of the run, short layers at half.

What: the long window is `long[k]` blocks of 128 tokens in stage k (3, 7, 11 blocks), the short one
`short[k]` (1, 3, 5: ⌊long/2⌋); extension steps train at `extension` (13/6, #42 on) and the final
validation may look further (`final`, see val_window_extension). Windows are exact in tokens as
FlashAttention 3's window_size = (w, 0) made them in these records: a query sees itself and the w =
blocks·128 tokens before it in its document (`fa3_keys`: w + 1 keys); with `fa3_keys` off the window
is w tokens, itself included. A step value (device tensor): the stages never recompile the model.
Stage boundaries (option `boundary`): "n_plus_1" (#29–#41: stage ⌊3·s/(N+1)⌋), "n" (#42–#64:
⌊3·s/N⌋), "round" (#65 on: stages end at round(N/3), round(2N/3)).
Where from: #29 (09/03/25, 2.731 min, 2025-09-03_FA3) 3/7/11 blocks with short = half; #36
(09/23/25, 2.495 min) short made explicit; #42 (10/27/25, 2.313 min, 2025-10-27_FixMuonLR) extension
steps at 13/6; #72 (02/10/26, 1.496 min, 2026-02-10_ShortWindow) stage-3 short window 2 (option
`short=(1, 3, 2)`). Requires: document_mask. Math: changes it.
"""

from dataclasses import dataclass

from remix import registry
from remix.ingredient import Provenance, ingredient
from remix.slots import STEP_VALUES
from remix.spec import C
from remix.stages import StepValues

R29 = Provenance("29", "09/03/25", "2.731 minutes", "2025-09-03_FA3", "windows 3/7/11 blocks by thirds, short half")
R42 = Provenance("42", "10/27/25", "2.313 minutes", "2025-10-27_FixMuonLR", "extension steps at 13/6 blocks")
R72 = Provenance("72", "02/10/26", "1.496 minutes", "2026-02-10_ShortWindow", "stage-3 short window 2 blocks")
BOUNDARIES = ("n_plus_1", "n", "round")


@dataclass(frozen=True)
class WindowStagesConfig:
    long: "tuple[int, ...]" = (3, 7, 11)          # blocks, one per stage
    short: "tuple[int, ...]" = (1, 3, 5)
    extension: "tuple[int, int] | None" = (13, 6)  # (long, short) from step N on; None: the last stage's (#29–#41)
    final: "tuple[int, int] | None" = None        # (long, short) at the final validation; None: as the last step
    block: "int" = registry.tokens(128)
    boundary: "str" = "n"
    fa3_keys: "bool" = True                       # a window of w tokens shows w + 1 keys (FlashAttention 3)

    def __post_init__(self):
        if len(self.long) != len(self.short) or not self.long:
            raise ValueError(f"long and short need one window per stage, got {self.long} and {self.short}")
        if self.boundary not in BOUNDARIES:
            raise ValueError(f"boundary must be one of {', '.join(BOUNDARIES)}, got {self.boundary!r}")


class WindowStages(StepValues):
    def __init__(self, cfg: WindowStagesConfig, steps: int, total: int):
        self.cfg, self.steps, self.total = cfg, steps, total

    def stage(self, step: int) -> int:
        k, n = len(self.cfg.long), self.steps
        if self.cfg.boundary == "n_plus_1":
            return min(k - 1, int(k * min(step / (n + 1), 0.9999)))
        if self.cfg.boundary == "round":
            ends = [round((i + 1) * n / k) for i in range(k)]
            return next((i for i, end in enumerate(ends) if step < end), k - 1)
        return min(k - 1, k * step // n)

    def blocks(self, step: int) -> tuple[int, int]:
        c = self.cfg
        if step >= self.total and c.final is not None:
            return c.final
        if step >= self.steps and c.extension is not None:
            return c.extension   # the extension steps, and the final validation (#42 on)
        k = self.stage(step)
        return c.long[k], c.short[k]

    def __call__(self, step: int) -> dict:
        long, short = self.blocks(step)
        extra = 1 if self.cfg.fa3_keys else 0
        return {"window": long * self.cfg.block + extra, "window_short": max(short, 1) * self.cfg.block + extra}


@STEP_VALUES.register("window_stages", config=WindowStagesConfig)
def window_stages(cfg: WindowStagesConfig, spec, horizon) -> StepValues:
    return WindowStages(cfg, horizon.steps, horizon.total)


@ingredient(name="window_stages", summary="attention windows 3/7/11 blocks by thirds (short half), 13/6 after",
            category="schedule", provenance=(R29, R42, R72), options=WindowStagesConfig, requires=("document_mask",),
            refines=("window_warmup",), doc=__doc__)
def INGREDIENT(spec, long, short, extension, final, block, boundary, fa3_keys):
    spec = spec.set("schedule.state.windows", C("window_stages", long=long, short=short, extension=extension,
                                                final=final, block=block, boundary=boundary, fa3_keys=fa3_keys))
    return spec.set("model.attention.block", 0)
