"""Bucketed all-reduce: the gradients travel in a few large flat buffers instead of one message per parameter.

What: `train.grad_sync = bucketed`: after the backward, gradients are copied (per dtype, in backward
order) into flat buffers of at most `bucket_mb` MiB made once per run, each buffer is all-reduced (AVG)
asynchronously, and the means are copied back before clipping and the optimizer. Fewer, larger
collectives; on one process nothing changes. Where from: #22 (05/24/25, 2.990 min,
2025-05-24_FasterReduce): flat 64 MiB buffers (its comment says 128 MB), async all-reduce AVG per bucket,
unpacked before the optimizer step. Requires: nothing. Math: the same (math_equivalent): the mean of
the ranks' gradients, in each parameter's dtype; tested on CPU with gloo (tests/test_grad_sync.py).
"""

from remix.grad_sync import BucketConfig
from remix.ingredient import Provenance, ingredient
from remix.spec import C

R22 = Provenance("22", "05/24/25", "2.990 minutes", "2025-05-24_FasterReduce", "gradients all-reduced in flat buckets")


@ingredient(name="bucketed_allreduce", summary="gradients all-reduced in flat 64 MiB buffers (same math)",
            category="systems", provenance=R22, options={"bucket_mb": 64.0}, math_equivalent=True, doc=__doc__)
def INGREDIENT(spec, bucket_mb):
    BucketConfig(bucket_mb=bucket_mb)   # checks the option where the recipe sets it
    return spec.set("train.grad_sync", C("bucketed", bucket_mb=bucket_mb, overlap=False))
