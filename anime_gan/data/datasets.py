"""Named datasets, where their files come from, and their one-time preparation.

``prepare(name, resolution)`` decodes every image once into a uint8 tensor
``<root>/processed/<name>-<H>x<W>.pt`` of shape (N, 3, H, W) with a manifest
``.json`` beside it (sources, per-file sha256, skipped / duplicate / converted
counts, licence, resize method, library versions), so training never decodes an
image per step. Later calls reuse both files while the source and parameters are
unchanged.

Where a dataset's files are looked for, in order:

1. an explicit path: the ``source`` argument, or ``$ANIME_GAN_DATA_<NAME>``
   (e.g. ``ANIME_GAN_DATA_CELEBA``);
2. the offline mirror ``$ANIME_GAN_MIRROR``: a folder or archive named after
   the dataset (``anime-faces/``, ``anime-faces-10k.tar``, ``celeba.zip``, ...);
3. ``<root>/raw/``: an earlier download, or a folder / archive put there;
4. the public download, for the datasets that have one (verified, kept in
   ``<root>/raw/``); emoji-faces comes from the npm registry instead.

Source folders and archives are only ever read. Exact duplicates (same file
bytes) are kept once, the first in file-name order.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import urllib.error
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Protocol

import cv2
import numpy as np
import PIL
import torch
from tqdm.auto import tqdm

from anime_gan.data.cache import (ChecksumMismatch, download, load_json_or_none, save_json, save_tensor, sha256_bytes,
                                  sha256_file, sha256_tensor)
from anime_gan.data.emoji import PACKAGES as EMOJI_PACKAGES
from anime_gan.data.emoji import EmojiSource
from anime_gan.data.images import (
    ARCHIVE_SUFFIXES,
    RESIZE_METHOD,
    IMAGE_SUFFIXES,
    CorruptImage,
    ImageBuffer,
    Size,
    as_size,
    checksum_list,
    center_crop,
    decode_image,
    iter_image_files,
    list_image_files,
    resize_image,
)
from anime_gan.errors import DataError

MIRROR_ENV = "ANIME_GAN_MIRROR"
FOLDER_PREFIX = "folder:"
MANIFEST_FORMAT = 2


@dataclass(frozen=True)
class Download:
    """A public archive holding a dataset's images under ``prefix``."""

    url: str
    filename: str  # kept as <root>/raw/<filename>; also looked for in the mirror
    prefix: str  # folder inside the archive that holds the images
    # GitHub builds repository archives on request, so their bytes are not guaranteed stable; what is pinned
    # is the content: sha256 over the sorted, distinct per-image sha256 hex digests (one per line).
    content_sha256: str
    n_files: int
    n_distinct: int


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: what it is, its licence, and where its files come from."""

    name: str
    description: str
    licence: str
    homepage: str
    obtain: str  # how a user gets the files when they are not found
    expected_images: int | None  # distinct images in the complete dataset
    mirror_names: tuple[str, ...] = ()  # folder / archive stems looked for in the mirror and in <root>/raw
    download: Download | None = None

    @property
    def env_var(self) -> str:
        """Environment variable that may name the dataset's folder or archive explicitly."""
        return "ANIME_GAN_DATA_" + re.sub(r"[^A-Z0-9]", "_", self.name.upper())

    @property
    def sources(self) -> list[str]:
        """Where the files are looked for, in order (human-readable)."""
        if self.name == "emoji-faces":
            return ["npm registry: emoji-datasource-twitter@16.0.0 and emoji-datasource-google@16.0.0 "
                    "(`npm pack`, cached in <root>/raw/npm)"]
        names = [f"{stem}{ext}" for stem in self.mirror_names for ext in ("/",) + ARCHIVE_SUFFIXES]
        found = [f"the `source` argument or ${self.env_var}", f"${MIRROR_ENV}/ one of {names}", "<root>/raw/ (same names)"]
        if self.download:
            found.append(f"download {self.download.url} -> <root>/raw/{self.download.filename}")
        return found


