"""One's own photo to an anime face: the face found in a photo of any size, framed like the training photographs,
levelled, translated; the translate command on one photo, a folder, and bad input.

Test photographs are UTKFace faces from the offline mirror pasted into larger canvases at a known place and scale.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from anime_gan.cli import main as cli_main
from anime_gan.data.images import decode_image, iter_image_files, read_member, resize_image
from anime_gan.experiment import load_translator
from anime_gan.translation import find_face, translate, translate_photo
from anime_gan.translation.faces import FACE_CENTRE, FACE_SHARE, crop_face, detect_faces, eye_angle, measure_framing

ARCHIVE = "utkface-photos-5k.tar"
PREFIX = "utkface-photos-5k/15_0_0_"
# Photos (by date field) whose faces the cascade finds in the canvases below; 3 is one it misses as it is.
PHOTOS = {1: "20170103200850696", 2: "20170103201316167", 3: "20170104011743800", 5: "20170104012346994",
          9: "20170110224312647"}


@pytest.fixture(scope="module")
def archive(mirror_dir) -> Path:
    path = mirror_dir / ARCHIVE
    if not path.is_file():
        pytest.skip(f"needs {ARCHIVE} in the offline mirror")
    return path


@pytest.fixture(scope="module")
def utk(archive):
    """UTKFace photo ``i`` of PHOTOS, (200, 200, 3) uint8."""
    return lambda i: decode_image(read_member(archive, f"{PREFIX}{PHOTOS[i]}.jpg.chip.jpg")).pixels


def background(height: int, width: int, photo: np.ndarray) -> np.ndarray:
    """A plain wall: the photo's top and bottom colours as a vertical ramp, with seeded sensor noise."""
    ramp = np.linspace(0, 1, height)[:, None, None]
    wall = photo[0].mean(0) * (1 - ramp) + photo[-1].mean(0) * ramp
    return (wall + np.random.default_rng(0).normal(0, 4, (height, width, 3))).clip(0, 255).astype(np.uint8)


def paste(canvas: np.ndarray, photo: np.ndarray, x: int, y: int, side: int) -> np.ndarray:
    interpolation = cv2.INTER_AREA if side < photo.shape[0] else cv2.INTER_CUBIC
    canvas[y : y + side, x : x + side] = cv2.resize(photo, (side, side), interpolation=interpolation)
    return canvas


def canvas_with(photo: np.ndarray, height: int, width: int, x: int, y: int, side: int) -> np.ndarray:
    """A ``height`` x ``width`` photo with ``photo`` pasted as the square (x, y, side); x < 0 cuts its left off."""
    cut = max(0, -x)
    return paste(background(height, width + cut, photo), photo, x + cut, y, side)[:, cut:]


def overlap(corners: np.ndarray, x: float, y: float, side: float) -> float:
    """Intersection over union of the crop's bounding box and the square (x, y, side)."""
    left, top = corners.min(0)
    right, bottom = corners.max(0)
    width = max(0.0, min(right, x + side) - max(left, x))
    height = max(0.0, min(bottom, y + side) - max(top, y))
    inter = width * height
    return inter / ((right - left) * (bottom - top) + side * side - inter)


def inside(corners: np.ndarray, points: np.ndarray) -> bool:
    """Every point inside the convex quadrilateral ``corners`` (clockwise on screen)."""
    for a, b in zip(corners, np.roll(corners, -1, axis=0)):
        edge, to_points = b - a, points - a
        if np.any(edge[0] * to_points[:, 1] - edge[1] * to_points[:, 0] < 0):
            return False
    return True


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- finding and framing a face


def test_framing_constants_are_where_the_detector_puts_training_photographs(archive):
    """FACE_SHARE and FACE_CENTRE were measured on 1,000 training photographs; about 50 (mostly others) agree."""
    photos = []
    for name, data in iter_image_files(archive):
        if int(hashlib.sha256(name.encode()).hexdigest(), 16) % 100 == 0:  # a fixed ~1% of the 5,000
            photos.append(decode_image(data, name).pixels)
    framing = measure_framing(photos)
    assert framing["n_photos"] >= 35 and framing["n_found"] >= 0.95 * framing["n_photos"]
    assert framing["share"]["median"] == pytest.approx(FACE_SHARE, abs=0.03)
    assert framing["centre_x"]["median"] == pytest.approx(FACE_CENTRE[0], abs=0.015)
    assert framing["centre_y"]["median"] == pytest.approx(FACE_CENTRE[1], abs=0.015)


@pytest.mark.parametrize("height,width,x,y,side", [(800, 1200, 500, 150, 300), (480, 640, 200, 100, 180),
                                                   (2000, 2600, 1000, 500, 800), (300, 260, -20, 60, 150)],
                         ids=["landscape", "small", "phone-sized", "at-the-edge"])
