"""Datasets, bad input, the edge-blurred set and assets."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from anime_gan.data import load_images, prepare, read_images, train_holdout_split
from anime_gan.data import assets
from anime_gan.data.blur import choose_blurred, edge_blur, make_blur_set
from anime_gan.errors import AssetError, DataError


def tree_digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def png(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(array)
    if mode:
        image = image.convert(mode)
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def messy_folder(tmp_path: Path) -> Path:
    """Good images of several modes, one duplicate, and three unreadable files."""
    folder = tmp_path / "faces"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        (folder / f"rgb_{i}.png").write_bytes(png(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)))
    (folder / "copy_of_rgb_0.png").write_bytes((folder / "rgb_0.png").read_bytes())  # exact duplicate
    (folder / "grey.png").write_bytes(png(rng.integers(0, 255, (20, 20), dtype=np.uint8)))
    (folder / "palette.png").write_bytes(png(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8), "P"))
    rgba = rng.integers(0, 255, (20, 20, 4), dtype=np.uint8)
    (folder / "rgba.png").write_bytes(png(rgba))
    jpeg = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(jpeg, format="JPEG")
    (folder / "truncated.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    (folder / "empty.png").write_bytes(b"")
    (folder / "noise.jpg").write_bytes(rng.integers(0, 255, 500, dtype=np.uint8).tobytes())
    return folder


def test_messy_folder_is_prepared_with_counts_and_left_untouched(messy_folder, tmp_path):
    before = tree_digest(messy_folder)
    prepared = prepare(f"folder:{messy_folder}", 16, root=tmp_path / "data", max_bad_fraction=0.5, progress=False)
    m = prepared.manifest
    assert m["n_files"] == 13
    assert m["n_duplicates"] == 1
    assert m["n_skipped"] == 3
    assert m["n_images"] == 9  # 6 RGB + grey + palette + RGBA, the duplicate counted once
    assert m["n_converted"] >= 3  # grey, palette and RGBA became RGB
    images = torch.load(prepared.images_path, weights_only=True)
    assert images.shape == (9, 3, 16, 16) and images.dtype == torch.uint8
    assert tree_digest(messy_folder) == before  # source data is never modified


def test_prepared_cache_follows_content_not_modification_times(messy_folder, tmp_path):
    """A re-copied source (new mtimes, same bytes) reuses the cache; a changed image re-prepares it."""
    name, root = f"folder:{messy_folder}", tmp_path / "data"
    first = prepare(name, 16, root=root, max_bad_fraction=0.5, progress=False)
    cache_bytes = first.manifest_path.read_bytes()
    for p in messy_folder.iterdir():
        os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 10**12))
    again = prepare(name, 16, root=root, max_bad_fraction=0.5, progress=False)
    assert again.manifest_path.read_bytes() == cache_bytes  # not rewritten: DVC sees no change
    (messy_folder / "grey.png").write_bytes(png(np.zeros((20, 20), dtype=np.uint8)))
    changed = prepare(name, 16, root=root, max_bad_fraction=0.5, progress=False)
    assert changed.manifest["params"]["source_fingerprint"] != first.manifest["params"]["source_fingerprint"]
    assert changed.manifest["tensor"]["sha256"] != first.manifest["tensor"]["sha256"]


def test_too_many_unreadable_files_is_an_error_naming_them(messy_folder, tmp_path):
    with pytest.raises(DataError, match="truncated.jpg|empty.png|noise.jpg"):
        prepare(f"folder:{messy_folder}", 16, root=tmp_path / "data", max_bad_fraction=0.1, progress=False)
    assert not (tmp_path / "data" / "processed").exists() or not any((tmp_path / "data" / "processed").glob("*.pt"))


def test_missing_and_empty_sources_and_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="does-not-exist"):
        prepare(f"folder:{tmp_path / 'does-not-exist'}", 16, root=tmp_path / "data", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty"):
        prepare(f"folder:{tmp_path / 'empty'}", 16, root=tmp_path / "data", progress=False)
    with pytest.raises(DataError, match="max_bad_fraction"):
        prepare(f"folder:{tmp_path / 'empty'}", 16, root=tmp_path / "data", max_bad_fraction=2.0)
    with pytest.raises(DataError, match="unknown|not one of|no dataset"):
        prepare("no-such-dataset", 16, root=tmp_path / "data", progress=False)


def test_read_images_rejects_a_corrupt_evaluation_image(messy_folder):
    with pytest.raises(DataError, match="truncated.jpg|empty.png|noise.jpg"):
        read_images(messy_folder, 16)


def test_holdout_split_is_disjoint_complete_and_deterministic():
    train, holdout = train_holdout_split(100, 0.2)
    assert len(holdout) == 20 and len(train) == 80
    assert sorted(torch.cat([train, holdout]).tolist()) == list(range(100))
    assert torch.equal(holdout, train_holdout_split(100, 0.2)[1])
    with pytest.raises(DataError):
        train_holdout_split(100, 1.0)


@pytest.mark.mirror
def test_mirror_anime_faces_are_prepared_verified_and_unchanged(mirror_dir, tmp_path):
    archive = mirror_dir / "anime-faces-10k.tar"
    stat_before = archive.stat()
    prepared = prepare("anime-faces", 32, root=tmp_path / "data", progress=False)
    m = prepared.manifest
    assert m["n_images"] == 10_000 and m["n_duplicates"] == 0 and m["n_skipped"] == 0
    assert m["checksums_verified"]["n_files"] == 10_000  # every file matched the mirror's SHA256SUMS
    assert m["source"]["kind"] == "mirror"
    images = load_images("anime-faces", 32, root=tmp_path / "data", progress=False)
    assert images.shape == (10_000, 3, 32, 32)
    # Faces are not flat: a real image set has spread in every channel.
    assert images.float().std(dim=(0, 2, 3)).min() > 30
    stat_after = archive.stat()
    assert (stat_after.st_size, stat_after.st_mtime_ns) == (stat_before.st_size, stat_before.st_mtime_ns)
    # A second call reuses the cache.
    again = prepare("anime-faces", 32, root=tmp_path / "data", progress=False)
    assert json.loads(again.manifest_path.read_text())["content_sha256"] == m["content_sha256"]


@pytest.mark.network
def test_emoji_faces_come_from_npm(tmp_path):
    if os.environ.get("ANIME_GAN_OFFLINE") == "1":
        pytest.skip("ANIME_GAN_OFFLINE=1: the npm registry is not to be used")
    root = Path(os.environ.get("ANIME_GAN_TEST_DATA", "data"))  # reuse the project's npm tarballs when present
    prepared = prepare("emoji-faces", 32, root=root, progress=False)
    assert prepared.manifest["n_images"] == 2229  # 2,230 face PNGs, one exact duplicate
    assert prepared.manifest["n_duplicates"] == 1


# ------------------------------------------------------------------ edge blur


def square_image() -> np.ndarray:
    """32x32 black with a white 12x12 square: its only edges are the square's border."""
    image = np.zeros((32, 32, 3), dtype=np.uint8)
    image[10:22, 10:22] = 255
    return image


