"""One's own photographs through a trained translator: find the face, frame it like a training photograph,
translate it with G (photo -> anime).

    translator = load_translator("data/runs/.../checkpoint.pt")        # anime_gan.experiment
    result = translate_photo(translator, pixels, size=128)              # pixels: (H, W, 3) uint8, any size
    result.anime, result.comparison()                                   # (128, 128, 3); crop | translation
    sheet = comparison_sheet([result, ...])                             # one comparison per row
    summary = translate_photo_files(translator, "photos/", "anime/", size=128, compare=True)
    photos = holdout_photographs(translator.config, 4)                  # held-out photographs, full size

The face is found and cut out by ``anime_gan.translation.faces``; the crop is resized to the translator's
``data.resolution`` the way the training photographs were (``resize_image``: INTER_AREA), and G's output to
``size``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from anime_gan.config import TranslationConfig, resolution_of
from anime_gan.data.cache import atomic_write, save_json
from anime_gan.data.datasets import FileSource, locate, prepare, train_holdout_split
from anime_gan.data.images import (CorruptImage, decode_image, is_archive, iter_image_files, list_image_files,
                                   png_names, read_member, resize_image)
from anime_gan.errors import ConfigError, DataError
from anime_gan.experiment.translation import Translator
from anime_gan.translation.evaluate import translate
from anime_gan.translation.faces import FaceCrop, find_face

RECORDS_FILE = "translate-records.json"
COMPARISONS = "compare"  # a folder's side-by-side images go in this subfolder of the output folder
GAP = 4  # white pixels between the crop and its translation in a side-by-side image
TRANSLATED, NO_FACE, UNREADABLE = "translated", "no face", "unreadable"


class NoFaceFound(DataError):
    """The detector saw no face in a photograph."""


@dataclass
class PhotoTranslation:
    """A photograph's face and its translation."""

    face: FaceCrop  # where the face was and how it was cut out
    photo: np.ndarray  # (H, W, 3) uint8: the crop at the translator's resolution, G's input
    anime: np.ndarray  # (size, size, 3) uint8: G(photo) resized to the output size

    def comparison(self) -> np.ndarray:
        """(size, 2 size + GAP, 3) uint8: the crop and its translation side by side, at the output size."""
        crop = resize_image(self.face.pixels, self.anime.shape[:2])
        gap = np.full((self.anime.shape[0], GAP, 3), 255, dtype=np.uint8)
        return np.concatenate([crop, gap, self.anime], axis=1)

    def note(self) -> str | None:
        """What the user should know: several faces, only the largest translated."""
        found = self.face.faces_found
        return f"{found} faces found; the largest was translated" if found > 1 else None

    def record(self) -> dict:
        return {**self.face.record(), "size": int(self.anime.shape[0]), "note": self.note()}


def comparison_sheet(results: list[PhotoTranslation]) -> np.ndarray:
    """The comparisons of translations at one size, one per row, GAP white pixels apart: (H', W', 3) uint8."""
    if not results:
        raise DataError("a comparison sheet needs at least one translated photo")
    rows = [result.comparison() for result in results]
    if len({row.shape for row in rows}) > 1:
        raise DataError(f"the comparisons differ in size ({sorted({row.shape for row in rows})}); translate every "
                        "photo at one size")
    gap = np.full((GAP, rows[0].shape[1], 3), 255, dtype=np.uint8)
    return np.concatenate([part for row in rows for part in (gap, row)][1:], axis=0)


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ConfigError(f"the output size must be a positive number of pixels, got {size!r}")


def translate_photo(translator: Translator, pixels: np.ndarray, size: int = 64,
                    name: str = "the photo") -> PhotoTranslation:
    """The largest face of ``pixels`` ((H, W, 3) uint8 RGB, any size) translated by G; NoFaceFound (naming
    ``name``) when the detector sees none."""
    _check_size(size)
    face = find_face(pixels)
    if face is None:
        raise NoFaceFound(f"no face found in {name}")
    photo = resize_image(face.pixels, resolution_of(translator.config))
    translated = translate(translator.g, torch.from_numpy(photo).permute(2, 0, 1)[None])  # (1, 3, H, W) uint8
    anime = resize_image(np.ascontiguousarray(translated[0].permute(1, 2, 0).numpy()), (size, size))
    return PhotoTranslation(face, photo, anime)


def save_png(pixels: np.ndarray, path: Path, record: dict) -> Path:
    """``pixels`` as a PNG, written atomically, with ``record`` as JSON in its text chunk ``anime_gan.translate``."""
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("anime_gan.translate", json.dumps(record))
    return atomic_write(path, lambda handle: Image.fromarray(pixels).save(handle, format="PNG", pnginfo=info))


