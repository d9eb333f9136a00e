"""The real-side cache of the metrics (``data/reference/``): features and detector hits of the reference images.

Each entry is one ``.npz`` file holding its arrays and its key. The key names
everything the arrays depend on: the dataset, the resolution, N, the sha256 of
the image tensor, the computation (extractor or detector description: weights
or cascade sha256, preprocessing, precision, settings), the versions of the
libraries that compute it, and the cache format. The file name carries a hash
of the key, so a change of any part finds no file; the key stored inside is
compared again on load. A file that cannot be read, or holds another key, is
rebuilt (written to a temporary file and renamed into place), never an error.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import torch

from anime_gan.data.cache import atomic_write, sha256_tensor

CACHE_FORMAT = 2  # 1: the old key (dataset, resolution, extractor name, N, 12 hex of the images)
KEY_ARRAY = "__key__"


def library_versions(*packages: str) -> dict[str, str]:
    """Installed versions of ``packages`` plus torch and numpy ("absent" for a package not installed)."""
    found = {}
    for package in ("torch", "numpy", *packages):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "absent"
    return found


def cache_key(kind: str, reference_name: str, images: torch.Tensor, computation: dict, packages: tuple[str, ...] = ()
              ) -> dict[str, Any]:
    """Everything a cached real-side result depends on, as a JSON-ready dict."""
    return {
        "format": CACHE_FORMAT,
        "kind": kind,
        "reference": reference_name,
        "resolution": list(images.shape[-2:]),
        "n": len(images),
        "images_sha256": sha256_tensor(images),
        "computation": computation,
        "versions": library_versions(*packages),
    }


def cache_path(cache_dir: str | Path, key: dict) -> Path:
    """<cache_dir>/<reference>-<H>x<W>-<kind>-n<N>-<16 hex of the key>.npz: readable, and unique per key."""
    text = json.dumps(key, sort_keys=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", key["reference"]).strip("._") or "reference"
    height, width = key["resolution"]
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{safe}-{height}x{width}-{key['kind']}-n{key['n']}-{digest}.npz"


def load_cached(path: Path, key: dict) -> dict[str, np.ndarray] | None:
    """The arrays stored at ``path`` under exactly ``key``; None when absent, unreadable or of another key."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        stored_key = json.loads(str(arrays.pop(KEY_ARRAY)))
    except Exception as err:  # a truncated or foreign file is rebuilt, whatever numpy or json raised
        warnings.warn(f"the cached reference result {path.name} is unreadable ({type(err).__name__}); rebuilding it",
                      stacklevel=2)
        return None
    if stored_key != json.loads(json.dumps(key, sort_keys=True)):
        warnings.warn(f"the cached reference result {path.name} was made under another key; rebuilding it", stacklevel=2)
        return None
    return arrays


def save_cached(path: Path, key: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` and ``key`` atomically (temporary file, then rename)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, **{KEY_ARRAY: np.array(json.dumps(key, sort_keys=True))})
    return atomic_write(path, lambda handle: handle.write(buffer.getvalue()))
