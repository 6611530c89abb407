"""BOS-aligned training rows: every training row starts at a document's first token.

What: the training loader picks, for each row, the next BOS at or after the cursor and skips the
tokens before it, so no row starts mid-document (the train token stream changes; validation does not).
Option `max_doc_len` (#29): rows are instead packed with whole documents, each cut after that many
tokens. The loader itself is registered by remix.data ("bos_aligned").
Where from: #26 (07/13/25, with cooldown_frac 0.45), #29 (2,048-token documents).
Requires: nothing. Math: changes the data the model sees.
"""

from ingredients._records import R26
from remix.ingredient import ingredient
from remix.spec import Component


@ingredient(name="bos_aligned", summary="training rows start at a BOS token", category="data", provenance=R26,
            options={"max_doc_len": 0}, doc=__doc__)
def INGREDIENT(spec, max_doc_len):
    args = {"max_doc_len": max_doc_len} if max_doc_len else {}
    return spec.set("data.loader", Component("bos_aligned", args))
