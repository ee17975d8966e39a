"""Several training processes, one per GPU, started by torchrun: who this process is, and collectives.

`torchrun --nproc_per_node=N -m stylelib train ...` starts N copies of the command and tells each
its place through the environment (RANK, WORLD_SIZE, LOCAL_RANK; MASTER_ADDR and MASTER_PORT for
the rendezvous). Each process trains on its own slice of every batch; DistributedDataParallel
averages the gradients, so all copies of the networks stay identical. NCCL connects GPUs, gloo
connects CPU processes (the tests run two of those). A plain `python -m stylelib train` is the
one-process case: rank 0 of a world of 1, with no process group at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class ProcessInfo:
    """This process's place among the training processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0, the only process that writes files and prints."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1


def process_info() -> ProcessInfo:
    """Read this process's rank from the variables torchrun sets (one process when they are absent)."""
    try:
        return ProcessInfo(
            int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))
        )
    except ValueError as error:
        raise ValueError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers (set by torchrun): {error}") from error


def start(info: ProcessInfo, device: torch.device) -> None:
    """Join the process group (NCCL for CUDA, gloo otherwise) when several processes train."""
    if not info.is_distributed or dist.is_initialized():
        return
    if "MASTER_ADDR" not in os.environ:
        raise ValueError("WORLD_SIZE > 1 but MASTER_ADDR is not set: start multi-process training with torchrun")
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=info.rank, world_size=info.world_size)


def stop() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()


def all_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The sum of `tensor` over all processes (the tensor itself in one process); no gradient flows."""
    if not dist.is_initialized():
        return tensor
    total = tensor.detach().clone()
    dist.all_reduce(total)
    return total


def all_mean(tensor: torch.Tensor) -> torch.Tensor:
    """The mean of `tensor` over all processes."""
    return all_sum(tensor) / (dist.get_world_size() if dist.is_initialized() else 1)


def barrier() -> None:
    """Wait until every process gets here (a no-op in one process)."""
    if dist.is_initialized():
        dist.barrier()