_ANI717_COMMIT = "f66d389e184b118e9db49b83d672497e3cffa81f"  # the repository's last commit (2021-09-19)

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec(
            name="anime-faces",
            description="BaMSGAN's anime faces (seed 003): Kaggle 'splcher/animefacedataset', crops of Getchu "
                        "character art, about 90-120 px square; the GitHub copy holds 63,565 files of which 41,522 "
                        "are distinct. The offline mirror holds a random 10,000 of the distinct ones.",
            licence="research use (crops of commercial game art); the GitHub repository is MIT",
            homepage="https://www.kaggle.com/datasets/splcher/animefacedataset",
            obtain=f"offline: put anime-faces-10k.tar (or the full image folder as anime-faces/) in ${MIRROR_ENV}; "
                   f"online it is downloaded from GitHub ANI717/Anime_Face_Generation_with_GANs (about 400 MB)",
            expected_images=41_522,
            mirror_names=("anime-faces", "anime-faces-10k"),
            download=Download(
                url=f"https://github.com/ANI717/Anime_Face_Generation_with_GANs/archive/{_ANI717_COMMIT}.zip",
                filename=f"Anime_Face_Generation_with_GANs-{_ANI717_COMMIT}.zip",
                prefix=f"Anime_Face_Generation_with_GANs-{_ANI717_COMMIT}/Dataset/images/",
                content_sha256="2f3570a7f0c2bbedbf027d9e1f20829a64abb0294b2e10dae5393298c227fa45",
                n_files=63_565,
                n_distinct=41_522,
            ),
        ),
        DatasetSpec(
            name="emoji-faces",
            description="Face emoji of Twemoji and Noto Emoji (npm emoji-datasource-twitter / -google 16.0.0), "
                        "64x64 PNGs: Smileys & Emotion face-* plus People & Body person*, with skin tones; "
                        "2,230 files, 2,229 distinct. Works without any download but the npm registry.",
            licence="Twemoji graphics CC-BY 4.0 (Twitter, Inc. and contributors); Noto Emoji Apache-2.0 (Google)",
            homepage="https://github.com/iamcal/emoji-data",
            obtain="fetched automatically with `npm pack` (needs Node.js and the npm registry)",
            expected_images=2_229,
        ),
        DatasetSpec(
            name="anime-faces-21k",
            description="Seed 001's anime faces: Kaggle 'soumikrakshit/anime-faces', 21,551 Getchu character "
                        "faces, 64x64 PNGs.",
            licence="research use (crops of commercial game art)",
            homepage="https://www.kaggle.com/datasets/soumikrakshit/anime-faces",
            obtain=f"`kaggle datasets download -d soumikrakshit/anime-faces` (saves anime-faces.zip; the name clashes "
                   f"with BaMSGAN's set, so rename it), then `mv anime-faces.zip ${MIRROR_ENV}/anime-faces-21k.zip`, or "
                   f"set $ANIME_GAN_DATA_ANIME_FACES_21K to the zip or its unpacked folder",
            expected_images=21_551,
            mirror_names=("anime-faces-21k",),
        ),
        DatasetSpec(
            name="celeba",
            description="CelebA aligned and cropped faces (seed 000's second dataset): 202,599 JPEGs, 178x218 "
                        "(WxH). Seed 000 used 100,000 of them at 128x160.",
            licence="CelebA agreement: non-commercial research only",
            homepage="https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
            obtain=f"download img_align_celeba.zip (1.4 GB) from the CelebA page's Google Drive "
                   f"(https://drive.google.com/uc?id=0B7EVK8r0v71pZjFTYXZWM3FlRnM, md5 00d2c5bc6d35e252742224ab0c1e8fcb, "
                   f"as torchvision.datasets.CelebA), or `kaggle datasets download -d jessicali9530/celeba-dataset`; "
                   f"put the zip or the img_align_celeba/ folder in ${MIRROR_ENV}, or set $ANIME_GAN_DATA_CELEBA to it",
            expected_images=202_599,
            mirror_names=("img_align_celeba", "celeba"),
        ),
        DatasetSpec(
            name="utkface-photos",
            description="Real face photographs, the photo domain of seed 000's photo-to-anime translation when "
                        "CelebA is not at hand: UTKFace (Zhang, Song, Qi, CVPR 2017) 'aligned and cropped' faces, "
                        "JPEG, 200x200. The offline mirror's utkface-photos-5k.tar holds 5,000 of them, a seeded "
                        "random subset of the distinct images aged 15-40 (by the file names' age field: "
                        "age_gender_race_date.jpg.chip.jpg) of the set as committed in the GitHub repository "
                        "mattans/AgeProgression under data/UTKFace/unlabeled (23,707 files, 23,317 distinct).",
            licence="UTKFace: non-commercial research purposes only; the images' copyright stays with their owners",
            homepage="https://github.com/mattans/AgeProgression",
            obtain=f"offline: put utkface-photos-5k.tar (or the full image folder as utkface-photos/) in "
                   f"${MIRROR_ENV}; otherwise download the 'Aligned&Cropped Faces' archive from UTKFace's site "
                   f"(https://susanqq.github.io/UTKFace/, non-commercial research use only) and set "
                   f"$ANIME_GAN_DATA_UTKFACE_PHOTOS to it or to its unpacked folder. Any other folder of face "
                   f"photographs works the same way, or as the dataset folder:<path>",
            expected_images=23_317,  # distinct files of the full aligned-and-cropped set in the copy above
            mirror_names=("utkface-photos", "utkface-photos-5k"),
        ),
    ]
}


