"""Reading image files: from folders and archives, decoded to RGB, resized once.

Sources are only ever opened for reading. Every image goes through
:func:`decode_image`, which loads all pixels (so a truncated JPEG fails here,
not during training), turns greyscale, palette, CMYK and 16-bit images into
RGB, composites transparent images onto white, applies the EXIF orientation,
and reports the file's original mode so the conversions can be counted.
"""

from __future__ import annotations

import contextlib
import io
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator, NamedTuple

import cv2
import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from anime_gan.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip")
CHECKSUM_FILE = "SHA256SUMS"
RESIZE_METHOD = ("centre crop to the target aspect ratio, then cv2.resize(interpolation=cv2.INTER_AREA) "
                 "(INTER_AREA averages pixels when shrinking and is bilinear-like when enlarging)")
WHITE = (255, 255, 255)
EXIF_ORIENTATION = 0x0112

Size = tuple[int, int]  # (height, width)


class CorruptImage(Exception):
    """One image could not be decoded; the caller skips and counts it."""


class Decoded(NamedTuple):
    pixels: np.ndarray  # (H, W, 3) uint8 RGB
    mode: str  # the file's PIL mode before conversion ("RGB", "L", "P", "RGBA", ...)
    exif_transposed: bool  # the EXIF orientation tag rotated or flipped it


def as_size(resolution: int | Size | list[int]) -> Size:
    """64 -> (64, 64); (128, 160) or [128, 160] -> (128, 160) as (height, width)."""
    if isinstance(resolution, (int, np.integer)) and not isinstance(resolution, bool):
        size = (int(resolution), int(resolution))
    elif isinstance(resolution, (tuple, list)) and len(resolution) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in resolution):
        size = (int(resolution[0]), int(resolution[1]))
    else:
        raise DataError(f"resolution must be a side length or [height, width] of integers, got {resolution!r}")
    if min(size) < 1:
        raise DataError(f"resolution must be positive, got {resolution!r}")
    return size


# ---------------------------------------------------------------- listing files


def _wanted(name: str, prefix: str = "") -> bool:
    """An image file under ``prefix``, not hidden and not archive clutter such as __MACOSX/."""
    if not name.startswith(prefix):
        return False
    parts = PurePosixPath(name).parts
    if any(part.startswith(".") or part == "__MACOSX" for part in parts):
        return False
    return name.lower().endswith(IMAGE_SUFFIXES)


def is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _check_source(path: Path) -> None:
    if not path.exists():
        raise DataError(f"image source not found: {path}")
    if path.is_file() and not is_archive(path):
        raise DataError(f"{path} is neither a folder nor an archive ({', '.join(ARCHIVE_SUFFIXES)}) of images")


