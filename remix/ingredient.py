"""Ingredients: one named, toggleable change to the spec, with its card.

Each module in the top-level `ingredients` package defines one `INGREDIENT`. `apply(spec, **options)`
is pure: it returns a changed copy of the spec and never touches anything else. Options are the
ingredient's parameters (where two records did the same thing differently); their defaults are what
the A and M baselines use, and a recipe may set them.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Callable

from remix.registry import Registry, RegistryError, check_type, suggest
from remix.spec import Spec

CATEGORIES = ("architecture", "optimizer", "hyperparameters", "attention", "data", "precision",
              "systems", "schedule")


class OptionError(RegistryError):
    """A bad ingredient option; `key` names it where it can be told."""
    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Provenance:
    """The speedrun record that introduced (or changed) the ingredient."""
    record: str            # "5", "21 (3.014)", or "" where no record introduced it
    date: str              # MM/DD/YY as in the speedrun README
    time: str              # the record's time, e.g. "15.2 minutes"
    folder: str = ""       # records/track_1_short/<folder>
    note: str = ""


@dataclass(frozen=True)
class Ingredient:
    name: str
    summary: str
    category: str
    provenance: tuple[Provenance, ...]
    apply_fn: Callable[..., Spec]
    options: dict[str, Any] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    refines: tuple[str, ...] = ()    # ingredients whose settings this one changes on purpose (no warning in show)
    math_equivalent: bool = False
    card: str = ""         # the module's docstring: what, where from, what it requires, whether the math changes
    options_config: type | None = None   # a component config whose fields are the options (one source of defaults)

    def __post_init__(self):
        if self.category not in CATEGORIES:
            raise ValueError(f"ingredient {self.name!r}: category {self.category!r} is not one of {CATEGORIES}")

    def resolve_options(self, given: dict[str, Any] | None) -> dict[str, Any]:
        given = dict(given or {})
        if self.options_config is not None:   # the config checks names, types and ranges
            from remix.registry import make_config
            try:
                make_config(self.options_config, given, f"ingredient {self.name!r} options")
            except RegistryError as e:
                raise OptionError(str(e), self._culprit(given)) from None
            return {**self.options, **given}
        for key, value in given.items():
            if key not in self.options:
                raise RegistryError(f"ingredient {self.name!r} has no option {key!r}{suggest(key, self.options)}"
                                    f" (options: {', '.join(self.options) or 'none'})")
            default = self.options[key]
            check_type(value, type(default).__name__ if default is not None else "Any",
                       f"ingredient {self.name!r} option {key!r}")
        return {**self.options, **given}

    def _culprit(self, given: dict[str, Any]) -> str | None:
        """The option that fails on its own (a config checks its fields together, so its error may not say)."""
        from remix.registry import make_config
        for key, value in given.items():
            try:
                make_config(self.options_config, {key: value}, "")
            except RegistryError:
                return key
        return None

    def apply(self, spec: Spec, options: dict[str, Any] | None = None) -> Spec:
        return self.apply_fn(spec, **self.resolve_options(options))


def ingredient(*, name: str, summary: str, category: str, provenance, options=None, requires=(),
               conflicts=(), refines=(), math_equivalent=False, doc: str = "") -> Callable[[Callable[..., Spec]], Ingredient]:
    """Decorator that turns an `apply(spec, **options)` function into the module's INGREDIENT.

    `options` is a dict of defaults, or the config dataclass of the component the ingredient sets, whose
    fields (and defaults, and checks) are then the options."""
    provs = tuple(provenance) if isinstance(provenance, (list, tuple)) else (provenance,)
    config = options if dataclasses.is_dataclass(options) else None
    defaults = ({f.name: f.default for f in dataclasses.fields(config)} if config is not None else dict(options or {}))

    def make(fn: Callable[..., Spec]) -> Ingredient:
        return Ingredient(name=name, summary=summary, category=category, provenance=provs, apply_fn=fn,
                          options=defaults, requires=tuple(requires), conflicts=tuple(conflicts),
                          refines=tuple(refines), math_equivalent=math_equivalent, card=doc, options_config=config)

    return make


@cache
def catalogue() -> dict[str, Ingredient]:
    """Every ingredient in the `ingredients` package, by name (importing a module registers its components)."""
    import ingredients as package

    found: dict[str, Ingredient] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        ing = getattr(module, "INGREDIENT", None)
        if ing is None:
            continue
        if ing.name in found:
            raise RegistryError(f"ingredient {ing.name!r} is defined twice ({module.__name__})")
        if not ing.card:
            object.__setattr__(ing, "card", (module.__doc__ or "").strip())
        found[ing.name] = ing
    return found


def get(name: str) -> Ingredient:
    cat = catalogue()
    if name not in cat:
        raise RegistryError(f"unknown ingredient {name!r}{suggest(name, cat)}")
    return cat[name]