# ---------------------------------------------------------------- sources


class Source(Protocol):
    kind: str

    def names(self) -> list[str]: ...
    def files(self) -> Iterator[tuple[str, bytes]]: ...
    def fingerprint(self) -> str: ...
    def describe(self) -> dict: ...


@dataclass
class FileSource:
    """Images in a folder or an archive (optionally only those under ``prefix`` inside it)."""

    path: Path
    kind: str  # folder | explicit | env | mirror | raw | download
    prefix: str = ""
    _names: list[str] | None = field(default=None, repr=False)

    def names(self) -> list[str]:
        if self._names is None:
            self._names = list_image_files(self.path, self.prefix)
        return self._names

    def files(self) -> Iterator[tuple[str, bytes]]:
        return iter_image_files(self.path, self.prefix)

    def checksums(self) -> tuple[str, dict[str, str]] | None:
        return checksum_list(self.path, self.prefix)

    def fingerprint(self) -> str:
        """Identity of the source's content: names and bytes, not paths or modification times.

        A mirror that is copied or mounted again gets new modification times but the same bytes; the prepared
        cache (and DVC's view of it) must then stay as it is.
        """
        if self.path.is_dir():
            digest = hashlib.sha256(self.prefix.encode())
            for p in sorted(self.path.rglob("*")):
                if p.is_file():
                    digest.update(f"\0{p.relative_to(self.path).as_posix()}\0".encode())
                    digest.update(bytes.fromhex(sha256_file(p)))
            return "folder:" + digest.hexdigest()
        return f"archive:{sha256_file(self.path)}:{self.prefix}"

    def describe(self) -> dict:
        return {"kind": self.kind, "path": str(self.path), "prefix": self.prefix}


def mirror_dir() -> Path | None:
    """The offline mirror folder named by $ANIME_GAN_MIRROR, when it is set and exists."""
    value = os.environ.get(MIRROR_ENV)
    return Path(value).expanduser() if value and Path(value).expanduser().is_dir() else None


def _find_local(folder: Path, stems: tuple[str, ...]) -> Path | None:
    for stem in stems:
        if (folder / stem).is_dir():
            return folder / stem
        for extension in ARCHIVE_SUFFIXES:
            if (folder / f"{stem}{extension}").is_file():
                return folder / f"{stem}{extension}"
    return None


def _folder_path(name: str) -> Path:
    text = name[len(FOLDER_PREFIX):]
    if not text:
        raise DataError(f"dataset {name!r}: give a folder or archive after 'folder:', e.g. folder:~/my-faces")
    return Path(text).expanduser()


def _explicit(path: str | Path, kind: str, what: str) -> FileSource:
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{what} points at {path}, which does not exist")
    return FileSource(path, kind)