def list_image_files(path: str | Path, prefix: str = "") -> list[str]:
    """Names (relative posix paths or archive member names) of the images in a folder or archive, sorted."""
    path = Path(path)
    _check_source(path)
    if path.is_dir():
        names = (p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
    elif path.name.lower().endswith(".zip"):
        with _open_zip(path) as archive:
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
    else:
        with _open_tar(path) as archive:
            names = [member.name for member in archive.getmembers() if member.isfile()]
    return sorted(name for name in names if _wanted(name, prefix))


def iter_image_files(path: str | Path, prefix: str = "") -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every image in a folder or archive, in the order of :func:`list_image_files`."""
    path = Path(path)
    names = list_image_files(path, prefix)
    if path.is_dir():
        for name in names:
            yield name, (path / name).read_bytes()
    elif path.name.lower().endswith(".zip"):
        with _open_zip(path) as archive:
            for name in names:
                yield name, archive.read(name)
    elif path.name.lower().endswith(".tar"):
        with _open_tar(path) as archive:  # uncompressed: members are read by seeking, in any order
            members = {m.name: m for m in archive.getmembers() if m.isfile()}
            for name in names:
                yield name, archive.extractfile(members[name]).read()
    else:
        # A compressed tar can only be read front to back; seeking backwards would decompress it again
        # for every file, so read it once in archive order and hand the files out sorted.
        wanted = set(names)
        with _open_tar(path) as archive:
            contents = {m.name: archive.extractfile(m).read() for m in archive if m.isfile() and m.name in wanted}
        for name in names:
            yield name, contents[name]


def png_names(names: list[str]) -> dict[str, str]:
    """The PNG each image name is written to by a command that writes one image per input: the same relative name
    with .png for its suffix; names that would meet (a.jpg and a.png) keep theirs (a.jpg.png, a.png.png)."""
    stems = [PurePosixPath(name).with_suffix("").as_posix() for name in names]
    return {name: f"{stem}.png" if stems.count(stem) == 1 else f"{name}.png" for name, stem in zip(names, stems)}


def read_member(path: Path, name: str) -> bytes:
    """One file's bytes from a folder or archive."""
    if path.is_dir():
        return (path / name).read_bytes()
    if path.name.lower().endswith(".zip"):
        with _open_zip(path) as archive:
            return archive.read(name)
    with _open_tar(path) as archive:
        return archive.extractfile(name).read()


def checksum_list(path: str | Path, prefix: str = "") -> tuple[str, dict[str, str]] | None:
    """The ``SHA256SUMS`` file shipped inside a folder or archive, if any: (its name, {image name: sha256}).

    Listed paths are taken relative to the source root, or else to the folder holding SHA256SUMS.
    """
    path = Path(path)
    if path.is_dir():
        found = sorted(p.relative_to(path).as_posix() for p in path.rglob(CHECKSUM_FILE) if p.is_file())
        all_names = None
    else:
        if path.name.lower().endswith(".zip"):
            with _open_zip(path) as archive:
                all_names = {i.filename for i in archive.infolist() if not i.is_dir()}
        else:
            with _open_tar(path) as archive:
                all_names = {m.name for m in archive.getmembers() if m.isfile()}
        found = sorted(n for n in all_names if PurePosixPath(n).name == CHECKSUM_FILE)
    found = [n for n in found if n.startswith(prefix)]
    if len(found) != 1:  # none, or ambiguous: nothing to check against
        return None
    sums_name = found[0]
    folder = PurePosixPath(sums_name).parent
    exists = (lambda n: (path / n).is_file()) if all_names is None else (lambda n: n in all_names)
    listed: dict[str, str] = {}
    for line in read_member(path, sums_name).decode("utf-8", "replace").splitlines():
        if not line.strip():
            continue
        digest, _, listed_name = line.strip().partition(" ")
        listed_name = listed_name.lstrip(" *")
        name = listed_name if exists(listed_name) else (folder / listed_name).as_posix()
        listed[name] = digest.lower()
    return sums_name, listed


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"cannot open the archive {path}: {err}") from err