def _targets(source: Path, out: Path, single: bool) -> dict[str, tuple[Path, Path]]:
    """(output PNG, side-by-side PNG) of every input photo (by its name relative to ``source``): for one photo
    ``out`` and ``<out stem>-compare.png`` beside it, for a folder the same relative names in ``out`` and in
    ``out/compare/``. None of them may be a source file."""
    if single:
        if out.is_dir():
            out = out / f"{source.stem}.png"
        elif out.suffix.lower() != ".png":
            raise ConfigError(f"--out {out}: one photo is written as a PNG file (name it *.png) or into an "
                              "existing folder")
        targets = {source.name: (out, out.with_name(f"{out.stem}-compare.png"))}
        sources = {source.resolve()}
    else:
        if out.is_file() or out.suffix.lower() == ".png":
            raise ConfigError(f"--out {out} must be a folder when --input is a folder or archive")
        names = list_image_files(source)
        if not names:
            raise DataError(f"no image files found in {source}")
        targets = {name: (out / png, out / COMPARISONS / png) for name, png in png_names(names).items()}
        sources = {(source / name).resolve() for name in names} if source.is_dir() else {source.resolve()}
    for pair in targets.values():
        for target in pair:
            if target.resolve() in sources:
                raise ConfigError(f"--out would overwrite the source photo {target}; choose another output")
    return targets


def translate_photo_files(translator: Translator, source: str | Path, out: str | Path, size: int = 64,
                          compare: bool = False, provenance: dict | None = None,
                          on_file: Callable[[dict], None] | None = None) -> dict:
    """Translate the face of one photo file (``out``: a .png file, or an existing folder) or of every image in a
    folder or .tar/.zip archive (``out``: a folder of PNGs with the same relative names, plus RECORDS_FILE).

    A folder goes past unreadable images and images without a face and counts them; one photo that cannot be
    read or shows no face is a DataError. ``compare`` adds the crop-and-translation image of each. Sources are
    only read; every file is written atomically. ``on_file`` sees each file's record as it is done. Returns the
    summary: counts, records, and ``provenance`` (what made the translations) as given.
    """
    _check_size(size)
    source, out = Path(source), Path(out)
    if not source.exists():
        raise DataError(f"photo or folder not found: {source}")
    single = source.is_file() and not is_archive(source)
    targets = _targets(source, out, single)
    if single:
        try:
            files = [(source.name, source.read_bytes())]
        except OSError as err:
            raise DataError(f"cannot read the photo {source}: {err}") from err
    else:
        files = iter_image_files(source)

    records: dict[str, dict] = {}
    for name, data in files:
        record: dict = {"file": name}
        try:
            pixels = decode_image(data, name).pixels
            result = translate_photo(translator, pixels, size, name=name)
        except CorruptImage as err:
            if single:
                raise DataError(f"cannot read the photo {source}: {err}") from err
            record.update(status=UNREADABLE, error=str(err))
        except NoFaceFound:
            if single:
                raise NoFaceFound(f"no face found in {source}") from None
            record.update(status=NO_FACE)
        else:
            output, comparison = targets[name]
            record.update(status=TRANSLATED, output=str(output), **result.record())
            if compare:
                record["comparison"] = str(comparison)
            described = {"source": str(source if single else source / name), **record, **(provenance or {})}
            save_png(result.anime, output, described)
            if compare:
                save_png(result.comparison(), comparison, described)
        records[name] = record
        if on_file is not None:
            on_file(record)
    counts = {status: sum(r["status"] == status for r in records.values()) for status in (TRANSLATED, NO_FACE,
                                                                                           UNREADABLE)}
    summary = {"input": str(source), "output": str(targets[source.name][0] if single else out), "size": size,
               "compare": compare, **(provenance or {}), "n_images": len(records),
               "n_translated": counts[TRANSLATED], "n_no_face": counts[NO_FACE], "n_unreadable": counts[UNREADABLE],
               "images": records}
    if not single:
        save_json(summary, out / RECORDS_FILE)
    return summary


def holdout_photographs(config: TranslationConfig, n: int) -> list[tuple[str, np.ndarray]]:
    """The first ``n`` held-out photographs of the translator's source dataset (the seeded hold-out split that
    training never saw), as (file name, (H, W, 3) uint8 pixels) at their original size, read from the dataset's
    files: what a user would hand to ``translate_photo``. The same choice as ``holdout_images``."""
    dataset = config.source.dataset
    prepared = prepare(dataset, resolution_of(config), root=config.data.root, progress=False)
    found = locate(dataset, config.data.root, fetch=False)
    if not isinstance(found, FileSource):
        raise DataError(f"source dataset {dataset!r}: its photographs are not files to read back here")
    names = [entry["name"] for entry in prepared.manifest["files"]]  # row i of the prepared tensor is names[i]
    train, holdout = train_holdout_split(len(names), config.data.holdout_fraction)
    order = holdout if len(holdout) else train  # data.holdout_fraction 0: the training photographs, as holdout_images
    chosen = [names[i] for i in order[:n].tolist()]
    return [(name, decode_image(read_member(found.path, name), name).pixels) for name in chosen]
