"""Recipes: a base, an ordered list of ingredients (with options), overrides and a target, from TOML.

    name = "muon_baseline"
    base = "llmc_gpt2"
    target = 3.28
    ingredients = ["rope", "rmsnorm", ...]
    [options.rope]          # an ingredient's options
    frequencies = "truncated"
    [overrides]             # dotted spec paths, applied after every ingredient
    train.steps = 2500

Everything is checked here, before any tensor exists; a problem is a RecipeError that names the file,
the key (and line) and what was expected.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from remix import ingredient as catalogue_mod
from remix.bases import BASES, base_spec
from remix.registry import RegistryError, suggest
from remix.spec import Spec, SpecError

KEYS = {"name": str, "description": str, "base": str, "target": float, "seed": int,
        "ingredients": list, "options": dict, "overrides": dict}
REQUIRED = ("name", "base", "ingredients")


class RecipeError(ValueError):
    def __init__(self, file: str, key: str, message: str, line: int | None = None):
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")
        self.file, self.key, self.line = file, key, line


@dataclass(frozen=True)
class Recipe:
    name: str
    base: str
    ingredients: tuple[tuple[str, dict[str, Any]], ...]   # (name, options) in order
    target: float = 3.28
    seed: int = 0
    description: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    path: str = "<recipe>"
    text: str = ""
    variant: dict[str, Any] = field(default_factory=lambda: {"kind": "full"})

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.ingredients]

    # -- variants ---------------------------------------------------------------------------------
    def prefixes(self) -> list["Recipe"]:
        """The base alone, then base + the first ingredient, … up to the full recipe."""
        n = len(self.ingredients)
        return [replace(self, ingredients=self.ingredients[:k],
                        variant={"kind": "prefix", "index": k, "size": n + 1,
                                 "last": self.ingredients[k - 1][0] if k else None})
                for k in range(n + 1)]

    def drop(self, *names: str) -> "Recipe":
        for name in names:
            if name not in self.names:
                raise RecipeError(self.path, "ingredients", f"cannot drop {name!r}: not in the recipe"
                                  f"{suggest(name, self.names)} (it has: {', '.join(self.names)})")
        kept = tuple((n, o) for n, o in self.ingredients if n not in names)
        for n, _ in kept:
            needed = [r for r in catalogue_mod.get(n).requires if r in names]
            if needed:
                raise RecipeError(self.path, "ingredients", f"cannot drop {', '.join(map(repr, needed))}: "
                                  f"{n!r} requires it; drop {n!r} too")
        dropped = [*self.variant.get("dropped", []), *names] if self.variant.get("kind") == "drop" else list(names)
        variant = {"kind": "drop", "dropped": dropped, **_added(self.variant)}
        return _checked(replace(self, ingredients=kept, variant=variant))

    def add(self, name: str, position: int | None = None, options: dict | None = None) -> "Recipe":
        if name in self.names:
            raise RecipeError(f"--add {name}", "", f"{name!r} is already in {self.name} (position "
                              f"{self.names.index(name)} of {', '.join(self.names)}); to move it, --drop it and "
                              f"--add {name}@POSITION")
        items = list(self.ingredients)
        pos = self.add_position(name) if position is None else position
        if not 0 <= pos <= len(items):
            raise RecipeError(self.path, "ingredients", f"cannot add {name!r} at position {pos}: "
                              f"positions run from 0 to {len(items)}")
        items.insert(pos, (name, dict(options or {})))
        variant = {**self.variant, "kind": "drop" if self.variant.get("kind") == "drop" else "add",
                   "added": [*self.variant.get("added", []), name]}
        try:
            return _checked(replace(self, ingredients=tuple(items), variant=variant))
        except RecipeError as e:   # the addition made the clash: blame it, not a line of the recipe's file
            raise RecipeError(f"--add {name}", "", f"{self.name} ({self.path}) plus {name}: "
                              + str(e).split(": ", 1)[1]) from None

    def add_position(self, name: str) -> int:
        """Where `add` puts `name` without a position: last, except that an ingredient which changes the
        math goes before the recipe's closing same-math ingredients (kernels and mask builds, as A and M
        end with), so that they still apply to what it changes and a prefix sweep still ends with them."""
        if name in catalogue_mod.catalogue() and not catalogue_mod.get(name).math_equivalent:
            return self.kernels_start()
        return len(self.ingredients)

    def kernels_start(self) -> int:
        """Where the recipe's closing run of same-math ingredients begins (its length if it has none)."""
        k = len(self.ingredients)
        while k and catalogue_mod.get(self.ingredients[k - 1][0]).math_equivalent:
            k -= 1
        return k

    def plus(self, name: str) -> "Recipe":
        """The recipe plus `name` as a catalogue table means it: its requirements first, each where `add`
        puts it, less the recipe's same-math ingredients that conflict with it (M's fused cross-entropy
        has no multi-token term: M plus multi_token_prediction trains the plain loss)."""
        cat = catalogue_mod.catalogue()
        if name not in cat:
            raise RecipeError(self.path, "ingredients", f"unknown ingredient {name!r}{suggest(name, cat)}; "
                              f"`remix ingredients` lists them")
        if name in self.names:
            raise RecipeError(self.path, "ingredients", f"{name!r} is already in {self.name}")

        out = self
        for n in with_requirements(name):
            if n in out.names:
                continue
            clash = [c for c in out.names if c in cat[n].conflicts or n in cat[c].conflicts]
            if clash and all(cat[c].math_equivalent for c in clash):
                out = out.drop(*clash)
            out = out.add(n)
        return out

    def without_kernels(self) -> "Recipe":
        """The recipe less the same-math ingredients it closes with (A's and M's mask build and fused
        loss): its math on the plain paths, which those kernels are checked against."""
        k = self.kernels_start()
        return self.drop(*self.names[k:]) if k < len(self.ingredients) else self

    # -- resolution -------------------------------------------------------------------------------
    def resolve(self) -> "Resolved":
        """The spec (base → ingredients in order → overrides) and, for every path, what set it last."""
        spec = base_spec(self.base)
        paths = spec.paths()
        source = dict.fromkeys(paths, "base")
        for name, options in self.ingredients:
            try:
                spec = catalogue_mod.get(name).apply(spec, options)
            except (RegistryError, SpecError) as e:
                raise RecipeError(self.path, f"options.{name}", str(e),
                                  line_of(self.text, f"options.{name}") or line_of(self.text, name)) from None
            before, paths = paths, spec.paths()
            source.update((path, name) for path, value in paths.items() if before.get(path, _MISSING) != value)
        skipped = []
        for path, value in self.overrides.items():
            try:
                spec = spec.set(path, value)
                source[path] = "override"
            except SpecError as e:
                if self.variant.get("kind") == "full":
                    raise RecipeError(self.path, f"overrides.{path}", str(e), line_of(self.text, path)) from None
                skipped.append(path)   # the path belongs to an ingredient this variant leaves out
        paths = spec.paths()
        return Resolved(spec, {p: s for p, s in source.items() if p in paths}, tuple(skipped))


