"""BaMSGAN Algorithm 1: edge-blurred copies of real images, shown to D as an extra kind of fake.

Algorithm 1, line by line: keep a copy of the image (line 1); Canny marks the edge
pixels (line 2); every NON-edge pixel of the working image is set to black (lines
3-9); that mostly black image is Gaussian-blurred (line 10); the blurred values are
copied onto the edge pixels of the kept copy (lines 11-17). Each edge pixel thus
becomes an average of its edge neighbours and black, so contours come out soft and
darker while the rest of the face is untouched, and D learns that such contours
mean "fake". The authors' code does the same. ``mode="algorithm1"`` (default) is
exactly this; ``mode="image"`` blurs the intact image instead (a softer variant
that changes edge pixels about 5x less on real faces), kept as an option.

Details that the paper leaves open, decided here:

- Colour input. ``cv2.Canny`` is given the 3-channel image, as the authors' code
  does (it reads the file with ``cv2.imread``): OpenCV then computes the Sobel
  gradients of each channel and keeps, per pixel, the channel with the largest
  gradient magnitude. That maximum does not depend on the channel order, so RGB
  here and BGR there mark the same edges. (A greyscale conversion first would
  miss edges between colours of equal brightness.)
- Resolution. The blur is applied to the prepared (resized) images, so the set
  matches the training resolution. The authors blurred the original ~96 px
  files, saved them as JPEG and resized at load time.
- Selection. The paper picks the images at random (``selection="random"``, seeded);
  the authors' code took the first files in directory order (``selection="first"``,
  here the first training images in file-name order).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm.auto import tqdm

from anime_gan.data.cache import save_tensor, sha256_tensor
from anime_gan.errors import DataError

SELECTIONS = ("random", "first")
MODES = ("algorithm1", "image")  # what is blurred: the edge pixels alone on black (the paper), or the whole image
CACHE_FORMAT = 2


def edge_mask(image: np.ndarray, canny_low: float = 200, canny_high: float = 500) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) bool: Canny edge pixels (gradients taken on the colour image, see module doc)."""
    return cv2.Canny(image, canny_low, canny_high) > 0


def edge_blur(image: np.ndarray, canny_low: float = 200, canny_high: float = 500, kernel: int = 5,
              mode: str = "algorithm1") -> np.ndarray:
    """(H, W, 3) uint8 RGB -> a copy whose Canny edge pixels are replaced by a Gaussian blur (kernel x kernel).

    mode="algorithm1": the blur of the image with every non-edge pixel set to black (BaMSGAN Algorithm 1 and the
    authors' code); mode="image": the blur of the intact image.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise DataError(f"edge_blur needs an (H, W, 3) uint8 array, got "
                        f"{getattr(image, 'dtype', type(image).__name__)} {getattr(image, 'shape', '')}")
    if kernel < 1 or kernel % 2 == 0:
        raise DataError(f"the Gaussian kernel size must be a positive odd number, got {kernel}")
    if mode not in MODES:
        raise DataError(f"edge blur mode {mode!r} is not one of {list(MODES)} (algorithm1: the paper)")
    image = np.ascontiguousarray(image)
    edges = edge_mask(image, canny_low, canny_high)  # (H, W): line 2
    to_blur = np.where(edges[..., None], image, 0).astype(np.uint8) if mode == "algorithm1" else image  # lines 3-9
    blurred = cv2.GaussianBlur(to_blur, (kernel, kernel), 0)  # line 10; sigma from the kernel size (OpenCV default)
    out = image.copy()  # line 1
    out[edges] = blurred[edges]  # lines 11-17
    return out


def choose_blurred(n_images: int, fraction: float = 0.1, seed: int = 0, selection: str = "random") -> torch.Tensor:
    """Sorted indices of the images that get a blurred copy: round(fraction * n_images) of them, at least one."""
    if selection not in SELECTIONS:
        raise DataError(f"blur selection {selection!r} is not one of {SELECTIONS} (random: the paper; first: the "
                        f"authors' code)")
    if not 0.0 < fraction <= 1.0:
        raise DataError(f"blur fraction must be in (0, 1], got {fraction}")
    if n_images < 1:
        raise DataError("the blur set needs at least one training image")
    count = max(1, round(n_images * fraction))
    if selection == "first":
        return torch.arange(count)
    return torch.randperm(n_images, generator=torch.Generator().manual_seed(seed))[:count].sort().values


def make_blur_set(
    images: torch.Tensor,
    fraction: float = 0.1,
    seed: int = 0,
    canny_low: float = 200,
    canny_high: float = 500,
    kernel: int = 5,
    selection: str = "random",
    mode: str = "algorithm1",
    cache_path: str | Path | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """uint8 (N, 3, H, W) training images -> uint8 (M, 3, H, W) edge-blurred copies of M = round(fraction * N).

    With ``cache_path`` the set is saved atomically (with its indices and settings) and reused while the
    images and settings are the same.
    """
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise DataError(f"make_blur_set needs uint8 images (N, 3, H, W), got "
                        f"{getattr(images, 'dtype', type(images).__name__)} {tuple(getattr(images, 'shape', ()))}")
    settings = {"format": CACHE_FORMAT, "fraction": fraction, "seed": seed, "canny_low": canny_low,
                "canny_high": canny_high, "kernel": kernel, "selection": selection, "mode": mode,
                "images_sha256": sha256_tensor(images), "opencv": cv2.__version__}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    if cache_path is not None and Path(cache_path).is_file():
        try:
            cached = torch.load(cache_path, map_location="cpu", weights_only=True)
        except Exception:  # unreadable or foreign file: rebuild it
            cached = {}
        if isinstance(cached, dict) and cached.get("key") == key:
            return cached["images"]
    index = choose_blurred(len(images), fraction, seed, selection)
    chosen = images[index].cpu().permute(0, 2, 3, 1).contiguous().numpy()  # (M, H, W, 3)
    blurred = np.stack([edge_blur(image, canny_low, canny_high, kernel, mode)
                        for image in tqdm(chosen, desc="edge blur", unit="img", disable=not progress)])
    result = torch.from_numpy(blurred).permute(0, 3, 1, 2).contiguous()  # (M, H, W, 3) -> (M, 3, H, W)
    if cache_path is not None:
        save_tensor({"key": key, "settings": settings, "indices": index, "images": result}, cache_path)
    return result
