"""Quiet overrides: an ingredient that changes a spec path an earlier ingredient set, without requiring
it or declaring that it refines it. That is how ablations go wrong (drop the earlier one and nothing
changes; drop the later one and the earlier one's value comes back), so `remix show` names each one."""

from __future__ import annotations

from dataclasses import dataclass

from remix import ingredient as catalogue_mod
from remix.bases import base_spec


@dataclass(frozen=True)
class QuietOverride:
    path: str
    earlier: str      # the ingredient that set the path
    later: str        # the ingredient that changed it again

    def __str__(self) -> str:
        return f"{self.path}: set by {self.earlier}, changed again by {self.later} (neither requires nor refines it)"


def quiet_overrides(recipe) -> list[QuietOverride]:
    """Each (path, earlier, later) where `later` silently replaced `earlier`'s value. Choosing a component
    (its name) sets all of it; changing some arguments of the same component sets only those, so two
    ingredients that tune different arguments of one component do not override each other."""
    spec = base_spec(recipe.base)
    setter: dict[str, str] = {}
    paths = spec.paths()
    found = []
    for name, options in recipe.ingredients:
        ing = catalogue_mod.get(name)
        before, spec = spec, ing.apply(spec, options)
        new = spec.paths()
        slots = {p: _slot(spec, p) if p in new else _slot(before, p)
                 for p in {*paths, *new} if paths.get(p, _MISSING) != new.get(p, _MISSING)}
        chosen = {slot for p, slot in slots.items() if p == f"{slot}.name"}
        for key in sorted({slot if slot == p or slot in chosen else p for p, slot in slots.items()}):
            if key in chosen:   # a component chosen anew replaces whatever set it or any of its arguments
                earlier = [v for k, v in setter.items() if k == key or k.startswith(key + ".")]
                setter = {k: v for k, v in setter.items() if not k.startswith(key + ".")}
            else:               # an argument: what set it, or else what chose its component
                earlier = [setter.get(key) or setter.get(key.rsplit(".", 1)[0])]
            for e in dict.fromkeys(earlier):
                if e is not None and e != name and e not in (*ing.requires, *ing.refines):
                    found.append(QuietOverride(key, e, name))
            setter[key] = name
        paths = new
    return list(dict.fromkeys(found))


def _slot(spec, path: str) -> str:
    """A component's argument or name stands for the component's path."""
    from remix.spec import Component
    parent = path.rsplit(".", 1)[0]
    try:
        return parent if isinstance(spec.get(parent), Component) else path
    except Exception:
        return path


_MISSING = object()