def locate(name: str, root: str | Path = "data", source: str | Path | None = None, *, fetch: bool = True) -> Source | None:
    """Where dataset ``name`` comes from (see the module docstring for the order).

    With ``fetch=False`` nothing is downloaded and None means "only a download would find it".
    """
    root = Path(root)
    if name.startswith(FOLDER_PREFIX):
        return _explicit(_folder_path(name), "folder", f"dataset {name!r}")
    spec = get_spec(name)
    if name == "emoji-faces":
        if source is not None:
            raise DataError("emoji-faces always comes from its npm packages; use folder:<path> for other images")
        npm_dir = root / "raw" / "npm"
        if not fetch and not all((npm_dir / p.tarball_name).is_file() for p in EMOJI_PACKAGES):
            return None
        return EmojiSource(npm_dir)
    if source is not None:
        return _explicit(source, "explicit", f"the source given for {name!r}")
    if os.environ.get(spec.env_var):
        return _explicit(os.environ[spec.env_var], "env", f"${spec.env_var}")
    mirror = mirror_dir()
    raw = root / "raw"
    for folder, kind in ((mirror, "mirror"), (raw, "raw")):
        if folder is None:
            continue
        if spec.download and (folder / spec.download.filename).is_file():
            return FileSource(folder / spec.download.filename, kind, spec.download.prefix)
        if found := _find_local(folder, spec.mirror_names):
            return FileSource(found, kind)
    if spec.download is None:
        where = f"${MIRROR_ENV} ({mirror})" if mirror else f"${MIRROR_ENV} (not set)"
        raise DataError(f"dataset {name!r} was not found: looked for {list(spec.mirror_names)} (folder or "
                        f"{'/'.join(ARCHIVE_SUFFIXES)}) in {where} and in {raw}, and ${spec.env_var} is not set. "
                        f"To get it: {spec.obtain}")
    if not fetch:
        return None
    return FileSource(_download_dataset(spec, raw), "download", spec.download.prefix)


def _download_dataset(spec: DatasetSpec, raw: Path) -> Path:
    """Download the dataset's archive into ``raw`` and check its images against the pinned content digest."""
    assert spec.download is not None
    archive = raw / spec.download.filename
    try:
        download(spec.download.url, archive, desc=f"download {spec.name}")
    except (urllib.error.URLError, OSError, ChecksumMismatch) as err:
        raise DataError(
            f"dataset {spec.name!r} could not be downloaded from {spec.download.url} ({err}). Offline, put its files "
            f"in the folder named by ${MIRROR_ENV} ({os.environ.get(MIRROR_ENV) or 'not set'}), e.g. "
            f"{' or '.join(spec.mirror_names)} as a folder or .tar/.zip. {spec.obtain}") from err
    digests = {sha256_bytes(data) for _, data in iter_image_files(archive, spec.download.prefix)}
    if content_sha256(digests) != spec.download.content_sha256:
        archive.unlink()  # our own download, and it is not the published dataset
        raise DataError(f"the archive downloaded from {spec.download.url} does not hold the published {spec.name} images "
                        f"({len(digests)} distinct files, expected {spec.download.n_distinct}); it was deleted. Try again "
                        f"later, or put the images in ${MIRROR_ENV}.")
    return archive


def content_sha256(digests: set[str] | list[str]) -> str:
    """sha256 over the sorted, distinct per-file sha256 hex digests, one per line: identifies a set of files."""
    return hashlib.sha256("\n".join(sorted(set(digests))).encode()).hexdigest()


def get_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)} or folder:<path>")
    return DATASETS[name]


def storage_name(name: str) -> str:
    """A file-name-safe key: the dataset name, or folder-<base name>-<8 hex of the absolute path> for folder:<path>."""
    if name.startswith(FOLDER_PREFIX):
        path = _folder_path(name).resolve()
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", path.name).strip("._") or "root"
        return f"folder-{base}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    get_spec(name)
    return name


def prepared_paths(name: str, resolution: int | Size | list[int] = 64, root: str | Path = "data") -> tuple[Path, Path]:
    """(tensor file, manifest file) of dataset ``name`` at ``resolution`` under ``root``."""
    height, width = as_size(resolution)
    stem = f"{storage_name(name)}-{height}x{width}"
    folder = Path(root) / "processed"
    return folder / f"{stem}.pt", folder / f"{stem}.json"


# ---------------------------------------------------------------- preparation


@dataclass
class PreparedDataset:
    images_path: Path  # uint8 (N, 3, H, W) tensor, torch.save format
    manifest_path: Path
    manifest: dict

    @property
    def n_images(self) -> int:
        return int(self.manifest["n_images"])


