"""Untie the embedding from the head two thirds into the run.

What: until the split step the token embedding is the head's rows (the head gets the gradients of both
uses); at the split, the separate embedding table takes a copy of the head's weights and of its Adam
state (step count, first and second moments), and from then on the two train apart. The split step is
⌈2N/3⌉ made odd (so it follows an Adam step when Adam steps on odd steps). The tied/untied switch is a
number per stage of the compiled step (two graphs, both made in the untimed warm-up).
Where from: #53 (12/22/25, 1.988 min, 2025-12-22_MultiTokenPrediction: split after step 1253 of 1880),
#54 on ⌈2N/3⌉ | 1; #51 had re-tied embedding and head (head init N(0, 0.005²), used here when the head
would start at zero); #87 never unties. Requires: untied_head (the two tables). Math: changes it.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from remix.ingredient import Provenance, ingredient
from remix.model.parts import Part
from remix.slots import EVENTS, PARTS, STEP_VALUES
from remix.spec import C
from remix.stages import Event, StepValues

R53 = Provenance("53", "12/22/25", "1.988 minutes", "2025-12-22_MultiTokenPrediction", "untie at 2/3 of the run")
R51 = Provenance("51", "12/19/25", "2.075 minutes", "2025-12-19_RetieLMHead", "tied head, init N(0, 0.005²)")


@dataclass(frozen=True)
class SplitConfig:
    fraction: "float" = 2 / 3
    odd: "bool" = True           # the split step is made odd (Adam's odd-step rhythm)

    def step(self, steps: int) -> int:
        s = math.ceil(self.fraction * steps - 1e-9)
        return s | 1 if self.odd else s


class TiedUntilSplit(Part):
    """The embedding lookup reads the head's rows while the step state says tied."""

    def bind(self, model) -> None:
        object.__setattr__(self, "_model", model)

    def embed(self, e, ctx):
        if ctx.state.get("untied", True):
            return e
        return F.embedding(ctx.idx, self._model.head.weight).type_as(e)


class Untied(StepValues):
    static = True

    def __init__(self, split: int):
        self.split = split

    def __call__(self, step: int) -> dict:
        return {"untied": step >= self.split}


class Untie(Event):
    def __init__(self, split: int):
        self.steps = (split,)

    @torch.no_grad()
    def apply(self, step: int, model, optimizers) -> None:
        embed, head = model.embed.weight, model.head.weight
        embed.copy_(head[: embed.size(0)])
        for opt in optimizers.optimizers:
            if head in opt.state:
                source = opt.state[head]
                for target_opt in optimizers.optimizers:
                    if any(p is embed for g in target_opt.param_groups for p in g["params"]):
                        target_opt.state[embed] = {k: (v[: embed.size(0)].clone() if torch.is_tensor(v) and v.ndim
                                                       else v.clone() if torch.is_tensor(v) else v)
                                                   for k, v in source.items()}


@PARTS.register("tied_until_split")
def tied_until_split(cfg, model, name: str) -> Part:
    return TiedUntilSplit()


@STEP_VALUES.register("untied_after", config=SplitConfig)
def untied_after(cfg: SplitConfig, spec, horizon) -> StepValues:
    return Untied(cfg.step(horizon.steps))


@EVENTS.register("untie", config=SplitConfig)
def untie(cfg: SplitConfig, spec, horizon) -> Event:
    return Untie(cfg.step(horizon.steps))


@ingredient(name="untie_at_two_thirds", summary="embedding = head rows until 2/3 of the run, then a copy trains apart",
            category="schedule", provenance=(R53, R51), options=SplitConfig, requires=("untied_head",),
            refines=("untied_head",), doc=__doc__)
def INGREDIENT(spec, fraction, odd):
    spec = spec.set("model.parts.tied_until_split", C("tied_until_split"))
    spec = spec.set("schedule.state.untied", C("untied_after", fraction=fraction, odd=odd))
    spec = spec.set("schedule.events.untie", C("untie", fraction=fraction, odd=odd))
    if spec.model.init.head.name == "zero":   # a zero head would make every tied embedding zero
        spec = spec.set("model.init.head", C("normal", std=0.005))
    return spec
