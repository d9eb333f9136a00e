"""The order in which a training run sees its real images, as a pure function of how many it has drawn.

The images are read in passes; pass p is the permutation seeded by (seed, p), and
batches are consecutive stretches of the concatenated passes (a batch may straddle
two passes). Nothing but the count of images drawn is state, so a checkpoint that
stores that count resumes with exactly the same batches.

Each pass's permutation is drawn once on the CPU (the same numbers on every device)
and kept on the training device, so a batch of indices is a slice of a device tensor:
no copy from the host, and no wait for the device, per step.

Several processes (``world`` > 1) draw the same global batch and each keeps its own
contiguous share: rank r of W takes positions [r B/W, (r+1) B/W) of every batch, so
the shards are disjoint and together make the single-process batch.
"""

from __future__ import annotations

import torch

from anime_gan.device import to_device_nowait
from anime_gan.errors import ConfigError, DataError


def pass_permutation(n_images: int, seed: int, pass_index: int) -> torch.Tensor:
    """The order of pass ``pass_index`` over ``n_images`` images (CPU int64)."""
    rng = torch.Generator().manual_seed(seed * 1_000_003 + pass_index)
    return torch.randperm(n_images, generator=rng)


class RealImageStream:
    """Seeded batches of indices into a fixed image set, sharded over processes."""

    def __init__(
        self,
        n_images: int,  # size of the training set
        seed: int = 0,
        rank: int = 0,  # this process's index among ``world``
        world: int = 1,  # number of processes sharing each batch
        device: torch.device | str = "cpu",  # where the indices are used (the training device)
    ) -> None:
        if n_images < 1:
            raise DataError("the training set is empty")
        if not 0 <= rank < world:
            raise ConfigError(f"rank {rank} is not in [0, {world})")
        self.n_images, self.seed, self.rank, self.world = n_images, seed, rank, world
        self.device = torch.device(device)
        self._cache: dict[int, torch.Tensor] = {}

    def _permutation(self, pass_index: int) -> torch.Tensor:
        if pass_index not in self._cache:
            self._cache = {k: v for k, v in self._cache.items() if k >= pass_index - 1}  # keep at most two passes
            self._cache[pass_index] = to_device_nowait(pass_permutation(self.n_images, self.seed, pass_index),
                                                       self.device)
        return self._cache[pass_index]

    def global_indices(self, drawn: int, batch: int) -> torch.Tensor:
        """Indices of the ``batch`` images after the first ``drawn`` ones (all processes together), on the device."""
        pieces, position = [], drawn
        while position < drawn + batch:
            pass_index, offset = divmod(position, self.n_images)
            take = min(self.n_images - offset, drawn + batch - position)
            pieces.append(self._permutation(pass_index)[offset : offset + take])
            position += take
        return torch.cat(pieces)

    def shard(self, values: torch.Tensor, even: bool = True) -> torch.Tensor:
        """This process's contiguous share of a global batch (first dimension); ``even=False`` allows shares that
        differ by one (small extra batches such as BaMSGAN's 13 replayed images)."""
        if self.world == 1:
            return values
        if not even:
            return torch.tensor_split(values, self.world)[self.rank]
        if len(values) % self.world:
            raise ConfigError(f"a batch of {len(values)} cannot be split evenly over {self.world} processes; "
                              f"use a batch size divisible by {self.world}")
        share = len(values) // self.world
        return values[self.rank * share : (self.rank + 1) * share]

    def indices(self, drawn: int, batch: int) -> torch.Tensor:
        """This process's indices of the global batch after ``drawn`` images."""
        return self.shard(self.global_indices(drawn, batch))
