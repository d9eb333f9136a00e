"""Metrics by name, computed on uint8 images and returned as one JSON-ready dict.

    fid, kid, is              pytorch-fid Inception features (needs the standard FID weights)
    fd_effnet, kid_effnet,    the same formulas on EfficientNet-Lite0 features (offline; NOT comparable
    is_effnet                 with published FID/KID/IS numbers, hence the different names)
    dr                        distortion rate from an anime-face detector, with the real-image miss rate

    result = evaluate_images(fake_uint8, real_uint8, ["fd_effnet", "kid_effnet", "dr"], reference_name="anime-faces")
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from anime_gan.errors import MetricError
from anime_gan.metrics.distances import feature_statistics, frechet_distance, inception_score, kernel_distance
from anime_gan.metrics.dr import distortion_rate
from anime_gan.metrics.features import Features, get_extractor, inception_weights

# metric -> (feature extractor or None, statistic)
METRICS: dict[str, tuple[str | None, str]] = {
    "fid": ("inception", "frechet"),
    "kid": ("inception", "kid"),
    "is": ("inception", "is"),
    "fd_effnet": ("effnet", "frechet"),
    "kid_effnet": ("effnet", "kid"),
    "is_effnet": ("effnet", "is"),
    "dr": (None, "dr"),
}


def check_metrics(names: list[str]) -> None:
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise MetricError(f"unknown metric(s) {unknown}; known: {sorted(METRICS)}")
    if any(METRICS[n][0] == "inception" for n in names):
        inception_weights()  # fail before any work when the FID weights are absent


def reference_features(extractor, images: torch.Tensor, reference_name: str, cache_dir: Path | None,
                       batch_size: int, progress: bool) -> Features:
    """Features of the real images, cached as .npz per (dataset, resolution, extractor, N) with their mean and covariance."""
    if cache_dir is None:
        return extractor(images, batch_size, progress, desc="reference")
    digest = hashlib.sha256(images.contiguous().numpy().tobytes()).hexdigest()[:12]
    height, width = images.shape[-2:]
    safe_name = reference_name.replace("/", "_").replace(":", "_")
    path = Path(cache_dir) / f"{safe_name}-{height}x{width}-{extractor.name}-n{len(images)}-{digest}.npz"
    if path.exists():
        cached = np.load(path)
        return Features(cached["features"], cached["logits"] if cached["logits"].size else None)
    computed = extractor(images, batch_size, progress, desc="reference")
    mu, sigma = feature_statistics(computed.features, "reference") if len(images) > 1 else (np.zeros(0), np.zeros(0))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, features=computed.features, logits=computed.logits if computed.logits is not None else np.zeros(0),
             mu=mu, sigma=sigma)
    tmp.replace(path)
    return computed


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
) -> dict[str, Any]:
    """Every requested metric of ``fake`` (uint8 (N, 3, H, W)) against ``reference``; one flat, JSON-ready dict."""
    check_metrics(metrics)
    if fake.dtype != torch.uint8 or reference is not None and reference.dtype != torch.uint8:
        raise MetricError("evaluate_images takes uint8 images (N, 3, H, W) in 0..255")
    needs_reference = [m for m in metrics if METRICS[m][1] in ("frechet", "kid")]
    if needs_reference and reference is None:
        raise MetricError(f"{needs_reference} compare against real images: pass a reference set")
    result: dict[str, Any] = {"n_fake": len(fake), "n_reference": len(reference) if reference is not None else 0,
                              "resolution": list(fake.shape[-2:]), "reference": reference_name}
    caught: list[str] = []
    extractors: dict[str, Any] = {}
    for name in dict.fromkeys(METRICS[m][0] for m in metrics if METRICS[m][0]):
        extractor = get_extractor(name, device)
        extractors[name] = extractor.description
        with warnings.catch_warnings(record=True) as found:
            warnings.simplefilter("always")
            fake_features = extractor(fake, batch_size, progress, desc="generated")
            real_features = (reference_features(extractor, reference, reference_name,
                                                Path(cache_dir) if cache_dir else None, batch_size, progress)
                             if reference is not None else None)
            for metric in (m for m in metrics if METRICS[m][0] == name):
                statistic = METRICS[metric][1]
                if statistic == "frechet":
                    mu1, s1 = feature_statistics(fake_features.features, f"{metric} generated")
                    mu2, s2 = feature_statistics(real_features.features, f"{metric} reference")
                    result[metric] = frechet_distance(mu1, s1, mu2, s2)
                elif statistic == "kid":
                    result[metric], result[f"{metric}_std"] = kernel_distance(fake_features.features,
                                                                               real_features.features, seed=seed)
                else:
                    result[metric], result[f"{metric}_std"] = inception_score(fake_features.logits)
        for warning in found:
            caught.append(str(warning.message))
            warnings.warn(warning.message, stacklevel=2)
    if "dr" in metrics:
        result.update(distortion_rate(fake, reference))
    result["extractors"] = extractors
    result["warnings"] = sorted(set(caught))
    return result


__all__ = ["METRICS", "evaluate_images", "check_metrics"]
