"""The two pixel ranges of the package: uint8 images as stored, floats in [-1, 1] as the networks see them."""

from __future__ import annotations

import torch


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 images in [0, 255] -> float32 in [-1, 1] (the generator's tanh range)."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] -> uint8 in [0, 255], rounded, on the CPU."""
    return images.detach().float().add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8).cpu()
