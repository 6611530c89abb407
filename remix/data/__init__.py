"""The data layer: token shards, datasets named by source, and the loaders that batch them.

The loaders (rank_slice, bos_aligned) register in remix.slots.LOADERS when remix.data.loaders is
imported (remix.validate.load_components does it); the rest imports without torch, so commands that only
read shards or records start fast.
"""

from remix.data.errors import DataError
from remix.data.shards import load_tokens, read_header, write_shard
from remix.data.dataset import Dataset, open_dataset

__all__ = ["DataError", "Dataset", "open_dataset", "write_shard", "load_tokens", "read_header"]
