"""fp32 master weights, bf16 embeddings, bf16 activations, no autocast (records #10 and #18's CastedLinear).

What is cast where (record 21's regime, #18's form):
  * stored fp32: every linear weight (attention qkv and out, MLP up and down, the untied LM head), every
    scalar/vector/gate parameter, and every buffer (the RoPE cos/sin tables, so RoPE runs in fp32);
  * stored bf16: the parameters whose role is `embed.*` (model.dtypes.embed = bfloat16): the token
    embedding, a learned position table, value-embedding tables; a tied head is the token table, so bf16;
  * no autocast (train.autocast = none): the embedding's output is bf16, so the stream is bf16 from there;
  * each linear casts its fp32 weight to the bf16 activations at use (remix.model.roles.Linear, the
    stacked qkv, the head: `w.type_as(x)`), so every matmul is bf16×bf16 with fp32 accumulation; the
    cast's backward returns the bf16 weight gradient upcast to fp32, so the optimizers see fp32 gradients
    and keep fp32 state (Muon momentum, Adam moments) for everything but the bf16 tables;
  * a 0-dim fp32 scalar times a bf16 tensor stays bf16 (type promotion), so fp32 lambdas keep the stream
    bf16; RoPE computes in fp32 and casts back to bf16; logits are cast to fp32 before the soft-cap and
    the loss (the head's output is bf16).
With a gradient all-reduce, each gradient is reduced in its parameter's dtype.
Where from: #10 (11/08/24, 7.8 min, 2024-11-08_CastBf16) introduced CastedLinear (fp32 linears, the rest
of the model bf16, scalars included); #18 (01/04/25, 3.4 min, 2025-01-04_SoftCap) kept only the
embeddings bf16 and everything else fp32, the form this ingredient takes (and record 21's).
Refines bf16_params (the baselines' all-bf16 storage): recipes put it after it.
Requires: nothing. Math: changes the rounding (weights accumulate updates in fp32; RoPE in fp32).
"""

from ingredients._records import R10, R18
from remix.ingredient import ingredient


@ingredient(name="fp32_master_weights", summary="fp32 weights cast to bf16 at use; bf16 embeddings; no autocast",
            category="precision", provenance=(R10, R18), refines=("bf16_params",), doc=__doc__)
def INGREDIENT(spec):
    return (spec.set("model.param_dtype", "float32")
                .set("model.dtypes.embed", "bfloat16")
                .set("train.autocast", "none"))
