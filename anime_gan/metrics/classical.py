"""Classical per-pair image measures that no method of this package optimises.

Style transfer and the fusion translator are trained or optimised on EfficientNet-Lite0 (or VGG-19) content and
Gram losses; scoring them with the same losses rewards each method for its own objective. These two measures
work on pixels alone, so they judge every method on equal terms:

- :func:`structural_similarity_grey`: content. SSIM (Wang et al. 2004) of the two images in grey, with their
  Gaussian window (sigma 1.5, 11x11) and population statistics, by scikit-image. 1: the same structure; two
  unrelated faces still share some (an aligned face layout), which is why every score is read against the same
  measure between unrelated images.
- :func:`hue_saturation_distance`: colour style. The Bhattacharyya distance (OpenCV ``compareHist``) of the
  images' joint hue-saturation histograms (30 x 32 bins, OpenCV's HSV). 0: the same colour distribution, 1: no
  colour in common. Histogram matching moves each RGB channel's marginal histogram to the style's, which is
  close to but not the joint hue-saturation histogram measured here: read its row with that in mind.

Both take uint8 image batches (N, 3, H, W) in pairs and return one value per pair, float64 (N,).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from anime_gan.errors import MetricError

SSIM_SIGMA = 1.5  # Wang et al.'s Gaussian window
SSIM_MIN_SIDE = 11  # the window's side at that sigma (scikit-image truncates the Gaussian at 3.5 sigma)
HUE_BINS, SATURATION_BINS = 30, 32  # OpenCV's hue runs over [0, 180) for uint8 images, saturation over [0, 256)


def _pairs(first: torch.Tensor, second: torch.Tensor, measure: str) -> tuple[np.ndarray, np.ndarray]:
    """Two uint8 (N, 3, H, W) batches of equal shape -> two (N, H, W, 3) uint8 arrays."""
    for images in (first, second):
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4 \
                or images.shape[1] != 3:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise MetricError(f"{measure} takes uint8 images (N, 3, H, W), got {shape}")
    if first.shape != second.shape:
        raise MetricError(f"{measure} compares pairs of equal shape, got {tuple(first.shape)} and {tuple(second.shape)}")
    as_hwc = lambda images: np.ascontiguousarray(images.detach().cpu().permute(0, 2, 3, 1).numpy())  # (N, H, W, 3)
    return as_hwc(first), as_hwc(second)


def structural_similarity_grey(first: torch.Tensor, second: torch.Tensor) -> np.ndarray:
    """Per pair, SSIM of the grey images (OpenCV's RGB -> grey, then scikit-image, Wang et al.'s settings)."""
    from skimage.metrics import structural_similarity

    a, b = _pairs(first, second, "structural_similarity_grey")
    if min(a.shape[1:3]) < SSIM_MIN_SIDE:
        raise MetricError(f"structural_similarity_grey needs images of at least {SSIM_MIN_SIDE}x{SSIM_MIN_SIDE} px "
                          f"(its Gaussian window), got {a.shape[1]}x{a.shape[2]}")
    grey = lambda image: cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)  # (H, W, 3) -> (H, W), ITU-R BT.601 weights
    return np.array([structural_similarity(grey(x), grey(y), data_range=255, gaussian_weights=True,
                                           sigma=SSIM_SIGMA, use_sample_covariance=False)
                     for x, y in zip(a, b)], dtype=np.float64)


def hue_saturation_histogram(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> its joint hue-saturation histogram, (30, 32) float32 summing to 1."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)  # hue in [0, 180), saturation and value in [0, 256)
    histogram = cv2.calcHist([hsv], [0, 1], None, [HUE_BINS, SATURATION_BINS], [0, 180, 0, 256])
    return histogram / histogram.sum()


def hue_saturation_distance(first: torch.Tensor, second: torch.Tensor) -> np.ndarray:
    """Per pair, the Bhattacharyya distance of the two images' hue-saturation histograms (OpenCV compareHist)."""
    a, b = _pairs(first, second, "hue_saturation_distance")
    return np.array([cv2.compareHist(hue_saturation_histogram(x), hue_saturation_histogram(y),
                                     cv2.HISTCMP_BHATTACHARYYA) for x, y in zip(a, b)], dtype=np.float64)
