"""Registries: the spec names a component, the builder asks the registry for it.

The model and trainer never name an ingredient. An ingredient that brings new code (a norm, a mask,
an optimizer) registers it here under a name, and its `apply` writes that name into the spec.
A component may own a config dataclass: the spec's arguments for it are checked against its fields.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")


class RegistryError(LookupError):
    pass


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    build: T
    config: type | None  # a dataclass whose fields are the component's arguments


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, config: type | None = None) -> Callable[[T], T]:
        if config is not None and not dataclasses.is_dataclass(config):
            raise TypeError(f"{self.kind} {name!r}: config must be a dataclass")

        def add(build: T) -> T:
            if name in self._entries:
                raise RegistryError(f"{self.kind} {name!r} is registered twice "
                                    f"({_where(self._entries[name].build)} and {_where(build)})")
            self._entries[name] = Entry(name, build, config)
            return build

        return add

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entry(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise RegistryError(f"unknown {self.kind} {name!r}{suggest(name, self._entries)}; "
                                f"known: {', '.join(self.names()) or 'none'}") from None

    def get(self, name: str) -> T:
        return self.entry(name).build

    def config(self, name: str, args: dict[str, Any]) -> Any:
        """The component's config built from the spec's arguments (raises on unknown or ill-typed keys)."""
        entry = self.entry(name)
        if entry.config is None:
            if args:
                raise RegistryError(f"{self.kind} {name!r} takes no arguments, got {sorted(args)}")
            return None
        return make_config(entry.config, args, f"{self.kind} {name!r}")


def steps(default: int) -> Any:
    """A config field that counts optimizer steps: `--scale tiny` and `--steps` rescale it with the run."""
    return dataclasses.field(default=default, metadata={"steps": True})


def tokens(default: int | None) -> Any:
    """A config field that is a length in tokens (a window, a block): `--scale tiny` shrinks it with the rows."""
    return dataclasses.field(default=default, metadata={"tokens": True})


def step_fields(cls: type | None) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.metadata.get("steps")] if cls is not None else []


def token_fields(cls: type | None) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.metadata.get("tokens")] if cls is not None else []


def make_config(cls: type, args: dict[str, Any], what: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in args if k not in fields]
    if unknown:
        k = unknown[0]
        raise RegistryError(f"{what} has no argument {k!r}{suggest(k, fields)}; "
                            f"it takes: {', '.join(fields) or 'nothing'}")
    for k, v in args.items():
        check_type(v, fields[k].type, f"{what} argument {k!r}")
    try:
        return cls(**args)
    except ValueError as e:   # a config's __post_init__ says which value is out of range
        raise RegistryError(f"{what}: {e}") from None


_SCALARS = {"int": int, "float": (int, float), "bool": bool, "str": str}


def check_type(value: Any, annotation: Any, what: str) -> None:
    """Checks a value against a plain annotation string ('int', 'float | None', 'tuple[float, ...]')."""
    ann = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    options = [a.strip().strip("'\"") for a in ann.strip("'\"").split("|")]
    for opt in options:
        if opt == "None" and value is None:
            return
        if opt in _SCALARS and value is not None:
            ok = isinstance(value, _SCALARS[opt]) and not (opt != "bool" and isinstance(value, bool))
            if ok:
                return
        if opt.startswith(("tuple", "list")) and isinstance(value, (list, tuple)):
            return
        if opt.startswith("dict") and isinstance(value, dict):
            return
        if opt == "Any":
            return
    raise RegistryError(f"{what} must be {ann}, got {value!r} ({type(value).__name__})")


def suggest(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _where(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
