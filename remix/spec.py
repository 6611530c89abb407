"""The Spec: plain, frozen data that says everything a run does.

base spec -> each ingredient's apply() in order -> recipe overrides -> validate.
A slot that can hold different code is a `Component`: a registered name plus its arguments.
Every field can be read and set by a dotted path ("model.n_layer", "model.positions.base",
"optim.hidden.lr"), which is how recipes override and how `remix show` explains provenance.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Component:
    """A slot's choice: the registered name of a component and its arguments."""
    name: str
    args: dict[str, Any] = field(default_factory=dict)

    def with_args(self, **changes: Any) -> "Component":
        return Component(self.name, {**self.args, **changes})


def C(name: str, **args: Any) -> Component:
    return Component(name, args)


@dataclass(frozen=True)
class InitSpec:
    """How the weights the model itself owns are initialised (names in the `inits` registry); a part
    initialises its own parameters from its own arguments."""
    embed: Component = C("normal", std=0.02)
    positions: Component = C("normal", std=0.02)
    qkv: Component = C("normal", std=0.02)
    attn_out: Component = C("normal", std=0.02, residual_scaled=True)
    mlp_up: Component = C("normal", std=0.02)
    mlp_down: Component = C("normal", std=0.02, residual_scaled=True)
    head: Component = C("normal", std=0.02)


@dataclass(frozen=True)
class LayerPlan:
    """What each layer holds, by layer index (0-based; the same indices at every scale)."""
    no_attention: tuple[int, ...] = ()   # layers whose attention is dropped (their MLP still runs)
    no_mlp: tuple[int, ...] = ()         # layers whose MLP is dropped
    short_window: tuple[int, ...] = ()   # layers that attend with the core's short window


@dataclass(frozen=True)
class ModelSpec:
    n_layer: int = 12
    d_model: int = 768
    n_head: int = 12
    head_dim: int = 64
    mlp_hidden: int = 3072
    vocab_size: int = 50257            # token ids the data can hold
    vocab_multiple: int = 1            # head rows padded up to a multiple of this
    bias: bool = True                  # biases in every linear layer (and norm, if it has a gain)
    param_dtype: str = "float32"       # float32 | bfloat16: every parameter and buffer ...
    dtypes: dict[str, str] = field(default_factory=dict)   # ... except roles given here: {"embed": "bfloat16"}
    norm: Component = C("layernorm", eps=1e-5)
    embed_norm: bool = False           # a norm right after the token embedding
    max_len: int = 1024                # the longest row the model will see (position tables are this long)
    positions: Component = C("learned")
    attention: Component = C("causal")  # the attention core (mask and kernel)
    qkv_layout: str = "linear"         # linear: GPT-2's one (3·inner, d) linear | stacked: a (3, inner, d) parameter
    qk_norm: str = "none"              # none | before_rope | after_rope
    attn_scale: float | None = None    # None: 1/sqrt(head_dim)
    mlp: Component = C("mlp")          # the MLP: up, activation, down
    linears: dict[str, Component] = field(default_factory=dict)   # linear kinds by role: {name: C(kind, roles=(…), …)}
    activation: Component = C("gelu_tanh")
    layers: LayerPlan = LayerPlan()
    parts: dict[str, Component] = field(default_factory=dict)   # extra inputs, residual wiring, attention hooks
    stream: Component = C("prenorm")   # the residual stream: owns the loop over layers
    tie_embeddings: bool = True
    head: Component = C("linear")      # the LM head
    logits: Component = C("plain")     # what is applied to the head's output (soft-caps)
    loss: Component = C("cross_entropy")
    init: InitSpec = InitSpec()


@dataclass(frozen=True)
class OptimGroup:
    """Parameters (chosen by role) and the optimizer that trains them."""
    optimizer: str
    roles: tuple[str, ...]
    lr: float
    args: dict[str, Any] = field(default_factory=dict)
    every: int = 1                     # steps per update: 2 = the group steps on odd steps, on two steps' gradients


@dataclass(frozen=True)
class ScheduleSpec:
    lr: Component = C("cosine", warmup=700, final=0.0)
    momentum: Component = C("constant")  # applies to every group whose optimizer has a momentum
    stages: Component = C("single")      # what changes shapes: batch, rows, document length (one compile each)
    state: dict[str, Component] = field(default_factory=dict)    # per-step values the model reads (windows …)
    events: dict[str, Component] = field(default_factory=dict)   # one-off changes at a step (untie the head …)


@dataclass(frozen=True)
class DataSpec:
    source: str = "fineweb"            # fineweb | embedded | a directory of *_train_*.bin / *_val_*.bin
    loader: Component = C("rank_slice")
    allow_epochs: bool = False         # cycle the train shards when a run needs more tokens than they hold


