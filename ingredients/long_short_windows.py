"""Long and short attention windows: a static per-layer pattern of which layers attend with the short window.

What: sets the layer plan's `short_window` to the layers marked "S" in the option `pattern` (one letter
per layer, 12-layer indices: "L" long, "S" short, "-" a layer without attention, read as long). The
attention core builds its short mask for those layers (document_mask: half the window, as #20's
short = long // 2). Only the pattern is here; the window sizes and their schedules are other ingredients.
Which record used what: #20 (01/16/25, 2.992 min, 2025-01-16_Sub3Min) "LSSSLSSLSSSL" (long at 0, 4, 7, 11;
7 has no attention since #17, so 3 long : 8 short), the default, kept by #21–#34 (record 21 included);
#35 (09/21/25, 2.527 min, 2025-09-21_DropAttn) "-SSSLSS-SSSL": the same short layers, layer 0 now
without attention; #36+ and the 11-layer scripts from #49 on keep it (their [S S S L S S - S S S L]).
Requires: document_mask (its core builds the short mask). Math: changes it.
"""

from dataclasses import dataclass

from remix.ingredient import Provenance, ingredient
from remix.spec import SpecError

R20 = Provenance("20", "01/16/25", "2.992 minutes", "2025-01-16_Sub3Min", "long at 0, 4, 7, 11; the rest short")
R35 = Provenance("35", "09/21/25", "2.527 minutes", "2025-09-21_DropAttn", "the same short layers, layer 0 empty")


@dataclass(frozen=True)
class LongShortConfig:
    pattern: "str" = "LSSSLSSLSSSL"

    def __post_init__(self):
        if not self.pattern or set(self.pattern) - set("LS-"):
            raise ValueError(f"pattern is one letter per layer among L, S and -, got {self.pattern!r}")


@ingredient(name="long_short_windows", summary="static long/short window pattern (LSSSLSSLSSSL)",
            category="attention", provenance=(R20, R35), options=LongShortConfig, requires=("document_mask",),
            doc=__doc__)
def INGREDIENT(spec, pattern):
    n = spec.model.n_layer
    if len(pattern) != n:
        raise SpecError("model.layers.short_window", f"long_short_windows: pattern {pattern!r} has {len(pattern)} "
                                                     f"letters for a model of {n} layers")
    return spec.set("model.layers.short_window", tuple(i for i, c in enumerate(pattern) if c == "S"))
