"""`remix run --gpus N [--nodes M --node-rank R --master ADDR:PORT]`: one run over several processes.

The command starts torchrun (`python -m torch.distributed.run`) with the same command line less these
flags; each process it starts runs `remix run` as a rank (remix.distributed). Inside a torchrun the user
started (`torchrun ... -m remix run`), the flags only have to agree with it. With `--device cpu` the
processes are CPU processes talking over gloo (how the tests run it); else one per GPU over NCCL.

Everything that can be checked without the processes is checked first, so nothing is spent on a launch
that cannot work: the GPUs are there, the flags agree, the batch splits (remix.batch), the recipe is valid.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

LAUNCH_FLAGS = ("--gpus", "--nodes", "--node-rank", "--master")


class LaunchError(ValueError):
    pass


@dataclass(frozen=True)
class Launch:
    gpus: int = 1          # processes per node (one per GPU; CPU processes with --device cpu)
    nodes: int = 1
    node_rank: int = 0
    master: str | None = None   # ADDR:PORT of node 0

    @property
    def world(self) -> int:
        return self.gpus * self.nodes

    @property
    def wanted(self) -> bool:
        return self.world > 1 or self.master is not None


def check(launch: Launch, device: str | None) -> Launch:
    """Raises LaunchError naming the flag and what was expected."""
    if launch.gpus < 1:
        raise LaunchError(f"--gpus {launch.gpus}: expected at least 1 (processes per node)")
    if launch.nodes < 1:
        raise LaunchError(f"--nodes {launch.nodes}: expected at least 1")
    if not 0 <= launch.node_rank < launch.nodes:
        raise LaunchError(f"--node-rank {launch.node_rank}: expected 0..{launch.nodes - 1} for --nodes {launch.nodes}")
    if launch.nodes > 1 and launch.master is None:
        raise LaunchError(f"--nodes {launch.nodes}: needs --master ADDR:PORT, node 0's address and a free port, "
                          "the same on every node")
    if launch.master is not None:
        host, _, port = launch.master.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise LaunchError(f"--master {launch.master!r}: expected ADDR:PORT, e.g. node0.cluster:29500")
    running = inside_torchrun()
    if running is not None:
        if running != launch.world and launch.wanted:
            raise LaunchError(f"--gpus {launch.gpus} --nodes {launch.nodes} make {launch.world} processes, but this "
                              f"torchrun started WORLD_SIZE={running}; leave the flags out under torchrun")
        return launch
    if device == "cpu" or not launch.wanted:
        return launch   # --gpus counts CPU processes; one process runs wherever --device says
    import torch
    present = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if present == 0:
        raise LaunchError(f"--gpus {launch.gpus}: no GPU is visible here; add --device cpu to run {launch.gpus} "
                          "CPU processes (gloo) instead")
    if launch.gpus > present:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        raise LaunchError(f"--gpus {launch.gpus}: only {present} GPU(s) are visible on this node"
                          + (f" (CUDA_VISIBLE_DEVICES={visible})" if visible is not None else ""))
    return launch


def inside_torchrun() -> int | None:
    """The WORLD_SIZE of the torchrun this process is a rank of, or None."""
    if "TORCHELASTIC_RUN_ID" in os.environ or ("LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ):
        return int(os.environ.get("WORLD_SIZE", "1"))
    return None


def torchrun_args(launch: Launch) -> list[str]:
    args = [f"--nproc_per_node={launch.gpus}", f"--nnodes={launch.nodes}", f"--node_rank={launch.node_rank}"]
    if launch.master is None:
        return ["--standalone", *args]   # one node: torchrun picks a free port itself
    host, _, port = launch.master.rpartition(":")
    return [*args, f"--master_addr={host}", f"--master_port={port}"]


def without_launch_flags(argv: list[str]) -> list[str]:
    """The command line less --gpus/--nodes/--node-rank/--master (and their values)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in LAUNCH_FLAGS:
            skip = True
            continue
        if any(arg.startswith(flag + "=") for flag in LAUNCH_FLAGS):
            continue
        out.append(arg)
    return out


def relaunch(launch: Launch, argv: list[str]) -> int:
    """Runs `argv` (remix's own arguments, from the sub-command on) under torchrun; its exit status. Each
    rank's output is its own (torchrun prefixes nothing); rank 0 prints the run's lines."""
    cmd = [sys.executable, "-m", "torch.distributed.run", *torchrun_args(launch), "-m", "remix",
           *without_launch_flags(argv)]
    env = {**os.environ, "REMIX_LAUNCHED": "1"}
    # OMP threads: torchrun sets 1 per process when it starts several; say nothing about it here.
    return subprocess.run(cmd, env=env).returncode


def rendezvous_hint(launch: Launch) -> str:
    """What to check when the processes never trained (torchrun failed, or the process group did not form)."""
    where = launch.master or "the local rendezvous"
    return (f"check that every node can reach {where} (firewall, the address is node 0's), that every node was "
            f"started with the same --gpus and --nodes and its own --node-rank, the same remix and torch versions, "
            f"and for NCCL NCCL_SOCKET_IFNAME / NCCL_DEBUG=INFO (gloo: GLOO_SOCKET_IFNAME)")
