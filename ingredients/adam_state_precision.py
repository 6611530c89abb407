"""Adam's moment buffers in a chosen precision, for every Adam group.

What it does
    Every Adam group becomes remix's own Adam (remix_adam, the same step as torch's Adam) with
    state_dtype set: exp_avg and exp_avg_sq are allocated in that dtype and the step is computed in it
    (a bf16 gradient is cast to fp32 on arrival; the result is written to the parameter once).

Options (`state_dtype`)
    "bfloat16"  #32 (09/11/25, 2.625 min, 2025-09-11_VectSigmoidBFloat16): bf16 moments for every
                DistAdam parameter (fp32 scalars and head included). The same record raised Adam's eps
                1e-10 → 1e-8 (option `eps`; None keeps the spec's) and cast nn.Linear modules to bf16.
    "float32"   #56 (12/31/25, 1.894 min, 2025-12-31_GatesToCompiledAdam, log 12-31-gates-to-adam-20stps/…)
                through #89 (default): fp32 moments, the compiled update in fp32 added to bf16 or fp32
                weights. (#57 set eps back to 1e-10.)
    Before #32 the state took the parameter's dtype (bf16 for the embeddings, fp32 for head and
    scalars in #21), as torch's Adam does; M's all-bf16 parameters give bf16 state everywhere.

What it requires
    adam_groups.

Does it change the math
    The precision only (not bit-equivalent); with `eps` also the math.
"""

from dataclasses import replace

from remix.ingredient import Provenance, ingredient
from remix.optim.remix_adam import ADAM_KINDS, STATE_DTYPES, as_remix_adam
from remix.optim.groups import groups_of

R32 = Provenance("32", "09/11/25", "2.625 minutes", "2025-09-11_VectSigmoidBFloat16", "bf16 Adam state, eps 1e-8")
R56 = Provenance("56", "12/31/25", "1.894 minutes", "2025-12-31_GatesToCompiledAdam", "fp32 Adam state, compiled Adam")


@ingredient(name="adam_state_precision", summary="Adam moments in fp32 (#56; bf16 in #32)", category="precision",
            provenance=(R32, R56), options={"state_dtype": "float32", "eps": None}, requires=("adam_groups",),
            doc=__doc__)
def INGREDIENT(spec, state_dtype, eps):
    if state_dtype not in STATE_DTYPES or state_dtype == "param":
        raise ValueError(f"adam_state_precision state_dtype must be float32 or bfloat16, got {state_dtype!r}")
    groups = dict(spec.optim)
    for name in groups_of(spec, *ADAM_KINDS):
        extra = {} if eps is None else {"eps": float(eps)}
        groups[name] = as_remix_adam(groups[name], state_dtype=state_dtype, **extra)
    return replace(spec, optim=groups)