def _open_tar(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as err:
        raise DataError(f"cannot open the archive {path}: {err}") from err


# ---------------------------------------------------------------- decoding


@contextlib.contextmanager
def _strict_truncation() -> Iterator[None]:
    # PIL would pad a truncated file with grey when this global is True (some libraries set it);
    # keep it False while we decode so such files are reported instead.
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        pixels = np.asarray(image, dtype=np.float64)
        if mode != "I" or pixels.max(initial=0) > 255:
            pixels = pixels / 257.0  # 16-bit range -> 8-bit
        image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "L")
    elif mode == "F":
        raise ValueError("floating-point images are not supported")
    has_alpha = "A" in image.mode or "a" in image.mode or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, WHITE + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def decode_image(data: bytes, name: str = "<bytes>") -> Decoded:
    """Encoded bytes -> RGB pixels; CorruptImage (naming ``name``) when the file cannot be fully decoded."""
    if not data:
        raise CorruptImage(f"{name}: empty file (0 bytes)")
    try:
        with _strict_truncation(), Image.open(io.BytesIO(data)) as image:
            image.load()
            mode = image.mode
            orientation = image.getexif().get(EXIF_ORIENTATION, 1)
            if orientation not in (0, 1):
                image = ImageOps.exif_transpose(image)
            pixels = np.array(_to_rgb(image), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as err:
        raise CorruptImage(f"{name}: {type(err).__name__}: {err}") from err
    if pixels.ndim != 3 or pixels.shape[2] != 3 or min(pixels.shape[:2]) < 1:
        raise CorruptImage(f"{name}: decoded to an unusable array of shape {pixels.shape}")
    return Decoded(pixels, mode, orientation not in (0, 1))


def center_crop(image: np.ndarray, size: Size) -> np.ndarray:
    """The largest centred window of ``image`` (H, W, C) with the aspect ratio of ``size`` = (height, width)."""
    height, width = size
    h, w = image.shape[:2]
    if h * width > w * height:  # too tall for the target: drop rows
        new_h = max(1, round(w * height / width))
        top = (h - new_h) // 2
        return image[top : top + new_h]
    if h * width < w * height:  # too wide: drop columns
        new_w = max(1, round(h * width / height))
        left = (w - new_w) // 2
        return image[:, left : left + new_w]
    return image


def resize_image(image: np.ndarray, size: Size) -> np.ndarray:
    """(H, W, 3) uint8 -> (height, width, 3) uint8: centre crop to the aspect ratio, then INTER_AREA."""
    cropped = center_crop(image, size)
    if cropped.shape[:2] == tuple(size):
        return np.ascontiguousarray(cropped)
    return cv2.resize(np.ascontiguousarray(cropped), (size[1], size[0]), interpolation=cv2.INTER_AREA)


# ---------------------------------------------------------------- collecting


@dataclass
class ImageBuffer:
    """Images collected straight into one preallocated uint8 (capacity, 3, H, W) tensor."""

    capacity: int
    size: Size

    def __post_init__(self) -> None:
        self.data = torch.empty((self.capacity, 3, *self.size), dtype=torch.uint8)
        self.count = 0

    def append(self, pixels: np.ndarray) -> None:
        self.data[self.count] = torch.from_numpy(pixels).permute(2, 0, 1)  # (H, W, 3) -> (3, H, W)
        self.count += 1

    def tensor(self) -> torch.Tensor:
        """The filled rows; a copy only when some rows stayed empty (torch.save would store them too)."""
        return self.data if self.count == self.capacity else self.data[: self.count].clone()


def read_images(path: str | Path, resolution: int | Size | list[int] | None = None,
                progress: bool = False) -> torch.Tensor:
    """Every image in a folder or .tar/.tar.gz/.zip archive as uint8 (N, 3, H, W), sorted by file name.

    With ``resolution`` each image is centre-cropped and resized (INTER_AREA); without it every image must
    have the same size. An unreadable or odd-sized file is a DataError naming it: evaluation inputs must be clean.
    """
    from tqdm.auto import tqdm

    path = Path(path)
    names = list_image_files(path)
    if not names:
        raise DataError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) found in {path}")
    size = as_size(resolution) if resolution is not None else None
    buffer: ImageBuffer | None = None
    first_name = ""
    for name, data in tqdm(iter_image_files(path), total=len(names), desc=f"read {path.name}", unit="img",
                           disable=not progress):
        try:
            pixels = decode_image(data, name).pixels
        except CorruptImage as err:
            raise DataError(f"cannot read image in {path}: {err}") from err
        if size is not None:
            pixels = resize_image(pixels, size)
        if buffer is None:
            buffer, first_name = ImageBuffer(len(names), pixels.shape[:2]), name
        elif pixels.shape[:2] != buffer.size:
            raise DataError(f"{path}: {name} is {pixels.shape[0]}x{pixels.shape[1]} (HxW) but {first_name} is "
                            f"{buffer.size[0]}x{buffer.size[1]}; pass a resolution to resize them all")
        buffer.append(pixels)
    return buffer.tensor()