@pytest.mark.parametrize("index", [1, 5, 9])
def test_face_in_a_larger_photo_is_cut_out_like_a_training_photograph(utk, index, height, width, x, y, side):
    photo = canvas_with(utk(index), height, width, x, y, side)
    before = photo.copy()
    face = find_face(photo)
    assert np.array_equal(photo, before)  # the photo is only read
    assert face is not None and face.faces_found == 1
    assert abs(face.angle) < 5  # the pasted face is upright
    # framed like the pasted training photograph: the same square, up to the detector's spread
    assert overlap(face.corners, x, y, side) > 0.75
    assert face.pixels.shape == (face.pixels.shape[0], face.pixels.shape[0], 3)
    assert 0.85 < face.pixels.shape[0] / side < 1.15
    # the face (the middle of the pasted photo: eyes to chin, cheek to cheek) is inside the crop
    middle = np.array([[x + 0.2 * side, y + 0.2 * side], [x + 0.8 * side, y + 0.2 * side],
                       [x + 0.8 * side, y + 0.85 * side], [x + 0.2 * side, y + 0.85 * side]])
    assert inside(face.corners, middle)
    if x < 0:  # the crop reaches past the photo's left edge: there it repeats the edge pixels (seen unturned)
        unturned, corners = crop_face(photo, face.box, 0.0)
        reach = math.floor(-corners[0, 0])
        assert reach > 2 and np.array_equal(unturned[:, :reach], np.repeat(unturned[:, :1], reach, axis=1))


def test_a_photo_that_is_only_the_face_is_found_by_padding_its_edges(utk):
    photo = utk(3)  # a training photograph: the face fills it, and the cascade misses it as it is
    assert len(detect_faces(photo, pad=False)) == 0
    face = find_face(photo)
    assert face is not None
    assert overlap(face.corners, 0, 0, 200) > 0.8  # the crop is (nearly) the photograph itself


def test_a_tilted_face_is_turned_so_its_eyes_are_level(utk):
    upright = utk(2)
    x, y, side = 500, 150, 300
    canvas = canvas_with(upright, 800, 1200, x, y, side)
    turn = cv2.getRotationMatrix2D((x + side / 2, y + side / 2), 10, 1.0)  # 10 degrees anticlockwise on screen
    tilted = cv2.warpAffine(canvas, turn, (1200, 800), borderMode=cv2.BORDER_REPLICATE)
    face = find_face(tilted)
    assert face is not None and face.eyes is not None
    (lx, ly), (rx, ry) = face.eyes
    assert ry < ly  # anticlockwise: the eye on the right is now higher
    assert -13 < face.angle < -7
    # the levelled crop looks like the upright photograph, and more than the same crop left unturned does
    unturned, _ = crop_face(tilted, face.box, 0.0)
    reference = cv2.resize(upright, (side, side), interpolation=cv2.INTER_CUBIC).astype(float)
    difference = lambda crop: np.abs(cv2.resize(crop, (side, side)).astype(float) - reference).mean()
    assert difference(face.pixels) < 0.8 * difference(unturned)
    level_again, _ = eye_angle(face.pixels, detect_faces(face.pixels)[0])
    assert abs(level_again) < 3


def test_several_faces_take_the_largest(utk):
    canvas = canvas_with(utk(5), 700, 1400, 800, 200, 360)
    paste(canvas, utk(9), 150, 300, 170)
    face = find_face(canvas)
    assert face is not None and face.faces_found == 2
    assert overlap(face.corners, 800, 200, 360) > 0.75


def test_no_face_in_a_uniform_image():
    assert find_face(np.full((240, 320, 3), 90, dtype=np.uint8)) is None


def test_crop_geometry_turns_about_the_box_and_places_it_by_the_framing():
    """A bright dot lands where OpenCV's own rotation about the box's centre puts it, shifted by the framing;
    the corners map the crop back into the photo."""
    image = np.zeros((400, 500, 3), dtype=np.uint8)
    dot = (310.0, 180.0)
    image[178:183, 308:313] = 255
    box, angle = (200, 120, 153, 153), 20.0
    crop, corners = crop_face(image, box, angle)
    side = round(153 / FACE_SHARE)
    assert crop.shape == (side, side, 3)
    centre = (200 + 153 / 2, 120 + 153 / 2)
    turned = cv2.transform(np.array([[dot]]), cv2.getRotationMatrix2D(centre, angle, 1.0))[0, 0]
    expected = turned - np.array(centre) + np.array(FACE_CENTRE) * side
    weights = crop[..., 0].astype(float)
    found = np.array([(weights.sum(0) * np.arange(side)).sum(), (weights.sum(1) * np.arange(side)).sum()])
    assert found / weights.sum() == pytest.approx(expected + 0.0, abs=0.3)
    # corners: crop (0, 0) comes from corners[0], and the crop's sides keep their length in the photo
    assert np.linalg.norm(corners[1] - corners[0]) == pytest.approx(side)
    back = cv2.transform(corners[None], cv2.getRotationMatrix2D(centre, angle, 1.0))[0] - np.array(centre)
    assert back + np.array(FACE_CENTRE) * side == pytest.approx(np.array([[0, 0], [side, 0], [side, side],
                                                                          [0, side]]), abs=1e-6)