class Resolved(NamedTuple):
    spec: Spec
    source: dict[str, str]        # path -> what set it last: base, an ingredient, override, scale, --set
    skipped: tuple[str, ...]      # overrides of paths this variant does not have (its ingredient is left out)


_MISSING = object()


def _added(variant: dict) -> dict:
    return {"added": variant["added"]} if variant.get("added") else {}


def line_of(text: str, key: str) -> int | None:
    """The line a key (or an ingredient's name) stands on: a table header, a quoted name, or the
    `key = value` line whose full dotted path (table + key) is the key or the override of that path."""
    lines = [(i, line.split("#", 1)[0]) for i, line in enumerate(text.splitlines(), 1)]
    for i, line in lines:
        if line.strip() == f"[{key}]":
            return i
    for i, line in lines:
        if f'"{key}"' in line:
            return i
    section, last = "", None
    for i, line in lines:
        header = re.match(r"\s*\[([^\]]+)\]", line)
        if header:
            section = header.group(1).strip()
            continue
        assignment = re.match(r"\s*([\w.\"-]+)\s*=", line)
        if not assignment:
            continue
        name = assignment.group(1).replace('"', "")
        full = f"{section}.{name}" if section else name
        if full in (key, f"overrides.{key}"):
            return i
        within = full.startswith((f"{key}.", f"overrides.{key}."))   # a component's argument under the key
        if last is None and (within or name.split(".")[-1] == key.split(".")[-1]):
            last = i
    return last


def load_recipe(path: str | Path) -> Recipe:
    path = Path(path)
    file = str(path)
    if not path.exists():
        raise RecipeError(file, "", "no such file")
    if path.is_dir():
        raise RecipeError(file, "", "is a directory, expected a recipe .toml file")
    raw = path.read_bytes()
    if b"\0" in raw:
        raise RecipeError(file, "", "is a binary file, expected TOML text")
    if raw.startswith(b"\xef\xbb\xbf"):
        raise RecipeError(file, "", "starts with a UTF-8 byte-order mark (BOM), which TOML does not allow; "
                                    "save it as UTF-8 without BOM", 1)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RecipeError(file, "", "is not UTF-8 text, expected TOML") from None
    if not text.strip():
        raise RecipeError(file, "", "is empty; a recipe needs at least name, base and ingredients")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        raise RecipeError(file, "", f"invalid TOML: {e}", int(m.group(1)) if m else None) from None
    return parse_recipe(data, file=file, text=text)


