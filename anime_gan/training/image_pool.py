"""CycleGAN's pool of past fakes: the discriminators also see images from earlier generator states.

Shrivastava et al. 2017 and Zhu et al. 2017 update the discriminator with a mix of the newest translations and
older ones, so it does not chase only the generator's latest mode. The pool holds up to ``size`` past images;
``query(batch)`` answers image by image:

- while the pool holds fewer than ``size`` images, the new image is stored and returned as it is;
- once it is full, with probability 1/2 a uniformly chosen stored image is returned and the new image takes its
  place, and otherwise the new image is returned and the pool is unchanged.

Size 0 turns the pool off (every batch passes through). All randomness comes from the ``torch.Generator`` the
pool is given, and ``state_dict()`` holds the stored images with that generator's state, so a resumed run draws
exactly what the uninterrupted run would have. Give the pool a generator of its own: restoring the pool restores
the generator.
"""

from __future__ import annotations

from typing import Any

import torch

from anime_gan.errors import ConfigError, DataError

DEFAULT_SIZE = 50  # CycleGAN's pool size


class ImagePool:
    """Up to ``size`` past images of shape (C, H, W); ``query`` swaps them into the batches it is given."""

    def __init__(
        self,
        size: int = DEFAULT_SIZE,  # images kept; 0 = no pool, batches pass through
        *,
        generator: torch.Generator,  # a seeded CPU generator used by this pool only
    ) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ConfigError(f"image pool size must be a non-negative integer (CycleGAN: 50; 0 turns it off), got {size!r}")
        if not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
            raise ConfigError("the image pool needs a seeded CPU torch.Generator, e.g. torch.Generator().manual_seed(0)")
        self.size = size
        self.generator = generator
        self.images: list[torch.Tensor] = []  # detached copies, (C, H, W) each

    def __len__(self) -> int:
        return len(self.images)

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """A batch like ``images`` (N, C, H, W), detached (it feeds the discriminator's update only)."""
        images = images.detach()
        if self.size == 0 or len(images) == 0:
            return images
        if self.images and images.shape[1:] != self.images[0].shape:
            raise DataError(f"the image pool holds images of shape {tuple(self.images[0].shape)}, "
                            f"got a batch of {tuple(images.shape[1:])}")
        out = []
        for image in images:
            if len(self.images) < self.size:  # filling up: keep it and pass it on
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand((), generator=self.generator).item() < 0.5:  # a past image instead, the new one stays
                index = int(torch.randint(self.size, (), generator=self.generator))
                out.append(self.images[index].to(image.device))
                self.images[index] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)  # (N, C, H, W)

    def state_dict(self) -> dict[str, Any]:
        """The stored images (K, C, H, W) on the CPU and the generator's state."""
        stored = torch.stack([image.cpu() for image in self.images]) if self.images else torch.empty(0)
        return {"size": self.size, "images": stored, "generator_state": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any], device: torch.device | str | None = None) -> None:
        """The stored images and the generator's state of ``state``; the images go to ``device`` (the training
        device, where the batches they are swapped into live) when given."""
        if state.get("size") != self.size:
            raise ConfigError(f"the checkpoint's image pool has size {state.get('size')!r}, this run's {self.size}; "
                              "resume with the same pool size")
        stored = state["images"]
        if len(stored) > self.size:
            raise DataError(f"the checkpoint's image pool holds {len(stored)} images, more than its size {self.size}")
        self.images = [image.to(device if device is not None else image.device, copy=True) for image in stored]
        self.generator.set_state(state["generator_state"])
