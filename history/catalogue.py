"""What the engine's ingredient catalogue holds, without depending on the engine being whole.

The catalogue is being built while this feature is used; an import or registration error there must
not stop `remix history` from listing records. The caller gets the names it could find, the records
each ingredient cites as its provenance, and, where the catalogue could not be read, a sentence
saying why (shown to the user; everything then counts as "not yet in the catalogue").
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Catalogue:
    names: frozenset[str] = frozenset()
    summaries: dict[str, str] = field(default_factory=dict)
    cites: dict[str, tuple[str, ...]] = field(default_factory=dict)   # name -> record keys in its provenance
    error: str | None = None

    def __contains__(self, name: str) -> bool:
        return name in self.names


def read_catalogue() -> Catalogue:
    try:
        from remix.ingredient import catalogue  # noqa: PLC0415 — the engine is optional here
        found = catalogue()
    except Exception as exc:  # any failure of a half-built catalogue is reported, never raised
        return Catalogue(error=f"the ingredient catalogue could not be read ({type(exc).__name__}: {exc}); "
                               "treating it as empty")
    summaries, cites = {}, {}
    for name, ing in found.items():
        summaries[name] = str(getattr(ing, "summary", ""))
        cites[name] = tuple(str(getattr(p, "record", "")) for p in getattr(ing, "provenance", ()) if getattr(p, "record", ""))
    return Catalogue(names=frozenset(found), summaries=summaries, cites=cites)