def _versions() -> dict[str, str]:
    return {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "pillow": PIL.__version__, "opencv": cv2.__version__}


def _params(name: str, size: Size, fingerprint: str | None) -> dict:
    return {"format": MANIFEST_FORMAT, "dataset": name, "resolution": list(size), "resize": RESIZE_METHOD,
            "source_fingerprint": fingerprint}


def _reusable(images_path: Path, manifest_path: Path, params: dict, ignore_source: bool = False) -> dict | None:
    manifest = load_json_or_none(manifest_path)
    if manifest is None or not images_path.is_file():
        return None
    cached = dict(manifest.get("params", {}))
    wanted = dict(params)
    if ignore_source:
        cached.pop("source_fingerprint", None)
        wanted.pop("source_fingerprint", None)
    if cached != wanted or images_path.stat().st_size != manifest.get("tensor", {}).get("bytes"):
        return None
    return manifest


def prepare(
    name: str,
    resolution: int | Size | list[int] = 64,
    root: str | Path = "data",
    *,
    max_bad_fraction: float = 0.01,
    progress: bool = True,
    force: bool = False,
    source: str | Path | None = None,
) -> PreparedDataset:
    """Decode, de-duplicate and resize dataset ``name`` once into ``<root>/processed/``.

    The cache is reused while its manifest records the same source state and parameters (or when the source is
    gone but the prepared files are there); ``force=True`` prepares again. ``source`` names the dataset's folder
    or archive explicitly. Corrupt files are skipped and counted; more than ``max_bad_fraction`` of them is a
    DataError.
    """
    if not 0.0 <= max_bad_fraction <= 1.0:
        raise DataError(f"max_bad_fraction must be between 0 and 1, got {max_bad_fraction}")
    size = as_size(resolution)
    images_path, manifest_path = prepared_paths(name, size, root)
    found = locate(name, root, source, fetch=False)
    if not force:
        params = _params(name, size, found.fingerprint() if found else None)
        if manifest := _reusable(images_path, manifest_path, params, ignore_source=found is None):
            return PreparedDataset(images_path, manifest_path, manifest)
    found = found or locate(name, root, source, fetch=True)
    images, manifest = _decode_all(name, found, size, max_bad_fraction, progress)
    manifest["tensor"]["file"] = images_path.name
    save_tensor(images, images_path)
    manifest["tensor"]["bytes"] = images_path.stat().st_size
    save_json(manifest, manifest_path)  # last: a manifest only ever describes a complete tensor file
    return PreparedDataset(images_path, manifest_path, manifest)


