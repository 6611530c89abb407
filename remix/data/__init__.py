"""The data layer: token shards, datasets named by source, and the loaders that batch them.

Importing this package registers the loaders (rank_slice, bos_aligned) in remix.components.LOADERS.
"""

from remix.data.errors import DataError
from remix.data.shards import load_tokens, read_header, write_shard
from remix.data.dataset import Dataset, open_dataset
from remix.data import loaders as _loaders  # noqa: F401  (registers the loaders)

__all__ = ["DataError", "Dataset", "open_dataset", "write_shard", "load_tokens", "read_header"]
