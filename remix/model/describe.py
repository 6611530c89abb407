"""What a spec's model computes, as text: layers, parts and their hook points, every parameter with its
shape, dtype, role and optimizer group (`remix show RECIPE --model`)."""

from __future__ import annotations

from remix.model.parts import HOOKS, overrides


def _ranges(layers: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5'."""
    out, start = [], None
    for i, layer in enumerate(layers):
        if start is None:
            start = layer
        if i + 1 == len(layers) or layers[i + 1] != layer + 1:
            out.append(f"{start}" if start == layer else f"{start}-{layer}")
            start = None
    return ", ".join(out)


def describe_model(spec) -> dict:
    """{'layers': [...], 'parts': [...], 'params': [...], 'total': n} for a spec, built on the meta device."""
    from remix.model import build_model
    from remix.optim import partition
    m = spec.model
    model = build_model(m, bos_id=0, device="meta")
    roles = model.param_roles()
    group_of = {name: g for g, names in partition(roles, spec.optim).items() for name in names}
    params = dict(model.named_parameters())
    layers = []
    for i, block in enumerate(model.blocks):
        attn = f"attention ({block.attn.window} window)" if block.attn is not None else "no attention"
        layers.append(f"{i:>2}: {attn}, {'MLP' if block.mlp is not None else 'no MLP'}")
    parts = []
    for name, part in model.parts.items():
        hooks = []
        for hook in HOOKS:
            if not overrides(part, hook):
                continue
            if hook in ("embed", "end"):
                hooks.append(hook)
            else:
                at = [i for i in range(m.n_layer) if part.attaches(hook, i)]
                hooks.append(f"{hook}@{_ranges(at)}" if at else f"{hook}@none")
        parts.append(f"{name} ({spec.model.parts[name].name}): {', '.join(hooks) or 'no hooks'}")
    rows = [(name, tuple(params[name].shape), str(params[name].dtype).replace("torch.", ""), role,
             group_of.get(name, "-"), params[name].numel()) for name, role in roles.items()]
    return {"layers": layers, "parts": parts, "params": rows, "total": sum(r[-1] for r in rows)}
