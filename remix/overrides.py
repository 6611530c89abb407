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
    """Each (path, earlier, later) where `later` silently replaced `earlier`'s value; a component counts
    once (its name and arguments are one choice)."""
    spec = base_spec(recipe.base)
    setter: dict[str, str] = {}
    paths = spec.paths()
    found = []
    for name, options in recipe.ingredients:
        ing = catalogue_mod.get(name)
        before, spec = spec, ing.apply(spec, options)
        new = spec.paths()
        changed = {_slot(spec, p) if p in new else _slot(before, p)
                   for p in {*paths, *new} if paths.get(p, _MISSING) != new.get(p, _MISSING)}
        for slot in sorted(changed):
            earlier = setter.get(slot)
            if earlier is not None and earlier != name and earlier not in (*ing.requires, *ing.refines):
                found.append(QuietOverride(slot, earlier, name))
            setter[slot] = name
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
