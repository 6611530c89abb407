"""The registries every slot of the spec is looked up in, and `build`, which makes a slot's component.

Engine code registers the base components (remix/model, remix/optim, remix/data); ingredient
modules register what they bring. Importing the catalogue (remix.ingredient.catalogue) loads both.
"""

from remix.registry import Registry

NORMS = Registry("norm")                  # model.norm
POSITIONS = Registry("positions")         # model.positions
ATTENTION = Registry("attention core")    # model.attention
MLPS = Registry("mlp")                    # model.mlp
LINEARS = Registry("linear kind")         # model.linears.<name> (roles chosen by the component's `roles`)
ACTIVATIONS = Registry("activation")      # model.activation
PARTS = Registry("part")                  # model.parts.<name>
STREAMS = Registry("residual stream")     # model.stream
HEADS = Registry("head")                  # model.head
LOGITS = Registry("logit transform")      # model.logits
LOSSES = Registry("loss")                 # model.loss
INITS = Registry("init")                  # model.init.*
OPTIMIZERS = Registry("optimizer")        # optim.<group>.optimizer
LR_SCHEDULES = Registry("lr schedule")    # schedule.lr
MOMENTUM_SCHEDULES = Registry("momentum schedule")  # schedule.momentum
LOADERS = Registry("data loader")         # data.loader
STAGES = Registry("stages")               # schedule.stages
STEP_VALUES = Registry("step values")     # schedule.state.<name>
EVENTS = Registry("event")                # schedule.events.<name>
GRAD_SYNC = Registry("gradient sync")     # train.grad_sync


def slot_components(spec) -> list[tuple[str, Registry, object]]:
    """Every component the spec names, as (path, registry, component)."""
    m, s = spec.model, spec.schedule
    found = [(f"model.{name}", registry, getattr(m, name)) for name, registry in (
        ("norm", NORMS), ("positions", POSITIONS), ("attention", ATTENTION), ("mlp", MLPS),
        ("activation", ACTIVATIONS), ("stream", STREAMS), ("head", HEADS), ("logits", LOGITS), ("loss", LOSSES))]
    found += [(f"model.parts.{name}", PARTS, c) for name, c in m.parts.items()]
    found += [(f"model.linears.{name}", LINEARS, c) for name, c in m.linears.items()]
    found += [(f"model.init.{kind}", INITS, getattr(m.init, kind))
              for kind in ("embed", "positions", "qkv", "attn_out", "mlp_up", "mlp_down", "head")]
    found += [("schedule.lr", LR_SCHEDULES, s.lr), ("schedule.momentum", MOMENTUM_SCHEDULES, s.momentum),
              ("schedule.stages", STAGES, s.stages), ("data.loader", LOADERS, spec.data.loader),
              ("train.grad_sync", GRAD_SYNC, spec.train.grad_sync)]
    found += [(f"schedule.state.{name}", STEP_VALUES, c) for name, c in s.state.items()]
    found += [(f"schedule.events.{name}", EVENTS, c) for name, c in s.events.items()]
    return found


def build(registry: Registry, component, *args):
    """The component's builder called with its checked config, then `args`."""
    return registry.get(component.name)(registry.config(component.name, component.args), *args)