@dataclass(frozen=True)
class TrainSpec:
    steps: int = 19560
    seq_len: int = 1024
    tokens_per_step: int = 524288      # global batch, whatever the device count
    device_batch: int = 64             # sequences per device per micro-step (gradient accumulation fills the rest)
    grad_clip: float | None = 1.0
    autocast: str = "bfloat16"         # bfloat16 | none
    compile: bool | None = None        # None: on CUDA yes, on CPU no
    untimed_steps: int = 10             # untimed steps before the clock starts; state is restored after them
    extension_steps: int = 0           # steps after the schedule's `steps` (at its final values)
    grad_sync: Component = C("all_reduce")  # how the ranks' gradients are averaged (remix.grad_sync)


@dataclass(frozen=True)
class EvalSpec:
    every: int = 250
    tokens: int = 10485760
    seq_len: int | None = None         # None: the training seq_len
    device_batch: int | None = None    # None: the training device_batch


@dataclass(frozen=True)
class Spec:
    model: ModelSpec = ModelSpec()
    optim: dict[str, OptimGroup] = field(default_factory=dict)
    schedule: ScheduleSpec = ScheduleSpec()
    data: DataSpec = DataSpec()
    train: TrainSpec = TrainSpec()
    eval: EvalSpec = EvalSpec()

    # -- plain data -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Spec":
        return _from_plain(cls, d)

    def digest(self) -> str:
        return stable_hash(self.to_dict())

    # -- dotted paths -----------------------------------------------------------------------------
    def get(self, path: str) -> Any:
        node: Any = self
        for part in path.split("."):
            node = _child(node, part, path)
        return node

    def set(self, path: str, value: Any) -> "Spec":
        """A copy with `path` set to `value`; the value must have the type the field already has."""
        return _set(self, path.split("."), value, path)

    def remove(self, path: str) -> "Spec":
        """A copy without the entry at `path` (a part, an optimizer group, a role's dtype)."""
        *parent, key = path.split(".")
        entries = self.get(".".join(parent))
        if not isinstance(entries, dict) or key not in entries:
            raise SpecError(path, f"{path!r}: nothing to remove there")
        return _set(self, parent, {k: v for k, v in entries.items() if k != key}, path)

    def paths(self) -> dict[str, Any]:
        """Every leaf as {dotted path: value} (component names as 'slot.name', arguments as 'slot.arg')."""
        out: dict[str, Any] = {}
        _walk(self, "", out)
        return out


class SpecError(ValueError):
    """A path that does not exist or a value of the wrong type."""
    def __init__(self, path: str, message: str):
        super().__init__(message)
        self.path = path


