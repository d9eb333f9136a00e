"""Distances between feature sets: the Frechet distance (pytorch-fid's), KID and the Inception Score (torch-fidelity's).

Chosen libraries: the Frechet distance is pytorch-fid's ``calculate_frechet_distance``
(the papers' FID code, including its handling of a singular or complex sqrtm).
KID and IS use torch-fidelity's ``kid_features_to_metric`` and
``isc_features_to_metric`` on features we extract ourselves: they are the
reference implementations (unbiased polynomial-kernel MMD over random subsets;
exp E[KL(p(y|x) || p(y))] over splits), and taking features in lets the same code
serve both the Inception network and the offline extractor.

pytorch-fid prints (rather than warns) when it must add eps to the covariances'
diagonal; that line is turned into a Python warning here, so that it reaches the
metrics file's ``warnings`` instead of the terminal only.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from pytorch_fid.fid_score import calculate_frechet_distance
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_kid import kernel_poly, kid_features_to_metric, mmd2

from anime_gan.errors import MetricError


def _check_finite(array: np.ndarray, name: str) -> None:
    if not np.isfinite(array).all():
        raise MetricError(f"{name} holds NaN or Inf values ({int((~np.isfinite(array)).sum())} of {array.size}); "
                          f"the network or the images are broken")


def feature_statistics(features: np.ndarray, name: str = "features") -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of (N, D) features; warns when N <= D (the covariance is then singular)."""
    n, dims = features.shape
    if n < 2:
        raise MetricError(f"{name}: a Frechet distance needs at least 2 samples, got {n}")
    _check_finite(features, name)
    if n <= dims:
        warnings.warn(f"{name}: only {n} samples for {dims}-d features, so the covariance is singular and the Frechet "
                      f"distance is biased upward; record N and compare only numbers with the same N", stacklevel=2)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def blas_threads(limit: int | None):
    """A context running NumPy/SciPy's BLAS and LAPACK with at most ``limit`` threads (None: as configured).

    Needs threadpoolctl; without it the limit is not applied (only speed differs).
    """
    if limit is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=limit, user_api="blas")


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     threads: int | None = None) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2), computed by pytorch-fid; its printed notices become warnings.

    ``threads`` limits BLAS threads during the computation. SciPy's sqrtm of a 1280x1280 product took 2.6 s with
    one OpenBLAS thread and 7-44 s with two on 2 cores shared with other work (waiting threads spin); the value
    changes only in its last bits. None keeps the process's setting, which FID uses to stay pytorch-fid's number.
    """
    for array, name in ((mu1, "mu1"), (sigma1, "sigma1"), (mu2, "mu2"), (sigma2, "sigma2")):
        _check_finite(np.asarray(array), f"Frechet distance input {name}")
    printed = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(printed), blas_threads(threads):
        # pytorch-fid 0.3.0 passes sqrtm(disp=False), deprecated in SciPy 1.16 and removed in 1.18 (hence the pin
        # scipy<1.18); the notice says nothing about this distance.
        warnings.filterwarnings("ignore", message=".*`disp` argument is deprecated", category=DeprecationWarning)
        try:
            value = float(calculate_frechet_distance(mu1, sigma1, mu2, sigma2))
        except ValueError as err:
            if "Imaginary component" not in str(err):
                raise
            part = float(str(err).split()[-1])
            raise MetricError(f"the matrix square root in the Frechet distance has an imaginary component of {part:g} "
                              f"(pytorch-fid refuses it): the covariances are far from positive semi-definite, as "
                              f"with far fewer samples than feature dimensions; use more samples") from None
    for line in printed.getvalue().splitlines():
        if line.strip():
            warnings.warn(f"pytorch-fid: {line.strip()}", stacklevel=2)
    return value


@dataclass(frozen=True)
class KidKernel:
    """torch-fidelity's polynomial kernel k(x, y) = (gamma * x.y + coef0) ** degree; gamma None means 1 / d."""

    degree: int = 3
    gamma: float | None = None
    coef0: float = 1.0

    def as_kwargs(self) -> dict:
        # The keys torch-fidelity 0.4.0 reads (torch_fidelity.defaults.DEFAULTS); any other name is silently ignored.
        return {"kid_kernel": "poly", "kid_kernel_poly_degree": self.degree, "kid_kernel_poly_gamma": self.gamma,
                "kid_kernel_poly_coef0": self.coef0}

    def describe(self) -> str:
        gamma = "1/d" if self.gamma is None else f"{self.gamma:g}"
        return f"({gamma} * x.y + {self.coef0:g}) ** {self.degree}"


