"""Reading image files: from folders and archives, decoded to RGB, resized once.

Every decoder path goes through :func:`decode`, which loads the whole image
(so a truncated JPEG is caught here, not at training time), converts greyscale,
palette and alpha images to RGB (alpha composited onto white) and reports the
original mode so conversions can be counted.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import torch
from PIL import Image, ImageFile, UnidentifiedImageError

from anime_gan.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif")
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".zip")
RESIZE_METHOD = "centre crop to the target aspect ratio, then cv2.resize INTER_AREA"

# Truncated files must fail loudly; never let PIL pad them with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class CorruptImage(Exception):
    """One image could not be decoded (the caller skips and counts it)."""


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _is_image_name(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and base.lower().endswith(IMAGE_SUFFIXES)


def iter_image_files(path: str | Path, prefix: str = "") -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every image file in a folder or a tar/zip archive, sorted by name; read-only.

    ``prefix`` keeps only archive members under that folder.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"image source not found: {path}")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and _is_image_name(p.name))
        for file in files:
            yield file.relative_to(path).as_posix(), file.read_bytes()
    elif path.name.lower().endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            names = sorted(n for n in archive.namelist() if n.startswith(prefix) and _is_image_name(n))
            for name in names:
                yield name, archive.read(name)
    elif is_archive(path):
        with tarfile.open(path, "r:*") as archive:
            members = sorted((m for m in archive.getmembers()
                              if m.isfile() and m.name.startswith(prefix) and _is_image_name(m.name)), key=lambda m: m.name)
            for member in members:
                yield member.name, archive.extractfile(member).read()
    else:
        raise DataError(f"{path} is neither a folder nor a .tar/.tar.gz/.tgz/.zip archive of images")


def count_image_files(path: str | Path, prefix: str = "") -> int:
    """Number of image files :func:`iter_image_files` will yield (for progress bars)."""
    path = Path(path)
    if path.is_dir():
        return sum(1 for p in path.rglob("*") if p.is_file() and _is_image_name(p.name))
    if path.name.lower().endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            return sum(1 for n in archive.namelist() if n.startswith(prefix) and _is_image_name(n))
    with tarfile.open(path, "r:*") as archive:
        return sum(1 for m in archive.getmembers() if m.isfile() and m.name.startswith(prefix) and _is_image_name(m.name))


def decode(data: bytes, name: str = "<bytes>") -> tuple[np.ndarray, str]:
    """Bytes -> (H, W, 3) uint8 RGB array and the file's original PIL mode; CorruptImage when unreadable."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            mode = image.mode
            has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info)
            if has_alpha:
                rgba = image.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                rgb = Image.alpha_composite(white, rgba).convert("RGB")
            else:
                rgb = image.convert("RGB")
            return np.asarray(rgb, dtype=np.uint8).copy(), mode
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise CorruptImage(f"{name}: {type(err).__name__}: {err}") from err


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Centre-crop (H, W, 3) to the aspect ratio of ``size`` = (height, width), then resize with INTER_AREA."""
    height, width = size
    h, w = image.shape[:2]
    if h * width > w * height:  # too tall: crop rows
        new_h = round(w * height / width)
        top = (h - new_h) // 2
        image = image[top : top + new_h]
    elif h * width < w * height:  # too wide: crop columns
        new_w = round(h * width / height)
        left = (w - new_w) // 2
        image = image[:, left : left + new_w]
    if image.shape[:2] == (height, width):
        return np.ascontiguousarray(image)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """List of (H, W, 3) uint8 arrays -> (N, 3, H, W) uint8 tensor."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


def read_images(path: str | Path, resolution: int | tuple[int, int] | None = None) -> torch.Tensor:
    """Every image in a folder or tar/zip archive as uint8 (N, 3, H, W).

    With ``resolution`` each image is centre-cropped and resized; without it all images must share one size.
    Unreadable files raise a DataError naming them (evaluation inputs should be clean).
    """
    size = (resolution, resolution) if isinstance(resolution, int) else (tuple(resolution) if resolution else None)
    arrays, first = [], None
    for name, data in iter_image_files(path):
        try:
            array, _ = decode(data, name)
        except CorruptImage as err:
            raise DataError(f"cannot read image {err}") from err
        if size is not None:
            array = resize(array, size)
        elif first is None:
            first = (name, array.shape)
        elif array.shape != first[1]:
            raise DataError(f"{path}: {name} is {array.shape[1]}x{array.shape[0]} but {first[0]} is "
                            f"{first[1][1]}x{first[1][0]}; pass a resolution to resize them all")
        arrays.append(array)
    if not arrays:
        raise DataError(f"no image files (.jpg, .png, ...) found in {path}")
    return to_tensor(arrays)
