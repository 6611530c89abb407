import os
from pathlib import Path

# One thread per test process, set before torch loads (subprocesses inherit it): the suite runs in as many
# processes as there are cores (pytest -n auto), its tensors are small, and two processes each spinning two
# OpenMP threads on two cores run hundreds of times slower than one thread each.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "recipes"


@pytest.fixture(autouse=True, scope="session")
def _cache(tmp_path_factory):
    """The embedded corpus is built once per session into a private cache."""
    os.environ.setdefault("REMIX_CACHE", str(tmp_path_factory.mktemp("remix-cache")))


@pytest.fixture
def write_recipe(tmp_path):
    def write(text: str, name: str = "r.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path
    return write


def without_kernels(name: str = "muon_baseline.toml"):
    """A recipe (M by default) less the same-math kernels it closes with (Recipe.without_kernels)."""
    from remix.recipe import load_recipe
    return load_recipe(RECIPES / name).without_kernels()