@dataclass
class KernelDistance:
    mean: float
    std: float | None  # None when every subset holds the same samples
    std_reason: str | None  # why std is None
    subset_size: int
    subsets: int


GRAM_MAX_SAMPLES = 5000  # largest set whose whole kernel matrices (3 of them, float64) are computed at once


def _subset_mmds_from_gram(features_1: np.ndarray, features_2: np.ndarray, subsets: int, size: int, seed: int,
                           kernel: KidKernel) -> np.ndarray:
    """torch-fidelity's per-subset MMD^2, with each kernel matrix computed once for the whole sets.

    Same subsets (the same RandomState calls in the same order as ``kid_features_to_metric``), same kernel and
    ``mmd2`` functions of torch-fidelity; only the kernel entries come from one matrix product instead of one per
    subset, which changes float64 rounding (~1e-12 relative) and not the value.
    """
    options = kernel.as_kwargs()
    k_11 = kernel_poly(features_1, features_1, **options)  # (n1, n1)
    k_22 = kernel_poly(features_2, features_2, **options)  # (n2, n2)
    k_12 = kernel_poly(features_1, features_2, **options)  # (n1, n2)
    rng = np.random.RandomState(seed)
    mmds = np.zeros(subsets)
    for i in range(subsets):
        rows = rng.choice(len(features_1), size, replace=False)
        cols = rng.choice(len(features_2), size, replace=False)
        mmds[i] = mmd2(k_11[rows][:, rows], k_12[rows][:, cols], k_22[cols][:, cols])  # (size, size) each
    return mmds


def kernel_distance(features_1: np.ndarray, features_2: np.ndarray, subsets: int = 100, subset_size: int = 1000,
                    seed: int = 0, kernel: KidKernel = KidKernel()) -> KernelDistance:
    """KID (unbiased MMD^2 with ``kernel``) as mean and std over random subsets, as torch-fidelity computes it.

    The subset size shrinks to the smaller set when there are fewer samples, which keeps the mean unbiased at
    small N; the std is then undefined (None, with the reason): every subset holds all of the smaller set.
    float32 features (torch-fidelity's Inception path) go through ``kid_features_to_metric`` itself. float64
    features of up to GRAM_MAX_SAMPLES per set take the same subsets from kernel matrices computed once, when
    that is less work than one kernel per subset (2,000 vs 2,000 samples of 1,280-d: 14.1 s -> 3.3 s measured).
    """
    n1, n2 = len(features_1), len(features_2)
    size = min(subset_size, n1, n2)
    if size < 2:
        raise MetricError(f"KID needs at least 2 samples in each set, got {n1} and {n2}")
    if subsets < 1:
        raise MetricError(f"KID needs at least 1 subset, got {subsets}")
    _check_finite(features_1, "KID features 1")
    _check_finite(features_2, "KID features 2")
    n_max = max(n1, n2)
    gram_work, subset_work = n1 * n1 + n2 * n2 + n1 * n2, 3 * subsets * size * size
    if features_1.dtype == features_2.dtype == np.float64 and n_max <= GRAM_MAX_SAMPLES and gram_work < subset_work:
        mmds = _subset_mmds_from_gram(features_1, features_2, subsets, size, seed, kernel)
        out = {"kernel_inception_distance_mean": float(np.mean(mmds)), "kernel_inception_distance_std": float(np.std(mmds))}
    else:
        out = kid_features_to_metric(torch.from_numpy(features_1), torch.from_numpy(features_2), kid_subsets=subsets,
                                     kid_subset_size=size, rng_seed=seed, verbose=False, **kernel.as_kwargs())
    std: float | None = out["kernel_inception_distance_std"]
    reason = None
    if min(n1, n2) <= subset_size:
        std, reason = None, (f"undefined: N = {min(n1, n2)} is not above the subset size {subset_size}, so every "
                             f"subset holds all of the smaller set; use more than {subset_size} samples per set")
    return KernelDistance(out["kernel_inception_distance_mean"], std, reason, size, subsets)


def inception_score(logits: np.ndarray, splits: int = 10, seed: int = 2020) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) per split of the (shuffled) samples, as (mean, std) over the splits."""
    if len(logits) < splits:
        raise MetricError(f"the Inception Score with {splits} splits needs at least {splits} samples, got {len(logits)}")
    _check_finite(logits, "Inception Score logits")
    out = isc_features_to_metric(torch.from_numpy(logits), splits=splits, shuffle=True, rng_seed=seed)
    return out["inception_score_mean"], out["inception_score_std"]