def test_edge_blur_changes_only_edge_pixels():
    image = square_image()
    blurred = edge_blur(image)
    changed = (blurred != image).any(axis=2)
    assert changed.any()
    # Only pixels next to the square's border can change; flat areas (inside and far outside) stay identical.
    near_border = np.zeros((32, 32), dtype=bool)
    near_border[8:24, 8:24] = True
    near_border[12:20, 12:20] = False
    assert not changed[~near_border].any()
    assert np.array_equal(blurred[:6], image[:6]) and np.array_equal(blurred[14:18, 14:18], image[14:18, 14:18])


def test_edge_blur_rejects_bad_input():
    with pytest.raises(DataError):
        edge_blur(np.zeros((8, 8), dtype=np.uint8))
    with pytest.raises(DataError):
        edge_blur(square_image(), kernel=4)


def algorithm1_literal(image: np.ndarray, t1: float, t2: float, k: int) -> np.ndarray:
    """BaMSGAN's Algorithm 1 transcribed line by line, loops and all (slow; for comparison only)."""
    import cv2

    image = image.copy()
    image_blur = image.copy()  # 1
    image_canny = cv2.Canny(image, t1, t2)  # 2
    for i in range(image.shape[0]):  # 3
        for j in range(image.shape[1]):  # 4
            if image_canny[i, j] == 0:  # 5
                image[i, j] = [0, 0, 0]  # 6
    dst = cv2.GaussianBlur(image, (k, k), 0)  # 10
    for i in range(image.shape[0]):  # 11
        for j in range(image.shape[1]):  # 12
            if image_canny[i, j] != 0:  # 13
                image_blur[i, j] = dst[i, j]  # 14
    return image_blur  # 18


