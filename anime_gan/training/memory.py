"""BaMSGAN's memory bank: past generator samples, replayed to the discriminator as fakes.

Once training has settled (``store_from_epoch``), every epoch end stores
``per_epoch`` new samples; when the bank is full, randomly chosen old ones are
overwritten. From ``replay_from_epoch`` on, each discriminator step also sees a
random batch from the bank, labelled fake, so D keeps rejecting faces G used to
make. Unlike the authors' code, images stay in G's output range [-1, 1] (no
rescaling bug, no clipping) and the capacity is a hard limit.

Storage is float16 on the device the bank is used on (the training device): half
the memory of float32, and its 2^-11 relative precision is far below the 1/127.5
step between 8-bit pixel levels. A replayed batch is then a gather on the device,
with no copy from the host per D step. Which images are deleted and replayed is
drawn on the CPU from the bank's own seeded generator: the same on every device.
"""

from __future__ import annotations

from typing import Callable

import torch

from anime_gan.device import is_on, to_device_nowait


class MemoryBank:
    name = "memory"

    def __init__(
        self,
        capacity: int,  # images kept at most
        per_epoch: int,  # generator samples stored at each epoch end
        store_from_epoch: float,  # start storing once this many epochs have finished
        replay_from_epoch: float,  # start replaying at this (fractional) epoch
        weight: float = 1.0,  # weight of the memory term in the D loss
        seed: int = 0,  # seeds which images are deleted and replayed
    ) -> None:
        if capacity < 1 or per_epoch < 1:
            raise ValueError(f"memory bank needs capacity >= 1 and per_epoch >= 1, got {capacity} and {per_epoch}")
        self.capacity = capacity
        self.per_epoch = per_epoch
        self.store_from_epoch = store_from_epoch
        self.replay_from_epoch = replay_from_epoch
        self.weight = weight
        self._rng = torch.Generator().manual_seed(seed)
        self._images: torch.Tensor | None = None  # (capacity, C, H, W) float16, allocated at the first add
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, images: torch.Tensor) -> None:
        """Store images (in [-1, 1]); when full, each new image overwrites a randomly chosen OLD one.

        The batch that first overflows the bank fills the free slots and overwrites stored images for the rest,
        never the slots it has just filled itself.
        """
        if self._images is None:
            self._images = torch.empty((self.capacity, *images.shape[1:]), dtype=torch.float16, device=images.device)
        images = images.detach().to(self._images.device, torch.float16)
        start = self._size
        free = min(self.capacity - start, len(images))
        self._images[start : start + free] = images[:free]
        self._size += free
        rest = images[free:]
        if len(rest):
            old_slots = torch.cat([torch.arange(start), torch.arange(start + free, self.capacity)])
            if len(rest) > len(old_slots):  # more new images than old ones: the newest win
                rest = rest[len(rest) - len(old_slots):]
            # Random deletion: distinct victims among the old images.
            victims = old_slots[torch.randperm(len(old_slots), generator=self._rng)[: len(rest)]]
            self._images[to_device_nowait(victims, self._images.device)] = rest

    def on_epoch_end(self, epoch: int, generate: Callable[[int], torch.Tensor]) -> None:
        """``generate(n)`` draws n samples of the generator being trained (not its EMA copy, as the paper)."""
        if epoch >= self.store_from_epoch:
            self.add(generate(self.per_epoch))

    def sample(self, n: int, epoch: float, device: torch.device | str) -> torch.Tensor | None:
        """A random batch of stored images as float32 on ``device``, or None before replay starts or while empty."""
        if epoch < self.replay_from_epoch or self._size == 0:
            return None
        index = torch.randint(self._size, (n,), generator=self._rng)
        if not is_on(self._images, device):  # once: a bank restored from a checkpoint starts on the CPU
            self._images = self._images.to(device)
        return self._images[to_device_nowait(index, device)].float()

    def state_dict(self) -> dict:
        images = self._images[: self._size].to("cpu", copy=True) if self._images is not None else None
        return {"images": images, "capacity": self.capacity, "rng": self._rng.get_state()}

    def load_state_dict(self, state: dict) -> None:
        if state["capacity"] != self.capacity:
            raise ValueError(f"memory bank capacity {self.capacity} differs from the checkpoint's {state['capacity']}")
        self._rng.set_state(state["rng"])
        self._images, self._size = None, 0
        if state["images"] is not None and len(state["images"]):
            self._images = torch.empty((self.capacity, *state["images"].shape[1:]), dtype=torch.float16)
            self._size = len(state["images"])
            self._images[: self._size] = state["images"]
