"""The image convention of the style-transfer functions, and conversions into it.

Every method works on uint8 RGB numpy arrays of shape (H, W, 3), the layout of
OpenCV, scikit-image and PIL. The public functions also accept a uint8 torch
tensor (3, H, W), the layout of the prepared datasets, and then return one too.
"""

from __future__ import annotations

from typing import Union

import numpy as np
import torch

from anime_gan.errors import DataError

Image = Union[np.ndarray, torch.Tensor]  # (H, W, 3) uint8 array, or (3, H, W) uint8 tensor


def to_hwc(image: Image, role: str = "image") -> np.ndarray:
    """(H, W, 3) uint8 array or (3, H, W) uint8 tensor -> contiguous (H, W, 3) uint8 array."""
    if isinstance(image, torch.Tensor):
        if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] != 3:
            raise DataError(f"{role}: a tensor must be uint8 (3, H, W), got {image.dtype} {tuple(image.shape)}")
        return np.ascontiguousarray(image.detach().cpu().permute(1, 2, 0).numpy())  # (3, H, W) -> (H, W, 3)
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise DataError(f"{role}: an array must be uint8 (H, W, 3) RGB, got {array.dtype} {array.shape}")
    if min(array.shape[:2]) < 1:
        raise DataError(f"{role}: empty image of shape {array.shape}")
    return np.ascontiguousarray(array)


def like(result: np.ndarray, example: Image) -> Image:
    """Return ``result`` (H, W, 3) uint8 in the type of ``example``: unchanged, or as a (3, H, W) tensor."""
    if isinstance(example, torch.Tensor):
        return torch.from_numpy(np.ascontiguousarray(result)).permute(2, 0, 1).contiguous()  # (H, W, 3) -> (3, H, W)
    return result


def to_unit_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float() / 255.0


def from_unit_tensor(image: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) float in [0, 1] -> (H, W, 3) uint8, rounded."""
    pixels = (image.detach()[0].clamp(0, 1) * 255.0).round().to(torch.uint8)  # (3, H, W)
    return np.ascontiguousarray(pixels.permute(1, 2, 0).cpu().numpy())
