"""Distortion rate (BaMSGAN's Table 1), automatic protocol: a face is "distorted" when an anime-face detector
finds no face in it.

The detector is nagadomi's ``lbpcascade_animeface`` (OpenCV CascadeClassifier) with
fixed settings: scale the image so its short side is 128 px (bicubic), convert to
grey, equalise the histogram, then ``detectMultiScale(scaleFactor=1.05,
minNeighbors=3, minSize=(24, 24))``. The detector also misses real faces, so a DR
is always reported with the same detector's miss rate on real images of the same
dataset and resolution (``dr_real``) and as a calibrated rate
``dr_calibrated = 1 - detect(fake) / detect(real)``, clipped to [0, 1].

The detector is blind to mode collapse (one repeated good face scores 0): read DR
beside a distribution distance (fd_effnet, KID).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import torch

from anime_gan.errors import MetricError

SETTINGS = {"short_side": 128, "interpolation": "bicubic", "equalize_hist": True, "scale_factor": 1.05,
            "min_neighbors": 3, "min_size": 24}


@functools.lru_cache(maxsize=1)
def _cascade() -> cv2.CascadeClassifier:
    from anime_gan.data.assets import fetch_asset

    path = fetch_asset("lbpcascade_animeface")
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise MetricError(f"OpenCV could not load the cascade {path}")
    return cascade


def face_found(images: torch.Tensor) -> np.ndarray:
    """uint8 (N, 3, H, W) -> bool (N,): did the detector find at least one face?"""
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise MetricError(f"face detection needs uint8 images (N, 3, H, W), got {images.dtype} {tuple(images.shape)}")
    cascade = _cascade()
    found = np.zeros(len(images), dtype=bool)
    for i, image in enumerate(images.permute(0, 2, 3, 1).numpy()):
        h, w = image.shape[:2]
        scale = SETTINGS["short_side"] / min(h, w)
        size = (round(w * scale), round(h * scale))
        grey = cv2.cvtColor(cv2.resize(image, size, interpolation=cv2.INTER_CUBIC), cv2.COLOR_RGB2GRAY)
        grey = cv2.equalizeHist(grey)
        faces = cascade.detectMultiScale(grey, scaleFactor=SETTINGS["scale_factor"], minNeighbors=SETTINGS["min_neighbors"],
                                         minSize=(SETTINGS["min_size"], SETTINGS["min_size"]))
        found[i] = len(faces) > 0
    return found


def calibrated(found_fake: float, found_real: float) -> float:
    """1 - detect(fake) / detect(real), clipped to [0, 1]; NaN when no real face is detected at all."""
    if found_real == 0:
        return float("nan")
    return float(min(1.0, max(0.0, 1.0 - found_fake / found_real)))


def distortion_rate(fake: torch.Tensor, real: torch.Tensor | None = None) -> dict:
    """dr_raw (share of ``fake`` with no face found), and with ``real``: dr_real and dr_calibrated."""
    if len(fake) == 0:
        raise MetricError("the distortion rate needs at least one image")
    fake_rate = float(face_found(fake).mean())
    result = {"dr_raw": 1.0 - fake_rate, "dr_n": len(fake), "dr_detector": "lbpcascade_animeface", "dr_settings": SETTINGS}
    if real is not None:
        real_rate = float(face_found(real).mean())
        result.update({"dr_real": 1.0 - real_rate, "dr_calibrated": calibrated(fake_rate, real_rate),
                       "dr_n_real": len(real)})
    return result
