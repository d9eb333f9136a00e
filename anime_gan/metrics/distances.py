"""Distances between feature sets: the Frechet distance (pytorch-fid's), KID and the Inception Score (torch-fidelity's).

Chosen libraries: the Frechet distance is pytorch-fid's ``calculate_frechet_distance``
(the papers' FID code, including its handling of a singular or complex sqrtm).
KID and IS use torch-fidelity's ``kid_features_to_metric`` and
``isc_features_to_metric`` on features we extract ourselves: they are the
reference implementations (unbiased polynomial-kernel MMD over random subsets;
exp E[KL(p(y|x) || p(y))] over splits), and taking features in lets the same code
serve both the Inception network and the offline extractor.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from pytorch_fid.fid_score import calculate_frechet_distance
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric

from anime_gan.errors import MetricError


def feature_statistics(features: np.ndarray, name: str = "features") -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of (N, D) features; warns when N <= D (the covariance is then singular)."""
    n, dims = features.shape
    if n < 2:
        raise MetricError(f"{name}: a Frechet distance needs at least 2 samples, got {n}")
    if n <= dims:
        warnings.warn(f"{name}: only {n} samples for {dims}-d features, so the covariance is singular and the Frechet "
                      f"distance is biased upward; record N and compare only numbers with the same N", stacklevel=2)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2), computed by pytorch-fid."""
    return float(calculate_frechet_distance(mu1, sigma1, mu2, sigma2))


def kernel_distance(features_1: np.ndarray, features_2: np.ndarray, subsets: int = 100, subset_size: int = 1000,
                    seed: int = 0) -> tuple[float, float]:
    """KID (unbiased MMD^2, kernel (x.y / d + 1)^3) as (mean, std) over random subsets; the subset size shrinks to
    the smaller set when there are fewer samples, which keeps the estimate unbiased at small N."""
    size = min(subset_size, len(features_1), len(features_2))
    if size < 2:
        raise MetricError(f"KID needs at least 2 samples in each set, got {len(features_1)} and {len(features_2)}")
    out = kid_features_to_metric(torch.from_numpy(features_1), torch.from_numpy(features_2), kid_subsets=subsets,
                                 kid_subset_size=size, kid_degree=3, kid_gamma=None, kid_coef0=1, rng_seed=seed,
                                 verbose=False)
    return out["kernel_inception_distance_mean"], out["kernel_inception_distance_std"]


def inception_score(logits: np.ndarray, splits: int = 10, seed: int = 2020) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) per split of the (shuffled) samples, as (mean, std) over the splits."""
    if len(logits) < splits:
        raise MetricError(f"the Inception Score with {splits} splits needs at least {splits} samples, got {len(logits)}")
    out = isc_features_to_metric(torch.from_numpy(logits), splits=splits, shuffle=True, rng_seed=seed)
    return out["inception_score_mean"], out["inception_score_std"]
