"""Shared by the dropped-layer ingredients: add layers to a field of the layer plan (model.layers)."""

from remix.spec import Spec, SpecError


def drop(spec: Spec, field: str, layers: tuple[int, ...], who: str) -> Spec:
    """The spec with `layers` added to model.layers.<field> (kept sorted, each once)."""
    n = spec.model.n_layer
    for i in layers:
        if not 0 <= i < n:
            raise SpecError(f"model.layers.{field}", f"{who}: layer {i} does not exist in a model of {n} layers")
    path = f"model.layers.{field}"
    return spec.set(path, tuple(sorted({*spec.get(path), *layers})))
