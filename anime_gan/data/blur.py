"""BaMSGAN Algorithm 1: edge-blurred copies of real images, shown to D as fakes.

Canny marks edge pixels; the image is Gaussian-blurred; the blurred values are
copied onto the edge pixels only, so the face is intact except for soft edges.
OpenCV's Canny accepts the 3-channel image directly and, at each pixel, uses the
channel with the largest gradient (as the authors' code, which passed the colour
image). Here the blur is applied to the prepared images (after resizing), so the
set matches the training resolution; the thresholds (200, 500) and kernel (5)
are the authors' code's.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm.auto import tqdm

from anime_gan.data.cache import save_tensor, sha256_tensor
from anime_gan.errors import DataError

SELECTIONS = ("random", "first")  # the paper: random; the authors' code: the first files in directory order


def edge_blur(image: np.ndarray, canny_low: int = 200, canny_high: int = 500, kernel: int = 5) -> np.ndarray:
    """(H, W, 3) uint8 -> the same image with its Canny edge pixels replaced by a Gaussian-blurred version."""
    if image.dtype != np.uint8 or image.ndim != 3:
        raise DataError(f"edge_blur needs an (H, W, C) uint8 image, got {image.dtype} {image.shape}")
    edges = cv2.Canny(image, canny_low, canny_high) > 0  # (H, W) bool
    blurred = cv2.GaussianBlur(image, (kernel, kernel), 0)
    out = image.copy()
    out[edges] = blurred[edges]
    return out


def choose(n_images: int, fraction: float, seed: int = 0, selection: str = "random") -> torch.Tensor:
    """Sorted indices of the images that get a blurred copy: round(fraction * N), at least one."""
    if selection not in SELECTIONS:
        raise DataError(f"blur selection {selection!r} is not one of {SELECTIONS}")
    if not 0 < fraction <= 1:
        raise DataError(f"blur fraction must be in (0, 1], got {fraction}")
    count = max(1, round(n_images * fraction))
    if selection == "first":
        return torch.arange(count)
    return torch.randperm(n_images, generator=torch.Generator().manual_seed(seed))[:count].sort().values


def make_blur_set(
    images: torch.Tensor,
    fraction: float = 0.1,
    seed: int = 0,
    canny_low: int = 200,
    canny_high: int = 500,
    kernel: int = 5,
    selection: str = "random",
    cache_path: str | Path | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """uint8 (N, 3, H, W) real images -> uint8 (M, 3, H, W) edge-blurred copies of a chosen M = fraction * N of them.

    With ``cache_path`` the set is saved (atomically) and reused while the images and settings are the same.
    """
    settings = {"fraction": fraction, "seed": seed, "canny_low": canny_low, "canny_high": canny_high,
                "kernel": kernel, "selection": selection, "images_sha256": sha256_tensor(images)}
    key = hashlib.sha256(repr(sorted(settings.items())).encode()).hexdigest()
    if cache_path is not None and Path(cache_path).exists():
        cached = torch.load(cache_path, weights_only=True)
        if cached.get("key") == key:
            return cached["images"]
    index = choose(len(images), fraction, seed, selection)
    arrays = images[index].permute(0, 2, 3, 1).numpy()  # (M, H, W, 3)
    blurred = np.stack([edge_blur(np.ascontiguousarray(a), canny_low, canny_high, kernel)
                        for a in tqdm(arrays, desc="edge blur", disable=not progress)])
    result = torch.from_numpy(blurred).permute(0, 3, 1, 2).contiguous()
    if cache_path is not None:
        save_tensor({"key": key, "settings": settings, "indices": index, "images": result}, cache_path)
    return result
