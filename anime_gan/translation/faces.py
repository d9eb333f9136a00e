"""One face in an arbitrary photograph, found, levelled and framed like the translator's training photographs.

    faces = detect_faces(pixels)                  # (n, 4) boxes x, y, w, h in the photo's pixels, largest first
    crop = find_face(pixels)                      # FaceCrop: the square crop, its place in the photo, the tilt
    framing = measure_framing(training_photos)    # where the detector's box sits in already-framed photos

Everything works on (H, W, 3) uint8 RGB arrays and never changes its input.

The detector is OpenCV's frontal-face Haar cascade shipped with opencv-python-headless
(``haarcascade_frontalface_default.xml``); the eyes, for levelling, come from its eye cascade
(``haarcascade_eye.xml``) searched in the upper part of the face box. The training photographs are UTKFace's
"aligned and cropped" faces: eyes level and the face filling most of a square. A photo's face is cut out so the
detector's box lands where it lands in those photographs (``FACE_SHARE``, ``FACE_CENTRE``), in the frame turned
so the eyes are level.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from anime_gan.errors import AssetError, DataError

FACE_CASCADE = "haarcascade_frontalface_default.xml"
EYE_CASCADE = "haarcascade_eye.xml"
# Detector settings. A photo is searched at most DETECT_MAX_SIDE pixels on its long side (a phone's 4000 px
# photo would cost seconds), as histogram-equalised grey; MIN_FACE is the cascade's own 24 px window.
DETECT_MAX_SIDE = 1024
SCALE_FACTOR = 1.1
MIN_NEIGHBORS = 5
MIN_FACE = 24
# A face that fills the whole photo (an already-cropped face, like the training photographs) leaves the
# cascade no room around it: 350 of 1,000 training photographs searched as they are gave no face. The search
# is then repeated on the photo padded with its own edge pixels, PAD_SHARE of its long side on each side.
PAD_SHARE = 0.5
# The frame of the training photographs, measured with detect_faces on 1,000 of the mirror's
# utkface-photos-5k.tar (200x200 each; sorted names shuffled with random.Random(0), the first 1,000), each padded
# by half its side with its edge pixels as above: 981 gave a face. The box's side is FACE_SHARE = 1.02 times the
# photo's side (median; quartiles 0.97 and 1.07), its centre at FACE_CENTRE = (0.495, 0.4075) of the side from
# the photo's left and top (quartiles 0.4875-0.505 and 0.395-0.42). So a face is cut out as a square of side
# box / 1.02 with the box's centre at those fractions: the face then fills the crop as it fills a training photo.
# (Padded with a uniform grey instead: 837 found, 1.04 and (0.495, 0.415).)  measure_framing repeats the count.
FACE_SHARE = 1.02
FACE_CENTRE = (0.495, 0.4075)
# Eyes: searched in the top EYE_REGION of the face box, each at least 1/10 and at most 1/3 of the box wide;
# the largest in each half of the box. A pair closer or further apart than EYE_DISTANCE (fractions of the box's
# width) or tilted more than MAX_TILT degrees (the face cascade itself finds frontal faces up to about that roll)
# is a false find (an eyebrow, a nostril, a frame of glasses), and the face is then cut out unturned. On the 981
# training photographs above that gave a face (already aligned), 814 gave an eye pair: tilts median 0.0 degrees,
# 10th and 90th percentiles -2.5 and 2.8.
EYE_REGION = 0.6
EYE_DISTANCE = (0.25, 0.65)
MAX_TILT = 25.0


@dataclass
class FaceCrop:
    """A face cut out of a photograph."""

    pixels: np.ndarray  # (side, side, 3) uint8: the square around the face, at the photo's own scale
    box: tuple[int, int, int, int]  # the detector's box, x, y, w, h in the photo's pixels (may reach outside it)
    corners: np.ndarray  # (4, 2) float: the crop's corners in the photo (x, y), clockwise from its top left
    angle: float  # degrees the crop is turned against the photo to level the eyes (0: not turned)
    eyes: tuple[tuple[float, float], tuple[float, float]] | None  # the eye centres used for the angle, if any
    faces_found: int  # how many faces the detector saw; the largest is this one

    def record(self) -> dict:
        """JSON-ready: where the crop lies in the photo and how it was made."""
        return {"face_box": [int(v) for v in self.box], "crop_corners": np.round(self.corners, 1).tolist(),
                "crop_side": int(self.pixels.shape[0]), "angle_degrees": round(float(self.angle), 2),
                "eyes_levelled": self.eyes is not None, "faces_found": int(self.faces_found)}


def _check_pixels(pixels: np.ndarray) -> None:
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        shape = pixels.shape if isinstance(pixels, np.ndarray) else type(pixels).__name__
        raise DataError(f"a photo must be (H, W, 3) uint8 RGB pixels, got {shape}")
    if min(pixels.shape[:2]) < 1:
        raise DataError(f"a photo must have pixels, got shape {pixels.shape}")


@functools.lru_cache(maxsize=2)
def cascade(filename: str) -> cv2.CascadeClassifier:
    """One of the Haar cascades opencv-python-headless ships in ``cv2.data.haarcascades`` (used in one thread:
    OpenCV does not promise that a classifier is thread-safe)."""
    path = Path(cv2.data.haarcascades) / filename
    if not path.is_file():
        raise AssetError(f"OpenCV's cascade {filename} is not in {path.parent}; reinstall opencv-python-headless")
    classifier = cv2.CascadeClassifier(str(path))
    if classifier.empty():
        raise AssetError(f"OpenCV could not load the cascade {path}")
    return classifier


def _grey(pixels: np.ndarray) -> np.ndarray:
    return cv2.equalizeHist(cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY))


def pad_edges(pixels: np.ndarray, share: float = PAD_SHARE) -> tuple[np.ndarray, int]:
    """(the photo with ``share`` of its long side added on each side, its edge pixels repeated; that border)."""
    border = max(1, round(share * max(pixels.shape[:2])))
    return cv2.copyMakeBorder(pixels, border, border, border, border, cv2.BORDER_REPLICATE), border


def _search(grey: np.ndarray) -> np.ndarray:
    found = cascade(FACE_CASCADE).detectMultiScale(grey, scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBORS,
                                                   minSize=(MIN_FACE, MIN_FACE))
    return np.asarray(found, dtype=np.float64).reshape(-1, 4)


def detect_faces(pixels: np.ndarray, pad: bool = True) -> np.ndarray:
    """Faces in a photo: float (n, 4) boxes x, y, w, h in its pixels, largest first; (0, 4) when none.

    Searched at most ``DETECT_MAX_SIDE`` px large; when nothing is found and ``pad``, again with the edges padded
    (a face that fills the photo). Boxes found in the padding may reach outside the photo.
    """
    _check_pixels(pixels)
    scale = min(1.0, DETECT_MAX_SIDE / max(pixels.shape[:2]))
    small = pixels if scale == 1.0 else cv2.resize(
        pixels, (max(1, round(pixels.shape[1] * scale)), max(1, round(pixels.shape[0] * scale))),
        interpolation=cv2.INTER_AREA)
    boxes = _search(_grey(small))
    if len(boxes) == 0 and pad:
        padded, border = pad_edges(small)
        boxes = _search(_grey(padded))
        boxes[:, :2] -= border
    boxes /= scale
    return boxes[np.argsort(-boxes[:, 2] * boxes[:, 3], kind="stable")]


def eye_angle(pixels: np.ndarray, box: np.ndarray | tuple) -> tuple[float, tuple | None]:
    """(degrees from the left eye to the right eye of the face in ``box``, measured clockwise as the photo shows
    it; the two eye centres) or (0.0, None) when no believable pair is found."""
    _check_pixels(pixels)
    x, y, w, h = (float(v) for v in box)
    top, bottom = max(0, round(y)), min(pixels.shape[0], round(y + EYE_REGION * h))
    left, right = max(0, round(x)), min(pixels.shape[1], round(x + w))
    if bottom - top < 8 or right - left < 8:
        return 0.0, None
    grey = _grey(np.ascontiguousarray(pixels[top:bottom, left:right]))
    smallest, largest = max(8, round(w / 10)), max(9, round(w / 3))
    found = cascade(EYE_CASCADE).detectMultiScale(grey, scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBORS,
                                                  minSize=(smallest, smallest), maxSize=(largest, largest))
    centres = [(left + ex + ew / 2, top + ey + eh / 2, ew * eh) for ex, ey, ew, eh in np.reshape(found, (-1, 4))]
    middle = x + w / 2
    left_eyes = [c for c in centres if c[0] < middle]  # the eye on the photo's left (the person's right eye)
    right_eyes = [c for c in centres if c[0] >= middle]
    if not left_eyes or not right_eyes:
        return 0.0, None
    (lx, ly, _), (rx, ry, _) = max(left_eyes, key=lambda c: c[2]), max(right_eyes, key=lambda c: c[2])
    angle = math.degrees(math.atan2(ry - ly, rx - lx))
    if not EYE_DISTANCE[0] * w <= math.hypot(rx - lx, ry - ly) <= EYE_DISTANCE[1] * w or abs(angle) > MAX_TILT:
        return 0.0, None
    return angle, ((lx, ly), (rx, ry))


def crop_face(pixels: np.ndarray, box: np.ndarray | tuple, angle: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The square around the face in ``box``, turned by ``angle`` degrees (``eye_angle``'s) about the box's
    centre so the eyes are level, framed by ``FACE_SHARE`` and ``FACE_CENTRE``: ((side, side, 3) uint8 at the
    photo's scale, its (4, 2) corners in the photo). Parts outside the photo repeat its edge pixels."""
    _check_pixels(pixels)
    x, y, w, h = (float(v) for v in box)
    side = max(1, round(w / FACE_SHARE))
    centre = np.array([x + w / 2, y + h / 2])
    anchor = np.array(FACE_CENTRE) * side  # where the box's centre lands in the crop
    turn = math.radians(angle)
    # crop point q = rotation (p - centre) + anchor; OpenCV's getRotationMatrix2D convention, scale 1
    rotation = np.array([[math.cos(turn), math.sin(turn)], [-math.sin(turn), math.cos(turn)]])
    matrix = np.hstack([rotation, (anchor - rotation @ centre)[:, None]])
    crop = cv2.warpAffine(pixels, matrix, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    square = np.array([[0, 0], [side, 0], [side, side], [0, side]], dtype=np.float64)
    corners = (square - anchor) @ rotation + centre  # p = rotation^T (q - anchor) + centre, row by row
    return crop, corners


def find_face(pixels: np.ndarray, level: bool = True) -> FaceCrop | None:
    """The largest face of a photo cut out like a training photograph (eyes levelled when ``level`` and both are
    found), or None when the detector sees no face."""
    boxes = detect_faces(pixels)
    if len(boxes) == 0:
        return None
    box = boxes[0]
    angle, eyes = eye_angle(pixels, box) if level else (0.0, None)
    crop, corners = crop_face(pixels, box, angle)
    return FaceCrop(crop, tuple(int(round(v)) for v in box), corners, angle, eyes, len(boxes))


def measure_framing(photos: list[np.ndarray]) -> dict:
    """Where the detector's box sits in photographs that are already framed (the training photographs), each
    padded with its edge pixels as ``detect_faces`` pads a face that fills its photo: the medians and quartiles
    of the largest box's side and centre as fractions of the photo's width and height, and how many had a face.
    ``FACE_SHARE`` and ``FACE_CENTRE`` are these medians on 1,000 training photographs."""
    shares, centres_x, centres_y = [], [], []
    for pixels in photos:
        _check_pixels(pixels)
        padded, border = pad_edges(pixels)
        boxes = _search(_grey(padded))
        if len(boxes) == 0:
            continue
        x, y, w, h = max(boxes, key=lambda b: b[2] * b[3])
        height, width = pixels.shape[:2]
        shares.append(w / width)
        centres_x.append((x - border + w / 2) / width)
        centres_y.append((y - border + h / 2) / height)

    def spread(values: list[float]) -> dict:
        low, median, high = np.percentile(values, [25, 50, 75]) if values else (math.nan,) * 3
        return {"median": float(median), "q25": float(low), "q75": float(high)}

    return {"n_photos": len(photos), "n_found": len(shares), "share": spread(shares), "centre_x": spread(centres_x),
            "centre_y": spread(centres_y)}