def _decode_all(name: str, source: Source, size: Size, max_bad_fraction: float, progress: bool) -> tuple[torch.Tensor, dict]:
    names = source.names()
    if not names:
        raise DataError(f"dataset {name!r} is empty: no image files in {source.describe()}")
    listed = source.checksums() if isinstance(source, FileSource) else None
    buffer = ImageBuffer(len(names), size)
    kept: dict[str, str] = {}  # sha256 -> first file name with those bytes
    files, duplicates, corrupt, mismatched = [], [], [], []
    converted: Counter[str] = Counter()
    n_upscaled = n_transposed = 0
    bar = tqdm(source.files(), total=len(names), desc=f"prepare {name} {size[0]}x{size[1]}", unit="img",
               disable=not progress)
    for file_name, data in bar:
        digest = sha256_bytes(data)
        if listed and file_name in listed[1] and listed[1][file_name] != digest:
            mismatched.append(file_name)
        if digest in kept:
            duplicates.append({"name": file_name, "same_as": kept[digest]})
            continue
        kept[digest] = file_name
        try:
            decoded = decode_image(data, file_name)
        except CorruptImage as err:
            corrupt.append({"name": file_name, "error": str(err).removeprefix(f"{file_name}: ")})
            continue
        if decoded.mode != "RGB":
            converted[decoded.mode] += 1
        n_transposed += decoded.exif_transposed
        cropped_h, cropped_w = center_crop(decoded.pixels, size).shape[:2]
        n_upscaled += cropped_h < size[0] or cropped_w < size[1]
        buffer.append(resize_image(decoded.pixels, size))
        files.append({"name": file_name, "sha256": digest})
    if mismatched:
        raise DataError(f"dataset {name!r}: {len(mismatched)} files differ from {listed[0]} in {source.describe()['path']} "
                        f"(e.g. {mismatched[:3]}); the copy is damaged, fetch it again")
    if listed:
        absent = sorted(n for n in set(listed[1]) - set(names) if n.lower().endswith(IMAGE_SUFFIXES))
        if absent:
            raise DataError(f"dataset {name!r}: {len(absent)} files listed in {listed[0]} are missing from "
                            f"{source.describe()['path']} (e.g. {absent[:3]}); the copy is incomplete")
    n_distinct = len(kept)
    if len(corrupt) > max_bad_fraction * n_distinct or not files:
        examples = "; ".join(f"{c['name']} ({c['error']})" for c in corrupt[:5])
        raise DataError(f"dataset {name!r}: {len(corrupt)} of {n_distinct} distinct files "
                        f"({len(corrupt) / n_distinct:.1%}) cannot be decoded, more than the allowed "
                        f"max_bad_fraction={max_bad_fraction:g}; e.g. {examples}")
    images = buffer.tensor()
    spec = DATASETS.get(name)
    manifest = {
        "format": MANIFEST_FORMAT,
        "dataset": name,
        "description": spec.description if spec else f"images from {_folder_path(name)}",
        "licence": spec.licence if spec else "as licensed by the folder's owner",
        "homepage": spec.homepage if spec else None,
        "source": source.describe(),
        "params": _params(name, size, source.fingerprint()),
        "n_images": len(files),
        "n_files": len(names),
        "n_duplicates": len(duplicates),
        "n_skipped": len(corrupt),
        "n_converted": sum(converted.values()),
        "converted": dict(sorted(converted.items())),  # original PIL mode -> count
        "n_upscaled": n_upscaled,  # smaller than the target after cropping, so enlarged
        "n_exif_transposed": n_transposed,
        "max_bad_fraction": max_bad_fraction,
        "checksums_verified": {"file": listed[0], "n_files": len(listed[1])} if listed else None,
        "content_sha256": content_sha256(kept),
        "expected_images_full_dataset": spec.expected_images if spec else None,
        "resolution": list(size),
        "resize": RESIZE_METHOD,
        "tensor": {"shape": list(images.shape), "dtype": "uint8", "layout": "N, C (RGB), H, W",
                   "sha256": sha256_tensor(images)},
        "versions": _versions(),
        "files": files,  # row i of the tensor is files[i]
        "duplicates": duplicates,
        "skipped": corrupt,
    }
    if spec and spec.download:
        manifest["complete_published_set"] = manifest["content_sha256"] == spec.download.content_sha256
    return images, manifest


def load_images(name: str, resolution: int | Size | list[int] = 64, root: str | Path = "data",
                progress: bool = True) -> torch.Tensor:
    """The prepared uint8 (N, 3, H, W) tensor of dataset ``name``, preparing it on first use."""
    prepared = prepare(name, resolution, root, progress=progress)
    images = torch.load(prepared.images_path, map_location="cpu", weights_only=True)
    expected = prepared.manifest["tensor"]["shape"]
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or list(images.shape) != expected:
        raise DataError(f"{prepared.images_path} does not hold the uint8 {expected} tensor its manifest describes; "
                        f"run `python -m anime_gan prepare {name} --force`")
    return images


def train_holdout_split(n_images: int, holdout_fraction: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, hold-out) index tensors from one seeded permutation, identical for every experiment.

    The hold-out part has round(n_images * holdout_fraction) indices, in random order, so ``holdout[:n]`` is a
    uniform sample of it; the training indices are sorted (file-name order).
    """
    if isinstance(n_images, bool) or not isinstance(n_images, int) or n_images < 0:
        raise DataError(f"n_images must be a non-negative integer, got {n_images!r}")
    if not 0.0 <= holdout_fraction < 1.0:
        raise DataError(f"holdout_fraction must be in [0, 1), got {holdout_fraction}")
    order = torch.randperm(n_images, generator=torch.Generator().manual_seed(seed))
    n_holdout = round(n_images * holdout_fraction)
    return order[n_holdout:].sort().values, order[:n_holdout]