def stable_hash(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- internals ------------------------------------------------------------------------------------

def _plain(obj: Any) -> Any:
    if isinstance(obj, Component):
        return {"name": obj.name, **{k: _plain(v) for k, v in obj.args.items()}}
    if is_dataclass(obj):
        return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _from_plain(cls: Any, d: Any) -> Any:
    if cls is Component:
        d = {k: _tuples(v) for k, v in d.items()}
        return Component(d.pop("name"), d)
    hints = {f.name: f for f in fields(cls)}
    kwargs = {}
    for name, value in d.items():
        f = hints[name]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        kind = str(f.type)
        if isinstance(default, Component):
            kwargs[name] = _from_plain(Component, value)
        elif is_dataclass(default):
            kwargs[name] = _from_plain(type(default), value)
        elif kind == "dict[str, OptimGroup]":
            kwargs[name] = {k: _group(v) for k, v in value.items()}
        elif kind == "dict[str, Component]":
            kwargs[name] = {k: _from_plain(Component, v) for k, v in value.items()}
        elif isinstance(value, list):
            kwargs[name] = tuple(_tuples(value))
        else:
            kwargs[name] = value
    return cls(**kwargs)


def _group(v: dict[str, Any]) -> OptimGroup:
    return OptimGroup(v["optimizer"], tuple(v["roles"]), v["lr"], {a: _tuples(x) for a, x in v.get("args", {}).items()},
                      v.get("every", 1))


def _tuples(v: Any) -> Any:
    return tuple(_tuples(x) for x in v) if isinstance(v, (list, tuple)) else v


def _child(node: Any, part: str, path: str) -> Any:
    if isinstance(node, Component):
        if part == "name":
            return node.name
        if part in node.args:
            return node.args[part]
        raise SpecError(path, f"{path!r}: component {node.name!r} has no argument {part!r}"
                              f" (it has: {', '.join(['name', *node.args])})")
    if isinstance(node, OptimGroup) and part not in _field_names(node):
        if part in node.args:
            return node.args[part]
        raise SpecError(path, f"{path!r}: this group has no {part!r} "
                              f"(it has: {', '.join([*_field_names(node), *node.args])})")
    if isinstance(node, dict):
        if part in node:
            return node[part]
        raise SpecError(path, f"{path!r}: no {part!r} here (there are: {', '.join(node) or 'none'})")
    if is_dataclass(node):
        names = _field_names(node)
        if part in names:
            return getattr(node, part)
        from remix.registry import suggest
        hint = " (the seed is not part of the spec: use --seed N, or `seed` in the recipe)" if path == "seed" else ""
        raise SpecError(path, f"{path!r}: no field {part!r}{suggest(part, names)}{hint} (fields: {', '.join(names)})")
    raise SpecError(path, f"{path!r}: {part!r} is below a plain value")


def _field_names(node: Any) -> list[str]:
    return [f.name for f in fields(node)]


def _set(node: Any, parts: list[str], value: Any, path: str) -> Any:
    head, rest = parts[0], parts[1:]
    # A component's arguments (and an optimizer group's) may be added: the registry checks them later.
    open_args = (isinstance(node, Component) and head != "name") or \
                (isinstance(node, OptimGroup) and head not in _field_names(node))
    if open_args and not rest and head not in node.args:
        new = value
    elif isinstance(node, dict) and not rest and head not in node:
        new = _entry(value, path)
    else:
        old = _child(node, head, path)
        new = _set(old, rest, value, path) if rest else _coerce(old, value, path)
    if isinstance(node, Component):
        return Component(new, dict(node.args)) if head == "name" else Component(node.name, {**node.args, head: new})
    if isinstance(node, OptimGroup) and head not in _field_names(node):
        return replace(node, args={**node.args, head: new})
    if isinstance(node, dict):
        return {**node, head: new}
    _check_declared(node, head, new, path)
    return replace(node, **{head: new})


_PLAIN = {"int", "float", "bool", "str", "None"}


def _check_declared(node: Any, name: str, value: Any, path: str) -> None:
    """A plain field is checked against its declared type (this also covers fields that are None now)."""
    from remix.registry import RegistryError, check_type
    declared = next(f.type for f in fields(node) if f.name == name)
    if not {t.strip() for t in str(declared).split("|")} <= _PLAIN:
        return
    try:
        check_type(value, declared, repr(path))
    except RegistryError as e:
        raise SpecError(path, str(e)) from None


def _entry(value: Any, path: str) -> Any:
    """A new entry of a named collection: a component (a table with a name), an optimizer group (a table
    with optimizer, roles and lr), or a plain value."""
    if isinstance(value, (Component, OptimGroup)):
        return value
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return _from_plain(Component, value)
    if isinstance(value, dict) and {"optimizer", "roles", "lr"} <= set(value):
        extra = {k: v for k, v in value.items() if k not in ("optimizer", "roles", "lr", "every")}
        return _group({"optimizer": value["optimizer"], "roles": value["roles"], "lr": value["lr"], "args": extra,
                       "every": value.get("every", 1)})
    if isinstance(value, dict):
        raise SpecError(path, f"{path!r} is a new entry: give a component (a table with a 'name') or an optimizer "
                              f"group (a table with 'optimizer', 'roles' and 'lr'), got {value!r}")
    return value


def _coerce(old: Any, value: Any, path: str) -> Any:
    """A new leaf value, checked against the one it replaces."""
    if isinstance(old, Component):
        if isinstance(value, Component):
            return value
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            return _from_plain(Component, value)
        raise SpecError(path, f"{path!r} is a component: give a table with a 'name', got {value!r}")
    if is_dataclass(old) or isinstance(old, dict) and not isinstance(value, dict):
        raise SpecError(path, f"{path!r} is a section, not a value: set one of its fields")
    if old is None or value is None:
        return value
    if isinstance(old, bool) != isinstance(value, bool):
        raise SpecError(path, f"{path!r} must be {type(old).__name__}, got {value!r}")
    if isinstance(old, float) and isinstance(value, int):
        return float(value)
    if isinstance(old, tuple) and isinstance(value, list):
        return tuple(value)
    if type(old) is not type(value):
        raise SpecError(path, f"{path!r} must be {type(old).__name__}, got {value!r} ({type(value).__name__})")
    return value


def _walk(node: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(node, Component):
        out[f"{prefix}name"] = node.name
        for k, v in node.args.items():
            out[f"{prefix}{k}"] = v
        return
    if isinstance(node, OptimGroup):
        for f in fields(node):
            if f.name != "args":
                out[f"{prefix}{f.name}"] = getattr(node, f.name)
        for k, v in node.args.items():
            out[f"{prefix}{k}"] = v
        return
    if is_dataclass(node):
        for f in fields(node):
            _walk(getattr(node, f.name), f"{prefix}{f.name}.", out)
        return
    if isinstance(node, dict):
        for k, v in node.items():
            _walk(v, f"{prefix}{k}.", out)
        return
    out[prefix[:-1]] = node
