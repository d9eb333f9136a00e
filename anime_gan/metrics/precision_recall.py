"""Improved precision and recall (Kynkaanniemi et al. 2019): fidelity and diversity as two separate numbers.

Each set's manifold is the union of balls around its samples, each ball reaching the sample's k-th nearest
neighbour in its own set (Euclidean distance on the features). Then

    precision = share of generated samples inside the real manifold       (are the samples realistic?)
    recall    = share of real samples inside the generated manifold       (is the real variety covered?)

A collapsed generator (one face repeated) has balls of radius 0, so no real sample falls inside: recall 0,
whatever its precision, distortion rate or Frechet distance. The computation is torch-fidelity's
``prc_features_to_metric`` on features we extract ourselves (its argument 1 is the generated set, argument 2
the real set), the reference implementation of the paper's formulas.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version

import numpy as np
import torch
from torch_fidelity.metric_prc import prc_features_to_metric

from anime_gan.errors import MetricError

NEIGHBOURHOOD = 3  # k of the paper's experiments, and torch-fidelity's default


@dataclass(frozen=True)
class PrecisionRecall:
    precision: float
    recall: float
    k: int
    n_fake: int
    n_reference: int

    def settings(self) -> dict:
        """How the two numbers were made, for the metrics file's provenance."""
        return {"k": self.k, "n_fake": self.n_fake, "n_reference": self.n_reference, "distance": "Euclidean",
                "library": f"torch-fidelity {version('torch-fidelity')} (metric_prc.prc_features_to_metric)",
                "definition": "precision: share of generated samples within the k-NN radius of some real sample; "
                              "recall: share of real samples within the k-NN radius of some generated sample "
                              "(Kynkaanniemi et al. 2019)"}


def precision_recall(fake: np.ndarray, real: np.ndarray, k: int = NEIGHBOURHOOD) -> PrecisionRecall:
    """Improved precision and recall of generated (N, D) features against real (M, D) features.

    torch-fidelity's fast path: each of its three distance matrices (generated-generated, real-real, real-generated)
    is built whole, one after the other; at N = M = 10,000 one float64 matrix is 0.8 GB, held twice while its
    batches are concatenated.
    """
    if k < 1:
        raise MetricError(f"precision/recall needs k >= 1 nearest neighbours, got {k}")
    for features, name in ((fake, "generated"), (real, "reference")):
        if features.ndim != 2:
            raise MetricError(f"precision/recall: the {name} features must be (N, D), got shape {features.shape}")
        if len(features) <= k:
            raise MetricError(f"precision/recall with k = {k} needs more than {k} {name} samples (each sample's "
                              f"k-th neighbour in its own set), got {len(features)}")
        if not np.isfinite(features).all():
            raise MetricError(f"precision/recall: the {name} features hold NaN or Inf values")
    if fake.shape[1] != real.shape[1]:
        raise MetricError(f"precision/recall: generated features are {fake.shape[1]}-d, reference {real.shape[1]}-d")
    out = prc_features_to_metric(torch.from_numpy(np.asarray(fake)), torch.from_numpy(np.asarray(real)),
                                 prc_neighborhood=k, save_cpu_ram=False, verbose=False)
    return PrecisionRecall(out["precision"], out["recall"], k, len(fake), len(real))
