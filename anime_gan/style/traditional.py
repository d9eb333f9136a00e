"""Seed 004's traditional style transfer: colour histogram matching, a cartoon filter, patch-based synthesis.

All three take uint8 RGB images (H, W, 3) (or uint8 tensors (3, H, W), returned
as such; see :mod:`anime_gan.style.pixels`) and return an image of the
content's size.

- :func:`histogram_match`: scikit-image's ``match_histograms`` per channel. Moves
  the colour palette and tones only; structure and texture stay the content's.
- :func:`cartoon`: an edge-preserving filter (repeated OpenCV bilateral
  filtering), colour quantisation to a k-means palette of the style image (or of
  the content when no style is given), and dark lines from an adaptive threshold
  of the median-blurred grey content.
- :func:`patch_synthesis`: non-parametric synthesis. On a grid of content
  patches (``patch_size`` square, every ``stride`` pixels) each patch is replaced
  by its nearest style patch (style patches taken every ``style_stride``
  pixels), nearest in L2 after each image is standardised per channel;
  overlapping patches are averaged back with ``fold``.
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from anime_gan.errors import ConfigError, DataError
from anime_gan.style.pixels import Image, like, to_hwc, to_unit_tensor

KMEANS_SAMPLE = 20000  # pixels the palette's k-means sees at most: enough for 16 colours, fast at any size
PATCH_CHUNK = 256  # content patches per distance matrix: 256 x (style patches) floats at a time


# ---------------------------------------------------------------- histogram matching


def histogram_match(content: Image, style: Image) -> Image:
    """The content with each RGB channel's histogram matched to the style's (scikit-image ``match_histograms``)."""
    from skimage.exposure import match_histograms

    content_hwc, style_hwc = to_hwc(content, "content"), to_hwc(style, "style")
    matched = match_histograms(content_hwc, style_hwc, channel_axis=-1)  # float (H, W, 3) on the style's values
    return like(np.clip(np.rint(matched), 0, 255).astype(np.uint8), content)


# ---------------------------------------------------------------- cartoon filter


def palette(image: np.ndarray, colours: int, seed: int = 0) -> np.ndarray:
    """Up to ``colours`` RGB colours (K, 3) uint8 summarising ``image`` (H, W, 3): k-means++ centres, seeded."""
    from scipy.cluster.vq import kmeans2

    pixels = image.reshape(-1, 3).astype(np.float64)
    rng = np.random.default_rng(seed)
    if len(pixels) > KMEANS_SAMPLE:
        pixels = pixels[rng.choice(len(pixels), KMEANS_SAMPLE, replace=False)]
    distinct = np.unique(pixels, axis=0)
    if len(distinct) <= colours:  # already few colours: they are the palette
        return distinct.astype(np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "one of the clusters is empty": such centres are dropped below
        centres, labels = kmeans2(pixels, colours, minit="++", seed=rng)
    used = np.unique(labels)
    return np.unique(np.clip(np.rint(centres[used]), 0, 255).astype(np.uint8), axis=0)


def quantise(image: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Every pixel of ``image`` (H, W, 3) replaced by its nearest colour in ``colours`` (K, 3), in RGB L2."""
    pixels = torch.from_numpy(image.reshape(-1, 3)).float()  # (H*W, 3)
    nearest = torch.cdist(pixels, torch.from_numpy(colours).float()).argmin(1)  # (H*W,)
    return colours[nearest.numpy()].reshape(image.shape)


def cartoon(
    content: Image,
    style: Image | None = None,
    colours: int = 8,  # palette size of the colour quantisation
    bilateral_passes: int = 3,  # repeated small bilateral filters flatten regions while keeping edges
    bilateral_diameter: int = 7,  # neighbourhood of each bilateral pass, in pixels
    sigma_colour: float = 40.0,  # colour differences (0..255) above ~2 sigma are treated as edges and kept
    sigma_space: float = 5.0,  # spatial falloff of each bilateral pass, in pixels
    edge_block: int = 9,  # adaptive threshold's neighbourhood (odd); larger finds coarser lines
    edge_offset: float = 4.0,  # a pixel darker than its neighbourhood's mean minus this becomes a line
    seed: int = 0,  # seeds the palette's k-means
) -> Image:
    """Cartoon-like stylisation: bilateral smoothing, a palette of ``colours`` from the style (else the
    content), and lines in the palette's darkest colour where the adaptive threshold finds edges."""
    if colours < 2:
        raise ConfigError(f"cartoon: colours must be at least 2, got {colours}")
    if edge_block < 3 or edge_block % 2 == 0:
        raise ConfigError(f"cartoon: edge_block must be an odd number >= 3, got {edge_block}")
    image = to_hwc(content, "content")
    smooth = image
    for _ in range(bilateral_passes):
        smooth = cv2.bilateralFilter(smooth, bilateral_diameter, sigma_colour, sigma_space)
    colour_set = palette(to_hwc(style, "style") if style is not None else smooth, colours, seed)
    flat = quantise(smooth, colour_set)
    grey = cv2.medianBlur(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), 5)
    lines = cv2.adaptiveThreshold(grey, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, edge_block,
                                  edge_offset) == 0  # (H, W) True on dark edges
    darkest = colour_set[np.argmin(colour_set.astype(np.int32).sum(1))]
    result = flat.copy()
    result[lines] = darkest
    return like(result, content)


