"""Document-length schedule: training documents are cut at 896 tokens in the first stage, 2,048 after.

What: the BOS-aligned loader packs whole documents into each row, each cut after max_doc_len tokens;
the cut is a stage quantity (from stage k's first step the loader uses max_doc_len[k]). Validation is
unaffected. Where from: #72 (02/10/26, 1.496 min, 2026-02-10_ShortWindow; there step 0 still used 2,048,
an artefact of its loader), #74 on from step 0; #29 (09/03/25) introduced the 2,048 cut (bos_aligned's
option). Requires: bos_aligned. Math: changes the data.
"""

from remix.ingredient import Provenance, ingredient
from remix.spec import C

R72 = Provenance("72", "02/10/26", "1.496 minutes", "2026-02-10_ShortWindow", "896-token documents in stage 1")


@ingredient(name="max_doc_len_schedule", summary="documents cut at 896 tokens in the first third, 2,048 after",
            category="data", provenance=R72, options={"max_doc_len": (896, 2048, 2048)},
            requires=("bos_aligned",), doc=__doc__)
def INGREDIENT(spec, max_doc_len):
    stages = spec.schedule.stages
    args = dict(stages.args) if stages.name == "staged" else {}
    return spec.set("schedule.stages", C("staged", **{**args, "max_doc_len": tuple(max_doc_len)}))
