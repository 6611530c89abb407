"""Reduce-scatter: each gradient bucket is reduce-scattered (each rank gets the mean of its slice), then
the slices are all-gathered.

What: `train.grad_sync = reduce_scatter`: gradients in flat buffers of at most `bucket_mb` MiB (per
dtype, backward order, padded to a multiple of the ranks); per buffer a reduce-scatter (AVG) leaves each
rank the mean of its 1/world slice, and an all-gather puts the whole mean back on every rank before
clipping and the optimizer. `overlap = true` launches each reduce-scatter from the backward hooks (#44).
Where from: #24 (05/30/25, 2.966 min, 2025-05-30_noallreduce) replaced the gradient all-reduce with
reduce-scatter: its DistAdam (ZeRO-1-like) updates only its rank's row slice of each parameter and
all-gathers the parameters, and Muon reduce-scatters its grads per chunk and all-gathers the updated
parameters; #36, #52, #57 and #61 kept that pattern. What is built here is the communication of the
record, not its saving: remix's optimizers still hold whole state and step every parameter on every
rank (Muon already splits its orthogonalisation over the ranks and all-gathers the directions,
remix/optim/muon.py), so the gathered gradient is what the optimizers read. Sharded optimizer state
(each rank updating its slice and all-gathering parameters) is left to a later change; this ingredient
is where it will go. Requires: nothing. Math: the same (math_equivalent); tested on CPU with gloo
(tests/test_grad_sync.py).
"""

from remix.grad_sync import BucketConfig
from remix.ingredient import Provenance, ingredient
from remix.spec import C

R24 = Provenance("24", "05/30/25", "2.966 minutes", "2025-05-30_noallreduce",
                 "gradient all-reduce replaced by reduce-scatter (and all-gather)")


@ingredient(name="reduce_scatter", summary="gradients reduce-scattered then all-gathered per bucket (same math)",
            category="systems", provenance=R24, options={"bucket_mb": 64.0, "overlap": False},
            math_equivalent=True, doc=__doc__)
def INGREDIENT(spec, bucket_mb, overlap):
    BucketConfig(bucket_mb=bucket_mb, overlap=overlap)
    return spec.set("train.grad_sync", C("reduce_scatter", bucket_mb=bucket_mb, overlap=overlap))
