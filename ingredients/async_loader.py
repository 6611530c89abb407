"""Asynchronous data loading: the next shard is read by a background thread while the current one trains.

What: the loader's `prefetch` flag; the batches are the same, only the wait for a shard at a shard
boundary moves off the training thread. Where from: #33 (09/15/25, 2.565 min,
2025-09-15_AsyncDataLoadAttnFinalWindow; it also indexed BOS positions of a new shard in the
background — the BOS-aligned loader here indexes a shard once, in the same thread).
Requires: nothing. Math: the same (math_equivalent).
"""

from remix.ingredient import Provenance, ingredient

R33 = Provenance("33", "09/15/25", "2.565 minutes", "2025-09-15_AsyncDataLoadAttnFinalWindow", "background shard loading")


@ingredient(name="async_loader", summary="read the next shard in a background thread (same batches)",
            category="systems", provenance=R33, math_equivalent=True, doc=__doc__)
def INGREDIENT(spec):
    return spec.set("data.loader.prefetch", True)
