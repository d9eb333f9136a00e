"""Several processes training one model: PyTorch DistributedDataParallel under ``torchrun``.

    torchrun --nproc_per_node 2 -m anime_gan train --config configs/s003_dcgan.yaml

``torchrun`` sets RANK, WORLD_SIZE and LOCAL_RANK; ``DistributedContext.from_environment``
reads them and joins the process group (gloo on CPUs, NCCL on GPUs). Without torchrun
the context is a single process and nothing here does any work. The training loop
wraps its networks with ``wrap``, keeps its writes to ``is_main``, and averages its
logged losses with ``mean``; the data stream shards every batch by rank.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls, device_type: str = "cpu") -> "DistributedContext":
        """The context torchrun describes in the environment (a single process without it), joined."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        if not dist.is_initialized():
            if device_type == "cuda":
                # This process's GPU before NCCL starts: otherwise every process's communicator is set up on GPU 0
                # (the current device), and device_id binds the group to the GPU, so it connects right away.
                torch.cuda.set_device(local_rank)
                dist.init_process_group(backend="nccl", device_id=torch.device("cuda", local_rank))
            else:
                dist.init_process_group(backend="gloo")
        return cls(rank=rank, world=world, local_rank=local_rank)

    def device(self, device: torch.device) -> torch.device:
        """One GPU per process: cuda -> cuda:<local rank>; other devices unchanged."""
        if self.enabled and device.type == "cuda":
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return device

    def wrap(self, module: nn.Module) -> nn.Module:
        """DistributedDataParallel around ``module``; the module itself in a single process."""
        if not self.enabled:
            return module
        device = next(module.parameters()).device
        return nn.parallel.DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The element-wise mean of ``values`` over all processes."""
        if not self.enabled:
            return values
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values / self.world

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside a DistributedDataParallel wrapper (or the network itself)."""
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module