def test_edge_blur_is_algorithm_1_on_a_synthetic_image():
    image = square_image()
    assert np.array_equal(edge_blur(image), algorithm1_literal(image, 200, 500, 5))
    # The intact-image variant leaves the square's border brighter than Algorithm 1, which averages it with black.
    softer = edge_blur(image, mode="image")
    edges = (edge_blur(image) != image).any(axis=2)
    assert softer[edges].astype(int).sum() > edge_blur(image)[edges].astype(int).sum()
    with pytest.raises(DataError, match="algorithm1"):
        edge_blur(image, mode="zeros")


@pytest.mark.mirror
def test_edge_blur_is_algorithm_1_on_real_faces(mirror_dir, tmp_path):
    from anime_gan.data import load_images

    faces = load_images("anime-faces", 64, root=tmp_path, progress=False)[:12].permute(0, 2, 3, 1).numpy()
    deltas = {"algorithm1": [], "image": []}
    for face in faces:
        face = np.ascontiguousarray(face)
        assert np.array_equal(edge_blur(face), algorithm1_literal(face, 200, 500, 5))
        edges = cv2_edges(face)
        for mode in deltas:
            deltas[mode].append(np.abs(edge_blur(face, mode=mode).astype(int) - face.astype(int))[edges].mean())
    # Averaging edges with black changes them several times more than blurring the intact image (about 5x measured).
    assert np.mean(deltas["algorithm1"]) > 3 * np.mean(deltas["image"])


def cv2_edges(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.Canny(image, 200, 500) > 0


def test_blur_set_is_a_seeded_tenth_and_cached(tmp_path):
    images = torch.from_numpy(np.stack([square_image()] * 50)).permute(0, 3, 1, 2).contiguous()
    first = choose_blurred(50, 0.1, seed=3)
    assert len(first) == 5 and torch.equal(first, choose_blurred(50, 0.1, seed=3))
    assert not torch.equal(first, choose_blurred(50, 0.1, seed=4))
    cache = tmp_path / "blur.pt"
    blurred = make_blur_set(images, 0.1, seed=3, cache_path=cache)
    assert blurred.shape == (5, 3, 32, 32) and cache.exists()
    assert torch.equal(blurred, make_blur_set(images, 0.1, seed=3, cache_path=cache))
    assert not torch.equal(blurred, images[:5])


# ------------------------------------------------------------------ assets


def test_absent_asset_names_file_url_and_mirror(tmp_path, monkeypatch):
    monkeypatch.setenv(assets.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv("ANIME_GAN_MIRROR", raising=False)
    asset = assets.ASSETS["lbpcascade_animeface"]
    monkeypatch.setitem(assets.ASSETS, asset.name, type(asset)(**{**asset.__dict__, "url": (tmp_path / "nowhere.xml").as_uri()}))
    with pytest.raises(AssetError) as err:
        assets.fetch_asset("lbpcascade_animeface")
    message = str(err.value)
    assert "lbpcascade_animeface.xml" in message and "nowhere.xml" in message and "ANIME_GAN_MIRROR" in message


def test_asset_with_wrong_checksum_is_not_kept(tmp_path, monkeypatch):
    monkeypatch.setenv(assets.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv("ANIME_GAN_MIRROR", raising=False)
    impostor = tmp_path / "impostor.xml"
    impostor.write_text("<not a cascade/>")
    asset = assets.ASSETS["lbpcascade_animeface"]
    monkeypatch.setitem(assets.ASSETS, asset.name, type(asset)(**{**asset.__dict__, "url": impostor.as_uri()}))
    with pytest.raises(AssetError, match="sha256|different file"):
        assets.fetch_asset("lbpcascade_animeface")
    assert not (tmp_path / "cache" / "lbpcascade_animeface.xml").exists()


@pytest.mark.mirror
def test_cascade_is_found_in_the_mirror_and_verified(mirror_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(assets.CACHE_ENV, str(tmp_path / "cache"))
    path = assets.fetch_asset("lbpcascade_animeface")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == assets.ASSETS["lbpcascade_animeface"].sha256


def test_png_names_keep_relative_paths_and_never_meet():
    from anime_gan.data.images import png_names

    names = ["a.jpg", "a.png", "b.jpeg", "trip/c.webp", "trip/a.jpg"]
    assert png_names(names) == {"a.jpg": "a.jpg.png", "a.png": "a.png.png", "b.jpeg": "b.png",
                                "trip/c.webp": "trip/c.png", "trip/a.jpg": "trip/a.png"}
    assert len(set(png_names(names).values())) == len(names)
