"""Datasets, the edge-blurred set and downloadable assets.

    images = load_images("anime-faces", resolution=32)          # uint8 (N, 3, 32, 32), prepared once
    train_index, holdout_index = train_holdout_split(len(images), 0.2)
"""

from anime_gan.data.datasets import (
    DATASETS,
    DatasetSpec,
    PreparedDataset,
    load_images,
    prepare,
    prepared_paths,
    train_holdout_split,
)
from anime_gan.data.images import read_images

__all__ = ["DATASETS", "DatasetSpec", "PreparedDataset", "load_images", "prepare", "prepared_paths",
           "read_images", "train_holdout_split"]