# ---------------------------------------------------------------- patch-based synthesis


def _standardise(image: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W) -> the same with every channel at zero mean and unit variance over the image."""
    mean = image.mean((2, 3), keepdim=True)
    std = image.std((2, 3), keepdim=True)
    return (image - mean) / (std + 1e-3)


def _pad_to_grid(image: torch.Tensor, patch_size: int, stride: int) -> torch.Tensor:
    """Replicate-pad (1, 3, H, W) on the bottom and right so the patch grid covers every pixel."""
    h, w = image.shape[-2:]
    pad_h = (-(h - patch_size)) % stride
    pad_w = (-(w - patch_size)) % stride
    if pad_h or pad_w:
        image = F.pad(image, (0, pad_w, 0, pad_h), mode="replicate")  # (1, 3, H, W) -> (1, 3, H', W')
    return image


def patch_synthesis(
    content: Image,
    style: Image,
    patch_size: int = 5,  # side of the square patches, in pixels
    stride: int = 2,  # content grid step; < patch_size overlaps patches, which are then averaged
    style_stride: int = 1,  # step between candidate style patches; 1 is densest and slowest
) -> Image:
    """Each patch of the content's grid replaced by the nearest style patch, then overlaps averaged.

    Matching uses each image standardised per channel (so a dark content region finds a dark style patch
    even when the style is brighter overall); the pasted pixels are the style's own. With
    ``stride == patch_size`` the output holds only style pixels; with overlaps, averages of them.
    The work is (content patches) x (style patches) distances: with the defaults about 0.03 s at 64x64 and
    20 s at 256x256 on one CPU thread; raise ``stride`` and ``style_stride`` for large images.
    """
    for name, value in (("patch_size", patch_size), ("stride", stride), ("style_stride", style_stride)):
        if value < 1:
            raise ConfigError(f"patch_synthesis: {name} must be positive, got {value}")
    if stride > patch_size:
        raise ConfigError(f"patch_synthesis: stride {stride} > patch_size {patch_size} would leave gaps")
    content_hwc, style_hwc = to_hwc(content, "content"), to_hwc(style, "style")
    for role, array in (("content", content_hwc), ("style", style_hwc)):
        if min(array.shape[:2]) < patch_size:
            raise DataError(f"patch_synthesis: the {role} image {array.shape[0]}x{array.shape[1]} is smaller than "
                            f"the patch size {patch_size}")
    height, width = content_hwc.shape[:2]
    content_t = _pad_to_grid(to_unit_tensor(content_hwc), patch_size, stride)  # (1, 3, H', W')
    style_t = to_unit_tensor(style_hwc)  # (1, 3, Hs, Ws)

    queries = F.unfold(_standardise(content_t), patch_size, stride=stride)[0].T  # (L, 3*p*p)
    keys = F.unfold(_standardise(style_t), patch_size, stride=style_stride)[0].T  # (M, 3*p*p)
    values = F.unfold(style_t, patch_size, stride=style_stride)[0].T  # (M, 3*p*p) style pixels
    nearest = torch.cat([torch.cdist(chunk, keys).argmin(1) for chunk in queries.split(PATCH_CHUNK)])  # (L,)

    padded_size = content_t.shape[-2:]
    pasted = F.fold(values[nearest].T.unsqueeze(0), padded_size, patch_size, stride=stride)  # (1, 3, H', W') sums
    coverage = F.fold(torch.ones_like(values[nearest]).T.unsqueeze(0), padded_size, patch_size, stride=stride)
    result = (pasted / coverage)[..., :height, :width]  # (1, 3, H, W) averages of overlapping patches
    pixels = (result[0].clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()  # (H, W, 3)
    return like(np.ascontiguousarray(pixels), content)
