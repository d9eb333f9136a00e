"""Named datasets, where their files come from, and their one-time preparation.

``prepare(name, resolution)`` decodes every image once into a uint8 tensor
file ``<root>/processed/<name>-<H>x<W>.pt`` of shape (N, 3, H, W) with a
manifest beside it (sources, per-file sha256, skipped/duplicate/converted
counts, licence), so training never decodes an image per step. Sources are
only ever read.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import PIL
import torch
from tqdm.auto import tqdm

from anime_gan.data.cache import save_json, save_tensor, sha256_bytes, sha256_tensor
from anime_gan.data.emoji import EmojiSource
from anime_gan.data.images import RESIZE_METHOD, CorruptImage, count_image_files, decode, iter_image_files, resize, to_tensor
from anime_gan.errors import DataError

MIRROR_ENV = "ANIME_GAN_MIRROR"
MANIFEST_FORMAT = 1
ARCHIVE_EXTENSIONS = ("", ".tar", ".tar.gz", ".tgz", ".zip")


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    licence: str
    expected_images: int | None  # distinct images in the full public dataset
    homepage: str
    obtain: str  # how a user gets the files
    mirror_names: tuple[str, ...] = ()  # folder/archive names looked for in ANIME_GAN_MIRROR and <root>/raw
    download_url: str | None = None  # public archive (no checksum: a branch archive changes)
    archive_prefix: str = ""  # folder inside the downloaded archive that holds the images

    @property
    def env_var(self) -> str:
        return "ANIME_GAN_DATA_" + self.name.upper().replace("-", "_")


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec(
            name="anime-faces",
            description="BaMSGAN's anime faces (seed 003): Kaggle 'splcher/animefacedataset', crops of Getchu "
                        "character art, 63,565 files of which 41,522 are distinct; about 90-120 px square.",
            licence="research use (crops of commercial game art); repository copy under MIT",
            expected_images=41_522,
            homepage="https://www.kaggle.com/datasets/splcher/animefacedataset",
            obtain="offline: put anime-faces-10k.tar (or the full image folder as anime-faces/) in $ANIME_GAN_MIRROR; "
                   "online: downloaded automatically from GitHub ANI717/Anime_Face_Generation_with_GANs",
            mirror_names=("anime-faces", "anime-faces-10k"),
            download_url="https://github.com/ANI717/Anime_Face_Generation_with_GANs/archive/refs/heads/main.zip",
            archive_prefix="Anime_Face_Generation_with_GANs-main/Dataset/images/",
        ),
        DatasetSpec(
            name="emoji-faces",
            description="Face emoji of Twemoji and Noto (npm emoji-datasource-twitter/google 16.0.0), 2,230 PNGs "
                        "at 64x64; an offline-capable demo dataset.",
            licence="Twemoji CC-BY 4.0; Noto Emoji Apache-2.0",
            expected_images=2_230,
            homepage="https://github.com/iamcal/emoji-data",
            obtain="fetched automatically with `npm pack` from the npm registry",
        ),
        DatasetSpec(
            name="anime-faces-21k",
            description="Seed 001's anime faces: Kaggle 'soumikrakshit/anime-faces' (21,551 faces, 64x64).",
            licence="research use (crops of commercial game art)",
            expected_images=21_551,
            homepage="https://www.kaggle.com/datasets/soumikrakshit/anime-faces",
            obtain="`kaggle datasets download -d soumikrakshit/anime-faces`, then put the zip or its folder in "
                   "$ANIME_GAN_MIRROR as anime-faces-21k(.zip), or point $ANIME_GAN_DATA_ANIME_FACES_21K at it",
            mirror_names=("anime-faces-21k", "anime-faces"),
        ),
        DatasetSpec(
            name="celeba",
            description="CelebA aligned faces (seed 000's second dataset; 202,599 images, 178x218).",
            licence="CelebA research-only licence",
            expected_images=202_599,
            homepage="https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
            obtain="download img_align_celeba.zip from the CelebA page (Google Drive), then put it in "
                   "$ANIME_GAN_MIRROR or point $ANIME_GAN_DATA_CELEBA at the zip or folder",
            mirror_names=("img_align_celeba", "celeba"),
        ),
    ]
}


# ---------------------------------------------------------------- sources


@dataclass
class FileSource:
    """Images in a folder or archive (optionally under a prefix inside it)."""

    path: Path
    kind: str  # mirror | env | raw | download | folder
    prefix: str = ""

    def files(self) -> Iterator[tuple[str, bytes]]:
        return iter_image_files(self.path, self.prefix)

    def count(self) -> int:
        return count_image_files(self.path, self.prefix)

    def fingerprint(self) -> str:
        if self.path.is_dir():
            stats = sorted((str(p.relative_to(self.path)), p.stat().st_size, p.stat().st_mtime_ns)
                           for p in self.path.rglob("*") if p.is_file())
            return hashlib.sha256(repr(stats).encode()).hexdigest()
        stat = self.path.stat()
        return f"{self.path.name}:{stat.st_size}:{stat.st_mtime_ns}"

    def describe(self) -> dict:
        return {"kind": self.kind, "path": str(self.path), "prefix": self.prefix}


def mirror_dir() -> Path | None:
    value = os.environ.get(MIRROR_ENV)
    return Path(value) if value and Path(value).is_dir() else None


def _find(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        for extension in ARCHIVE_EXTENSIONS:
            candidate = folder / f"{name}{extension}"
            if candidate.exists() and (candidate.is_dir() or extension):
                return candidate
    return None


def _download(url: str, destination: Path, name: str) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as handle:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {name}") as bar:
                while block := response.read(1 << 20):
                    handle.write(block)
                    bar.update(len(block))
        partial.replace(destination)
    except (urllib.error.URLError, OSError) as err:
        partial.unlink(missing_ok=True)
        raise DataError(f"could not download {name} from {url} ({err}); offline, put its files in the folder named by "
                        f"${MIRROR_ENV}") from err
    return destination


def locate(name: str, root: Path):
    """Where dataset ``name`` comes from: explicit path, mirror, earlier download, or a fresh download."""
    if name.startswith("folder:"):
        path = Path(name[len("folder:"):]).expanduser()
        if not path.exists():
            raise DataError(f"dataset {name!r}: {path} does not exist")
        return FileSource(path, "folder")
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known: {sorted(DATASETS)} or folder:<path>")
    spec = DATASETS[name]
    if name == "emoji-faces":
        return EmojiSource(root / "raw")
    explicit = os.environ.get(spec.env_var)
    if explicit:
        if not Path(explicit).exists():
            raise DataError(f"${spec.env_var} points at {explicit}, which does not exist")
        return FileSource(Path(explicit), "env")
    mirror = mirror_dir()
    if mirror is not None and (found := _find(mirror, spec.mirror_names)):
        return FileSource(found, "mirror")
    raw = root / "raw"
    if found := _find(raw, spec.mirror_names):
        return FileSource(found, "raw")
    if spec.download_url:
        archive = raw / f"{name}.zip"
        if not archive.exists():
            _download(spec.download_url, archive, name)
        return FileSource(archive, "download", spec.archive_prefix)
    where = f"${MIRROR_ENV} ({mirror})" if mirror else f"${MIRROR_ENV} (not set)"
    raise DataError(f"dataset {name!r} not found: looked for {list(spec.mirror_names)} in {where} and in {raw}. "
                    f"To get it: {spec.obtain}")


def storage_name(name: str) -> str:
    """A file-name-safe key for a dataset name (folder:<path> gets its base name plus a hash of the path)."""
    if name.startswith("folder:"):
        path = Path(name[len("folder:"):]).expanduser().resolve()
        return f"folder-{path.name}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    return name


def as_size(resolution: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(resolution, int):
        return resolution, resolution
    height, width = resolution
    return int(height), int(width)


# ---------------------------------------------------------------- preparation


@dataclass
class PreparedDataset:
    images_path: Path
    manifest_path: Path
    manifest: dict = field(default_factory=dict)


def prepared_paths(name: str, resolution, root: str | Path = "data") -> tuple[Path, Path]:
    height, width = as_size(resolution)
    stem = Path(root) / "processed" / f"{storage_name(name)}-{height}x{width}"
    return stem.with_suffix(".pt"), stem.with_suffix(".json")


def prepare(
    name: str,
    resolution: int | tuple[int, int] = 64,
    root: str | Path = "data",
    *,
    max_bad_fraction: float = 0.01,
    progress: bool = True,
    force: bool = False,
) -> PreparedDataset:
    """Decode, deduplicate and resize dataset ``name`` once; later calls reuse the cache while the source is unchanged."""
    root = Path(root)
    size = as_size(resolution)
    images_path, manifest_path = prepared_paths(name, size, root)
    source = locate(name, root)
    fingerprint = source.fingerprint()
    if not force and images_path.exists() and manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("format") == MANIFEST_FORMAT and manifest.get("source_fingerprint") == fingerprint:
            return PreparedDataset(images_path, manifest_path, manifest)

    arrays, files, corrupt, converted = [], [], [], Counter()
    seen: set[str] = set()
    duplicates = n_files = 0
    bar = tqdm(source.files(), total=source.count(), desc=f"prepare {name} {size[0]}x{size[1]}", unit="img",
               disable=not progress)
    for file_name, data in bar:
        n_files += 1
        digest = sha256_bytes(data)
        if digest in seen:
            duplicates += 1
            continue
        seen.add(digest)
        try:
            array, mode = decode(data, file_name)
        except CorruptImage as err:
            corrupt.append(str(err))
            continue
        if mode != "RGB":
            converted[mode] += 1
        arrays.append(resize(array, size))
        files.append({"name": file_name, "sha256": digest})
    if n_files == 0:
        raise DataError(f"dataset {name!r} is empty: no image files in {source.describe()}")
    bad_share = len(corrupt) / n_files
    if bad_share > max_bad_fraction:
        raise DataError(f"dataset {name!r}: {len(corrupt)} of {n_files} files ({bad_share:.1%}) are corrupt, more than the "
                        f"allowed {max_bad_fraction:.1%}; first ones: {corrupt[:3]}")
    if not arrays:
        raise DataError(f"dataset {name!r}: no readable images in {source.describe()}")
    images = to_tensor(arrays)
    spec = DATASETS.get(name)
    manifest = {
        "format": MANIFEST_FORMAT,
        "dataset": name,
        "description": spec.description if spec else f"images from {name[len('folder:'):]}",
        "licence": spec.licence if spec else "as the folder's owner licensed it",
        "source": source.describe(),
        "source_fingerprint": fingerprint,
        "n_images": len(images),
        "n_files": n_files,
        "n_duplicates": duplicates,
        "n_corrupt": len(corrupt),
        "corrupt_files": corrupt[:50],
        "converted": dict(converted),
        "expected_images_full_dataset": spec.expected_images if spec else None,
        "resolution": list(size),
        "resize": RESIZE_METHOD,
        "tensor": {"shape": list(images.shape), "dtype": "uint8", "sha256": sha256_tensor(images)},
        "versions": {"torch": torch.__version__, "opencv": cv2.__version__, "pillow": PIL.__version__,
                     "python": platform.python_version()},
        "files": files,
    }
    save_tensor(images, images_path)
    save_json(manifest, manifest_path)
    return PreparedDataset(images_path, manifest_path, manifest)


def load_images(name: str, resolution: int | tuple[int, int] = 64, root: str | Path = "data",
                progress: bool = True) -> torch.Tensor:
    """The prepared uint8 (N, 3, H, W) tensor of ``name``, preparing it on first use."""
    prepared = prepare(name, resolution, root, progress=progress)
    return torch.load(prepared.images_path, weights_only=True)


def train_holdout_split(n_images: int, holdout_fraction: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted (train, hold-out) index tensors from a seeded permutation; the same for every experiment."""
    if not 0.0 <= holdout_fraction < 1.0:
        raise DataError(f"holdout_fraction must be in [0, 1), got {holdout_fraction}")
    order = torch.randperm(n_images, generator=torch.Generator().manual_seed(seed))
    n_holdout = round(n_images * holdout_fraction)
    return order[n_holdout:].sort().values, order[:n_holdout].sort().values
