"""Process group set-up: one process per device under torchrun, or a single process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist


class DistributedError(RuntimeError):
    """The processes of one run could not form a process group."""


@dataclass(frozen=True)
class Dist:
    rank: int
    world: int
    device: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_reduce_avg(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            dist.all_reduce(tensor, op=dist.ReduceOp.AVG)
        return tensor


def setup(device: str | None) -> Dist:
    """Reads torchrun's environment; on CUDA each process takes the GPU of its local rank."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        extra = {"device_id": torch.device(device)} if backend == "nccl" else {}
        # A rank that cannot reach the others waits this long before saying so (torch's default is minutes).
        timeout = timedelta(seconds=float(os.environ.get("REMIX_DIST_TIMEOUT_S", "600")))
        try:
            dist.init_process_group(backend, timeout=timeout, **extra)
        except Exception as e:   # before any record or device time: say what to check
            raise DistributedError(
                f"the {backend} process group did not form (rank {rank} of {world}, master "
                f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}): {type(e).__name__}: "
                f"{str(e).splitlines()[0] if str(e) else ''}. Check that every rank can reach the master address and "
                f"port (firewall; on several nodes, --master is node 0's address), that every node was started "
                f"with the same --gpus and --nodes, the same torch version, and for NCCL: NCCL_DEBUG=INFO, "
                f"NCCL_SOCKET_IFNAME (gloo: GLOO_SOCKET_IFNAME)") from None
    return Dist(rank, world, device)
