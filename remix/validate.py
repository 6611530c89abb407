"""Checks a resolved spec before anything is built: every component resolves, numbers are in range,
the global batch divides over the devices, and every parameter has an optimizer group."""

from __future__ import annotations

from remix.slots import (ACTIVATIONS, ATTENTION, EVENTS, GRAD_SYNC, HEADS, INITS, LINEARS, LOADERS, LOGITS,
                         LOSSES, LR_SCHEDULES, MLPS, MOMENTUM_SCHEDULES, NORMS, OPTIMIZERS, PARTS, POSITIONS,
                         STAGES, STEP_VALUES, STREAMS)
from remix.registry import RegistryError
from remix.spec import Component, Spec, SpecError

CHOICES = {"model.param_dtype": ("float32", "bfloat16"), "model.qkv_layout": ("linear", "stacked"),
           "model.qk_norm": ("none", "before_rope", "after_rope"), "train.autocast": ("bfloat16", "none")}


def _component(registry, component: Component, path: str) -> None:
    try:
        registry.config(component.name, component.args)
    except RegistryError as e:
        raise SpecError(path, f"{path}: {e}") from None


def _positive(spec: Spec, *paths: str) -> None:
    for path in paths:
        value = spec.get(path)
        if value is not None and value <= 0:
            raise SpecError(path, f"{path} must be > 0, got {value}")


def validate_spec(spec: Spec, *, world: int = 1) -> None:
    """Raises SpecError naming the path of the first problem."""
    load_components()
    for path, allowed in CHOICES.items():
        if spec.get(path) not in allowed:
            raise SpecError(path, f"{path} must be one of {', '.join(allowed)}, got {spec.get(path)!r}")
    m, t, e = spec.model, spec.train, spec.eval
    _positive(spec, "model.n_layer", "model.d_model", "model.n_head", "model.head_dim", "model.mlp_hidden",
              "model.vocab_size", "model.vocab_multiple", "model.max_len", "train.steps", "train.seq_len", "train.tokens_per_step",
              "train.device_batch", "train.grad_clip", "eval.every", "eval.tokens", "eval.seq_len",
              "eval.device_batch")
    if t.untimed_steps < 0:
        raise SpecError("train.untimed_steps", f"train.untimed_steps must be ≥ 0, got {t.untimed_steps}")
    for slot, registry in (("norm", NORMS), ("positions", POSITIONS), ("attention", ATTENTION), ("mlp", MLPS),
                           ("activation", ACTIVATIONS), ("stream", STREAMS), ("head", HEADS), ("logits", LOGITS),
                           ("loss", LOSSES)):
        _component(registry, getattr(m, slot), f"model.{slot}")
    for name, part in m.parts.items():
        _component(PARTS, part, f"model.parts.{name}")
    for name, kind in m.linears.items():
        _component(LINEARS, kind, f"model.linears.{name}")
        if not kind.args.get("roles"):
            raise SpecError(f"model.linears.{name}", f"model.linears.{name}: a linear kind needs `roles` "
                            f"(role prefixes, e.g. ['matrix.mlp.up'])")
    for kind in ("embed", "positions", "qkv", "attn_out", "mlp_up", "mlp_down", "head"):
        _component(INITS, getattr(m.init, kind), f"model.init.{kind}")
    for role, dtype in m.dtypes.items():
        if dtype not in CHOICES["model.param_dtype"]:
            raise SpecError(f"model.dtypes.{role}", f"model.dtypes.{role} must be one of "
                            f"{', '.join(CHOICES['model.param_dtype'])}, got {dtype!r}")
    for field in ("no_attention", "no_mlp", "short_window"):
        for i in getattr(m.layers, field):
            if not isinstance(i, int) or not 0 <= i < m.n_layer:
                raise SpecError(f"model.layers.{field}", f"model.layers.{field}: layer {i!r} is not one of the "
                                f"model's layers 0..{m.n_layer - 1}")
    _component(LR_SCHEDULES, spec.schedule.lr, "schedule.lr")
    _component(MOMENTUM_SCHEDULES, spec.schedule.momentum, "schedule.momentum")
    _component(STAGES, spec.schedule.stages, "schedule.stages")
    for name, c in spec.schedule.state.items():
        _component(STEP_VALUES, c, f"schedule.state.{name}")
    for name, c in spec.schedule.events.items():
        _component(EVENTS, c, f"schedule.events.{name}")
    if t.extension_steps < 0:
        raise SpecError("train.extension_steps", f"train.extension_steps must be ≥ 0, got {t.extension_steps}")
    for name, g in spec.optim.items():
        if g.every < 1:
            raise SpecError(f"optim.{name}.every", f"optim.{name}.every must be ≥ 1, got {g.every}")
    _component(LOADERS, spec.data.loader, "data.loader")
    _component(GRAD_SYNC, t.grad_sync, "train.grad_sync")
    if not spec.optim:
        raise SpecError("optim", "optim has no groups: nothing would train")
    for name, g in spec.optim.items():
        path = f"optim.{name}"
        try:
            OPTIMIZERS.config(g.optimizer, g.args)
        except RegistryError as err:
            raise SpecError(path, f"{path}: {err}") from None
        if g.lr < 0:
            raise SpecError(f"{path}.lr", f"{path}.lr must be ≥ 0, got {g.lr}")
    per_micro = world * t.device_batch * t.seq_len
    if t.tokens_per_step % per_micro:
        # remix.batch has lowered the device batch where any smaller one splits the step: none does
        raise SpecError("train.tokens_per_step",
                        f"train.tokens_per_step = {t.tokens_per_step} does not divide into {world} device(s) × "
                        f"{t.device_batch} sequences × {t.seq_len} tokens = {per_micro} per micro-step, and no "
                        f"smaller device batch splits it (it must be a multiple of {world} device(s) × "
                        f"{t.seq_len} tokens = {world * t.seq_len}); change train.tokens_per_step, train.seq_len "
                        f"or the device count")
    _check_stages(spec, world)
    eval_seq, eval_batch = e.seq_len or t.seq_len, e.device_batch or t.device_batch
    if e.tokens % (world * eval_batch * eval_seq):
        raise SpecError("eval.tokens", f"eval.tokens = {e.tokens} does not divide into {world} device(s) × "
                        f"{eval_batch} sequences × {eval_seq} tokens")
    if max(eval_seq, t.seq_len) > m.max_len:
        raise SpecError("model.max_len", f"model.max_len = {m.max_len} is shorter than the rows the run uses "
                        f"({max(eval_seq, t.seq_len)} tokens)")
    _check_partition(spec)


