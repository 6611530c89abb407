"""Overlapped all-reduce: each gradient bucket is all-reduced while the backward pass is still running.

What: `train.grad_sync = bucketed` with `overlap = true`: gradients go in flat buffers of at most
`bucket_mb` MiB, filled in backward order (the last layers' gradients are final first); a hook after
each parameter's gradient is accumulated (on the step's last micro-batch only: earlier ones only
accumulate) launches a bucket's asynchronous all-reduce (AVG) as soon as its last gradient is in, so
communication runs under the rest of the backward; the trainer waits for all of them before clipping
and the optimizer. Where from: #23 (05/25/25, 2.979 min, 2025-05-25_EvenFasterReduce): parameters in
~25 MB buckets, post-accumulate-grad hooks launching all_reduce_coalesced (AVG), waited before the
optimizer step; #44 (11/16/25, 2.269 min, 2025-10-31_AdamSyncGradientHook) launched Adam's
communication from the same hooks (its reduce-scatter: the `reduce_scatter` ingredient's `overlap`).
Requires: nothing. Refines: bucketed_allreduce (the same buffers, launched earlier).
Math: the same (math_equivalent); tested on CPU with gloo (tests/test_grad_sync.py).
"""

from remix.grad_sync import BucketConfig
from remix.ingredient import Provenance, ingredient
from remix.spec import C

R23 = Provenance("23", "05/25/25", "2.979 minutes", "2025-05-25_EvenFasterReduce",
                 "gradient all-reduce launched from backward hooks, per 25 MB bucket")
R44 = Provenance("44", "11/16/25", "2.269 minutes", "2025-10-31_AdamSyncGradientHook",
                 "Adam's gradient communication launched from backward hooks")


@ingredient(name="overlap_allreduce", summary="bucket all-reduces launched from backward hooks (same math)",
            category="systems", provenance=(R23, R44), options={"bucket_mb": 25.0}, refines=("bucketed_allreduce",),
            math_equivalent=True, doc=__doc__)
def INGREDIENT(spec, bucket_mb):
    BucketConfig(bucket_mb=bucket_mb)
    return spec.set("train.grad_sync", C("bucketed", bucket_mb=bucket_mb, overlap=True))
