"""Distortion rate (BaMSGAN's Table 1), automatic protocol: a face is "distorted" when an anime-face detector
finds no face in it.

The detector is nagadomi's ``lbpcascade_animeface`` (OpenCV CascadeClassifier) with
fixed settings: scale the image so its short side is 128 px (bicubic), convert to
grey, equalise the histogram, then ``detectMultiScale(scaleFactor=1.05,
minNeighbors=3, minSize=(24, 24))``. The detector also misses real faces, so a DR
is always reported with the same detector's miss rate on real images of the same
dataset and resolution (``dr_real``) and as a calibrated rate
``dr_calibrated = 1 - detect(fake) / detect(real)``, clipped to [0, 1].

The real images' detector hits are computed once per (reference, resolution, N,
images, settings, cascade sha256, OpenCV version) and cached beside the reference
features (``real_faces_found``, ``real_detection_rate``).

The detector is blind to mode collapse (one repeated good face scores 0): read DR
beside a distribution distance (fd_effnet, KID).
"""

from __future__ import annotations

import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch

from anime_gan.errors import MetricError
from anime_gan.metrics.features import check_images

SETTINGS = {"short_side": 128, "interpolation": "bicubic", "equalize_hist": True, "scale_factor": 1.05,
            "min_neighbors": 3, "min_size": 24}
DETECTOR = "lbpcascade_animeface"
# Threads detecting images in parallel, one cascade each; the answer does not depend on it. 1: detectMultiScale
# already spreads its scales over OpenCV's threads, and more workers measured no faster on 2 cores.
DEFAULT_WORKERS = 1

_local = threading.local()


@functools.lru_cache(maxsize=1)
def cascade_path() -> Path:
    from anime_gan.data.assets import fetch_asset

    return Path(fetch_asset(DETECTOR))


@functools.lru_cache(maxsize=1)
def cascade_sha256() -> str:
    from anime_gan.data.cache import sha256_file

    return sha256_file(cascade_path())


def _cascade() -> cv2.CascadeClassifier:
    """This thread's own classifier: OpenCV does not promise that one CascadeClassifier is thread-safe."""
    cascade = getattr(_local, "cascade", None)
    if cascade is None:
        path = cascade_path()
        cascade = cv2.CascadeClassifier(str(path))
        if cascade.empty():
            raise MetricError(f"OpenCV could not load the cascade {path}")
        _local.cascade = cascade
    return cascade


def _found_in(images: np.ndarray) -> np.ndarray:
    """(n, H, W, 3) uint8 RGB -> bool (n,), in the calling thread."""
    cascade = _cascade()
    found = np.zeros(len(images), dtype=bool)
    for i, image in enumerate(images):
        h, w = image.shape[:2]
        scale = SETTINGS["short_side"] / min(h, w)
        size = (round(w * scale), round(h * scale))
        grey = cv2.cvtColor(cv2.resize(image, size, interpolation=cv2.INTER_CUBIC), cv2.COLOR_RGB2GRAY)
        grey = cv2.equalizeHist(grey)
        faces = cascade.detectMultiScale(grey, scaleFactor=SETTINGS["scale_factor"], minNeighbors=SETTINGS["min_neighbors"],
                                         minSize=(SETTINGS["min_size"], SETTINGS["min_size"]))
        found[i] = len(faces) > 0
    return found


def face_found(images: torch.Tensor, workers: int = DEFAULT_WORKERS) -> np.ndarray:
    """uint8 (N, 3, H, W) -> bool (N,): did the detector find at least one face?

    ``workers`` threads each run their own cascade on a contiguous share of the images (OpenCV releases the GIL);
    the answer is the same for any number of workers.
    """
    check_images(images, "the images for face detection")
    if workers < 1:
        raise MetricError(f"workers must be at least 1, got {workers}")
    pixels = np.ascontiguousarray(images.detach().cpu().permute(0, 2, 3, 1).numpy())  # (N, H, W, 3), OpenCV's
    shares = [share for share in np.array_split(pixels, min(workers, len(pixels))) if len(share)]
    if len(shares) == 1:
        return _found_in(shares[0])
    with ThreadPoolExecutor(len(shares)) as pool:
        return np.concatenate(list(pool.map(_found_in, shares)))


def detector_description() -> dict:
    """What the detector's answers depend on: its settings, the cascade file and OpenCV's version."""
    return {"detector": DETECTOR, "settings": SETTINGS, "cascade_sha256": cascade_sha256(), "opencv": cv2.__version__}


def real_faces_found(reference: torch.Tensor, reference_name: str, cache_dir: str | Path | None,
                     workers: int = DEFAULT_WORKERS) -> np.ndarray:
    """``face_found`` of the real images, cached in ``cache_dir`` (None: not cached) under its full key."""
    from anime_gan.metrics.cache import cache_key, cache_path, load_cached, save_cached

    check_images(reference, "the reference images for face detection")
    if cache_dir is None:
        return face_found(reference, workers)
    key = cache_key("dr", reference_name, reference, detector_description(), packages=("opencv-python-headless",))
    path = cache_path(cache_dir, key)
    cached = load_cached(path, key)
    if cached is not None and cached.get("found") is not None and cached["found"].shape == (len(reference),):
        return cached["found"].astype(bool)
    found = face_found(reference, workers)
    save_cached(path, key, {"found": found})
    return found


def real_detection_rate(reference: torch.Tensor, reference_name: str, cache_dir: str | Path | None = "data/reference",
                        workers: int = DEFAULT_WORKERS) -> float:
    """Share of the real images in which the detector finds a face (cached; see ``real_faces_found``)."""
    return float(real_faces_found(reference, reference_name, cache_dir, workers).mean())


def calibrated(found_fake: float, found_real: float) -> float:
    """1 - detect(fake) / detect(real), clipped to [0, 1]; NaN when no real face is detected at all."""
    if found_real == 0:
        return float("nan")
    return float(min(1.0, max(0.0, 1.0 - found_fake / found_real)))


def distortion_rate(fake: torch.Tensor, real: torch.Tensor | None = None, *, reference_name: str = "reference",
                    cache_dir: str | Path | None = None, workers: int = DEFAULT_WORKERS) -> dict:
    """dr_raw (share of ``fake`` with no face found), and with ``real``: dr_real and dr_calibrated.

    With ``cache_dir`` the real images' detector pass is cached (see ``real_faces_found``).
    """
    check_images(fake, "the images for the distortion rate")
    fake_rate = float(face_found(fake, workers).mean())
    result = {"dr_raw": 1.0 - fake_rate, "dr_n": len(fake), "dr_detector": DETECTOR, "dr_settings": SETTINGS}
    if real is not None:
        real_rate = float(real_faces_found(real, reference_name, cache_dir, workers).mean())
        result.update({"dr_real": 1.0 - real_rate, "dr_calibrated": calibrated(fake_rate, real_rate),
                       "dr_n_real": len(real)})
    return result
