"""Datasets, the edge-blurred set and downloadable assets.

    images = load_images("anime-faces", resolution=32)          # uint8 (N, 3, 32, 32), prepared once
    train_index, holdout_index = train_holdout_split(len(images), 0.2)
    fakes = read_images("samples.tar", resolution=64)           # uint8 (N, 3, 64, 64)
"""

from anime_gan.data.datasets import (
    DATASETS,
    MIRROR_ENV,
    DatasetSpec,
    PreparedDataset,
    load_images,
    prepare,
    prepared_paths,
    train_holdout_split,
)
from anime_gan.data.images import as_size, read_images

__all__ = ["DATASETS", "MIRROR_ENV", "DatasetSpec", "PreparedDataset", "as_size", "load_images", "prepare",
           "prepared_paths", "read_images", "train_holdout_split"]