# ---------------------------------------------------------------- the translate command


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A tiny trained translator (32x32) and a tiny GAN's checkpoint, for the command."""
    from test_translate import tiny, trainer_for

    from anime_gan.config import load_experiment
    from anime_gan.experiment import build_trainer
    from test_train import synthetic_images

    folder = tmp_path_factory.mktemp("checkpoints")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer_for(tiny("train.ema_decay=0.5"), folder / "translator").fit()
        gan = load_experiment(None, ["data.resolution=32", "generator.width=8", "discriminator.width=8",
                                     "train.batch_size=16", "train.epochs=1", "train.device=cpu",
                                     "log.progress=false", "log.sample_every=0", "log.epoch_samples=0"])
        build_trainer(gan, folder / "gan", images=synthetic_images(32)).fit()
    finally:
        torch.set_num_threads(threads)
    return folder / "translator" / "checkpoint.pt", folder / "gan" / "checkpoint.pt"


def translate_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli_main(["translate", *args, "--device", "cpu"])
    out, err = capsys.readouterr()
    return code, out, err


def save(pixels: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def test_one_photo_becomes_an_anime_face_at_the_asked_size_with_its_comparison(utk, checkpoints, tmp_path, capsys):
    translator_path, _ = checkpoints
    photo = canvas_with(utk(1), 800, 1200, 500, 150, 300)
    source = save(photo, tmp_path / "me.png")
    digest = sha(source)
    out = tmp_path / "anime.png"
    code, stdout, _ = translate_cli(capsys, "--checkpoint", str(translator_path), "--input", str(source),
                                    "--out", str(out), "--size", "48", "--compare")
    assert code == 0
    assert "1 translated, 0 without a face, 0 unreadable" in stdout
    assert sha(source) == digest  # the source is only read
    anime = np.array(Image.open(out))
    comparison = np.array(Image.open(tmp_path / "anime-compare.png"))
    assert anime.shape == (48, 48, 3) and comparison.shape == (48, 2 * 48 + 4, 3)
    assert np.array_equal(comparison[:, -48:], anime) and np.all(comparison[:, 48:52] == 255)
    # the anime face is G of the framed crop at the translator's 32x32, resized to 48
    translator = load_translator(translator_path, device="cpu")
    face = find_face(photo)
    assert np.array_equal(comparison[:, :48], resize_image(face.pixels, (48, 48)))
    crop = torch.from_numpy(resize_image(face.pixels, (32, 32))).permute(2, 0, 1)[None]
    expected = resize_image(translate(translator.g, crop)[0].permute(1, 2, 0).numpy(), (48, 48))
    assert np.array_equal(anime, expected)
    record = json.loads(Image.open(out).text["anime_gan.translate"])
    assert record["status"] == "translated" and record["checkpoint"] == str(translator_path)
    assert record["face_box"] == list(face.box) and record["faces_found"] == 1

    # --size defaults to 64; the library function gives the same face
    code, _, _ = translate_cli(capsys, "--checkpoint", str(translator_path), "--input", str(source), "--out",
                               str(tmp_path / "default.png"))
    assert code == 0 and Image.open(tmp_path / "default.png").size == (64, 64)
    assert np.array_equal(np.array(Image.open(tmp_path / "default.png")),
                          translate_photo(translator, photo, size=64).anime)
    assert not (tmp_path / "default-compare.png").exists()


def test_a_folder_goes_past_bad_files_and_counts_them(utk, checkpoints, tmp_path, capsys):
    translator_path, _ = checkpoints
    photos = tmp_path / "photos"
    save(canvas_with(utk(1), 600, 800, 300, 100, 260), photos / "alice.jpg")
    save(canvas_with(utk(9), 900, 700, 200, 300, 320), photos / "trip" / "bob.png")
    both = save(canvas_with(utk(5), 700, 1400, 800, 200, 360), photos / "two.png")
    save(paste(np.array(Image.open(both)), utk(9), 150, 300, 170), both)
    save(np.full((300, 400, 3), 200, dtype=np.uint8), photos / "wall.png")  # no face
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (photos / "notes.txt").write_text("not an image: not counted")
    before = {p: sha(p) for p in photos.rglob("*") if p.is_file()}
    out = tmp_path / "anime"
    code, stdout, _ = translate_cli(capsys, "--checkpoint", str(translator_path), "--input", str(photos),
                                    "--out", str(out), "--size", "40", "--compare")
    assert code == 0
    assert "3 translated, 1 without a face, 1 unreadable" in stdout
    assert "two.png: wrote" in stdout and "2 faces found; the largest was translated" in stdout
    assert "wall.png: skipped, no face found" in stdout and "broken.jpg: skipped, unreadable" in stdout
    assert {p: sha(p) for p in photos.rglob("*") if p.is_file()} == before
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == ["alice.png", "compare/alice.png", "compare/trip/bob.png", "compare/two.png", "trip/bob.png",
                       "two.png"]
    assert all(Image.open(out / name).size == ((40, 40) if not name.startswith("compare") else (84, 40))
               for name in written)
    records = json.loads((out / "translate-records.json").read_text())
    assert (records["n_translated"], records["n_no_face"], records["n_unreadable"]) == (3, 1, 1)
    status = {name: record["status"] for name, record in records["images"].items()}
    assert status == {"alice.jpg": "translated", "broken.jpg": "unreadable", "trip/bob.png": "translated",
                      "two.png": "translated", "wall.png": "no face"}
    assert records["images"]["two.png"]["faces_found"] == 2 and records["size"] == 40


@pytest.fixture
def bad_inputs(checkpoints, tmp_path):
    translator_path, gan_path = checkpoints
    blank = save(np.full((200, 200, 3), 128, dtype=np.uint8), tmp_path / "blank.png")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"GIF89a and then nothing")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no photos here")
    only_bad = tmp_path / "only_bad"
    save(np.full((200, 200, 3), 30, dtype=np.uint8), only_bad / "dark.png")
    (only_bad / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    not_checkpoint = tmp_path / "weights.pt"
    not_checkpoint.write_text("hello")
    face = save(np.zeros((64, 64, 3), dtype=np.uint8), tmp_path / "face.png")
    return {"translator": translator_path, "gan": gan_path, "blank": blank, "broken": broken, "empty": empty,
            "only_bad": only_bad,
            "not_checkpoint": not_checkpoint, "face": face, "tmp": tmp_path}


@pytest.mark.parametrize("case,args,message", [
    ("no face", ["--input", "{blank}"], "no face found in {blank}"),
    ("unreadable", ["--input", "{broken}"], "cannot read the photo {broken}"),
    ("folder without images", ["--input", "{empty}", "--out", "{tmp}/out"], "no image files found in {empty}"),
    ("folder without a face", ["--input", "{only_bad}", "--out", "{only_bad}/anime"],
     "no face could be translated in {only_bad}"),
    ("missing photo", ["--input", "{tmp}/nowhere.jpg"], "--input not found: {tmp}/nowhere.jpg"),
    ("missing checkpoint", ["--checkpoint", "{tmp}/none.pt"], "checkpoint not found: {tmp}/none.pt"),
    ("GAN checkpoint", ["--checkpoint", "{gan}"], "{gan} is not a translation checkpoint"),
    ("not a checkpoint", ["--checkpoint", "{not_checkpoint}"], "checkpoint {not_checkpoint} could not be read"),
    ("output over the source", ["--out", "{face}"], "--out would overwrite the source photo {face}"),
    ("output not a png", ["--out", "{tmp}/out.jpg"], "--out {tmp}/out.jpg: one photo is written as a PNG file"),
])
def test_bad_input_is_one_clear_line_and_exit_2(bad_inputs, capsys, case, args, message):
    given = {"--checkpoint": "{translator}", "--input": "{face}", "--out": "{tmp}/out.png"}
    given.update(dict(zip(args[::2], args[1::2])))
    argv = [part.format(**bad_inputs) for pair in given.items() for part in pair]
    before = sorted(p.name for p in bad_inputs["tmp"].iterdir())
    code, stdout, stderr = translate_cli(capsys, *argv)
    assert code == 2
    assert stderr.startswith(f"error: {message.format(**bad_inputs)}") and stderr.count("\n") == 1
    assert sorted(p.name for p in bad_inputs["tmp"].iterdir()) == before  # nothing written


def test_size_out_of_range_is_refused_by_argparse(bad_inputs, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli_main(["translate", "--checkpoint", str(bad_inputs["translator"]), "--input", str(bad_inputs["face"]),
                  "--out", str(bad_inputs["tmp"] / "out.png"), "--size", "4"])
    assert exit_.value.code == 2 and "--size: 4 is outside [8, 4096]" in capsys.readouterr().err
