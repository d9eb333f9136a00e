"""Extra fake sources: images other than G(z) that the discriminator must call fake.

BaMSGAN shows D two of them: edge-blurred real images (Algorithm 1) and a memory
bank of past generator samples. The training loop treats both the same way,
through the small protocol below, and knows neither by name.
"""

from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

import torch

from anime_gan.data.pixels import to_unit_range
from anime_gan.device import is_on, to_device_nowait


@runtime_checkable
class FakeSource(Protocol):
    name: str
    weight: float  # weight of this source's term in the discriminator loss

    def sample(self, n: int, epoch: float, device: torch.device) -> torch.Tensor | None:
        """A batch of images in [-1, 1] on ``device``, or None while the source is inactive."""

    def on_epoch_end(self, epoch: int, generate: Callable[[int], torch.Tensor]) -> None:
        """Called after each finished epoch with a function that draws n generator samples."""

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class BlurredImages:
    """Edge-blurred copies of real images (BaMSGAN Algorithm 1), replayed to D as fakes from the first step.

    The set moves to the training device at the first draw, like the real images: a batch is then a gather on
    the device. Which images are drawn comes from a seeded CPU generator, the same on every device.
    """

    name = "blur"

    def __init__(self, images: torch.Tensor, weight: float = 1.0, seed: int = 0) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4 or len(images) == 0:
            raise ValueError("blurred images must be a non-empty uint8 tensor of shape (N, 3, H, W)")
        self.images = images
        self.weight = weight
        self._rng = torch.Generator().manual_seed(seed)

    def sample(self, n: int, epoch: float, device: torch.device) -> torch.Tensor:
        index = torch.randint(len(self.images), (n,), generator=self._rng)
        if not is_on(self.images, device):
            self.images = self.images.to(device)
        return to_unit_range(self.images[to_device_nowait(index, device)])

    def on_epoch_end(self, epoch: int, generate: Callable[[int], torch.Tensor]) -> None:
        return None  # the blurred set is fixed

    def state_dict(self) -> dict:
        return {"rng": self._rng.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self._rng.set_state(state["rng"])

    def __len__(self) -> int:
        return len(self.images)
