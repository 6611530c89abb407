"""Kernels the catalogue's systems ingredients run, each next to its torch reference path.

Nothing here imports triton (or any kernel library) when the package is imported: the Triton modules
(`ce`, `relu2`) are imported by the components that use them, on a CUDA device, when a model is built.
`fp8` is plain torch (torch._scaled_mm on CUDA, an exact emulation elsewhere).
"""


def triton_available() -> bool:
    """Whether the triton package can be imported (without importing it)."""
    import importlib.util
    return importlib.util.find_spec("triton") is not None