def _check_stages(spec: Spec, world: int) -> None:
    from remix.stages import StepPlan
    try:
        plan = StepPlan(spec)
    except (RegistryError, ValueError) as err:
        raise SpecError("schedule", f"schedule: {err}") from None
    if len(plan.stages) == 1:
        return
    for st in plan.stages:
        per_micro = world * st.device_batch * st.seq_len
        if st.tokens_per_step % per_micro:
            raise SpecError("schedule.stages", f"schedule.stages: the stage from step {st.start} has "
                            f"{st.tokens_per_step} tokens per step, which do not divide into {world} device(s) × "
                            f"{st.device_batch} × {st.seq_len}")
        if st.seq_len > spec.model.max_len:
            raise SpecError("schedule.stages", f"schedule.stages: the stage from step {st.start} has rows of "
                            f"{st.seq_len} tokens, longer than model.max_len = {spec.model.max_len}")


def _check_partition(spec: Spec) -> None:
    from remix.model import build_model
    from remix.optim import PartitionError, partition
    from remix.model.roles import RoleError
    try:
        model = build_model(spec.model, bos_id=0, device="meta")
        roles = model.param_roles()
    except (RegistryError, RoleError, ValueError, RuntimeError) as err:
        raise SpecError("model", f"model: cannot be built: {err}") from None
    try:
        partition(roles, spec.optim)
    except PartitionError as err:
        raise SpecError("optim", f"optim: {err}") from None


def load_components() -> None:
    """Registers the engine's and every ingredient's components."""
    import remix.data.loaders  # noqa: F401
    import remix.grad_sync  # noqa: F401
    import remix.model  # noqa: F401
    import remix.optim  # noqa: F401
    import remix.stages  # noqa: F401
    from remix.ingredient import catalogue
    catalogue()


def check_capabilities(spec: Spec, device: str) -> None:
    """Refuses, before any training, a spec with a component this machine cannot run (FP8 on a CPU or
    a pre-Hopper GPU): raises remix.capability.CapabilityError naming the ingredient and what it needs."""
    from remix.capability import check
    load_components()
    check(spec, device)