def parse_recipe(data: dict[str, Any], *, file: str = "<recipe>", text: str = "") -> Recipe:
    def err(key: str, message: str) -> RecipeError:
        return RecipeError(file, key, message, line_of(text, key))

    for key in data:
        if key not in KEYS:
            raise err(key, f"unknown key{suggest(key, KEYS)}; a recipe has: {', '.join(KEYS)}")
    for key in REQUIRED:
        if key not in data:
            raise RecipeError(file, key, "missing; a recipe needs name, base and ingredients")
    for key, typ in KEYS.items():
        if key in data:
            value = data[key]
            ok = isinstance(value, typ) and not isinstance(value, bool) or (typ is float and isinstance(value, int)
                                                                              and not isinstance(value, bool))
            if not ok:
                raise err(key, f"expected {typ.__name__}, got {value!r}")
    if data["base"] not in BASES:
        raise err("base", f"unknown base {data['base']!r}{suggest(data['base'], BASES.names())}; "
                          f"known: {', '.join(BASES.names())}")
    target = float(data.get("target", 3.28))
    if target <= 0:
        raise err("target", f"must be a positive val loss, got {target}")
    seed = data.get("seed", 0)
    if seed < 0:
        raise err("seed", f"must be ≥ 0, got {seed}")

    options = data.get("options", {})
    names = data["ingredients"]
    cat = catalogue_mod.catalogue()
    items = []
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise err("ingredients", f"entry {i} must be an ingredient name (a string), got {name!r}")
        if name not in cat:   # before the options: a typo'd name would otherwise be blamed on its options
            raise RecipeError(file, "ingredients", f"unknown ingredient {name!r}{suggest(name, cat)}; "
                              f"`remix ingredients` lists them", line_of(text, name))
        opts = options.get(name, {})
        if not isinstance(opts, dict):
            raise err(f"options.{name}", f"expected a table of options, got {opts!r}")
        items.append((name, dict(opts)))
    for name in options:
        if name not in names:
            raise err(f"options.{name}", f"options for {name!r}, which is not in ingredients")
    recipe = Recipe(name=data["name"], base=data["base"], ingredients=tuple(items), target=target, seed=seed,
                    description=data.get("description", ""), overrides=_flatten(data.get("overrides", {})),
                    path=file, text=text)
    return _checked(recipe)


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """TOML's dotted keys arrive as nested tables; overrides are dotted paths. A table with a `name` is a
    component, and one with `optimizer` and `roles` an optimizer group: those are kept whole."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and "name" not in value and not {"optimizer", "roles"} <= set(value):
            out.update(_flatten(value, f"{path}."))
        else:
            out[path] = value
    return out


def with_requirements(name: str) -> list[str]:
    """`name` after what it requires, and what those require, each once, requirements first."""
    order: list[str] = []
    for needed in catalogue_mod.get(name).requires:
        order += [n for n in with_requirements(needed) if n not in order]
    return order + [name]


def _checked(recipe: Recipe) -> Recipe:
    """Names known, none twice, requirements met earlier in the order, no conflicts, options valid,
    and the spec resolves."""
    file, text = recipe.path, recipe.text
    cat = catalogue_mod.catalogue()
    seen: list[str] = []
    for name, opts in recipe.ingredients:
        if name not in cat:
            raise RecipeError(file, "ingredients", f"unknown ingredient {name!r}{suggest(name, cat)}; "
                              f"`remix ingredients` lists them", line_of(text, name))
        if name in seen:
            raise RecipeError(file, "ingredients", f"{name!r} is listed twice", line_of(text, name))
        ing = cat[name]
        missing = [r for r in ing.requires if r not in seen]
        if missing:
            where = [r for r in missing if r in recipe.names]
            hint = f"; move {', '.join(map(repr, where))} before it" if where else ""
            raise RecipeError(file, "ingredients", f"{name!r} requires {', '.join(map(repr, missing))} "
                              f"earlier in the order{hint}", line_of(text, name))
        clash = [c for c in seen if c in ing.conflicts or name in cat[c].conflicts]
        if clash:
            same = [n for n in (*clash, name) if cat[n].math_equivalent]
            hint = (f" ({same[0]!r} keeps the math: leave it out, e.g. `--drop {same[0]}`)" if same else "")
            raise RecipeError(file, "ingredients", f"{name!r} conflicts with {', '.join(map(repr, clash))}: "
                              f"keep one of them{hint}",
                              line_of(text, name))
        try:
            ing.resolve_options(opts)
        except RegistryError as e:
            key = f"options.{name}" + (f".{e.key}" if getattr(e, "key", None) else "")
            raise RecipeError(file, key, str(e), line_of(text, key) or line_of(text, f"options.{name}")
                              or line_of(text, name)) from None
        seen.append(name)
    recipe.resolve()   # overrides: paths exist and values have the right types
    return recipe
