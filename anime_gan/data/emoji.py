"""The emoji-faces dataset: face emoji from two npm packages, fetched with ``npm pack`` (works offline from
the package registry alone).

Faces are the ``Smileys & Emotion`` subcategories named ``face-*`` plus the
``People & Body`` subcategories person, person-gesture, person-role and
person-fantasy, with every skin-tone variation, from both Twemoji and Noto at
64x64: 290 emoji + 825 skin-tone variants = 1,115 images per set, 2,230 in all.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Iterator

from anime_gan.data.cache import sha256_file
from anime_gan.errors import DataError

VERSION = "16.0.0"
PACKAGES = {
    # image set -> (npm package, licence)
    "twitter": ("emoji-datasource-twitter", "CC-BY 4.0 (Twemoji, Twitter Inc. and contributors)"),
    "google": ("emoji-datasource-google", "Apache-2.0 (Noto Emoji, Google)"),
}
PEOPLE_SUBCATEGORIES = ("person", "person-gesture", "person-role", "person-fantasy")


def is_face(entry: dict) -> bool:
    if entry["category"] == "Smileys & Emotion":
        return entry["subcategory"].startswith("face-")
    return entry["category"] == "People & Body" and entry["subcategory"] in PEOPLE_SUBCATEGORIES


def face_images(emoji: list[dict], image_set: str) -> list[str]:
    """File names of the face emoji (and their skin-tone variations) that ``image_set`` draws."""
    flag = f"has_img_{image_set}"
    names = []
    for entry in emoji:
        if not is_face(entry):
            continue
        if entry.get(flag):
            names.append(entry["image"])
        for variation in entry.get("skin_variations", {}).values():
            if variation.get(flag):
                names.append(variation["image"])
    return sorted(set(names))


def fetch_package(image_set: str, destination: Path) -> Path:
    """The package tarball in ``destination``, fetched with ``npm pack`` the first time."""
    package, _ = PACKAGES[image_set]
    tarball = destination / f"{package}-{VERSION}.tgz"
    if tarball.exists():
        return tarball
    npm = shutil.which("npm")
    if npm is None:
        raise DataError("emoji-faces needs npm (Node.js) to fetch its packages from the npm registry; install Node.js, "
                        f"or put {tarball.name} into {destination}")
    destination.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([npm, "pack", f"{package}@{VERSION}", "--pack-destination", str(destination)],
                            capture_output=True, text=True)
    if result.returncode != 0 or not tarball.exists():
        raise DataError(f"`npm pack {package}@{VERSION}` failed (is the npm registry reachable?):\n{result.stderr.strip()}")
    return tarball


class EmojiSource:
    """Face emoji PNGs read straight out of the two npm tarballs (never unpacked to disk)."""

    kind = "npm"

    def __init__(self, raw_dir: Path) -> None:
        self.tarballs = {image_set: fetch_package(image_set, raw_dir / "npm") for image_set in PACKAGES}

    def files(self) -> Iterator[tuple[str, bytes]]:
        for image_set, tarball in self.tarballs.items():
            with tarfile.open(tarball, "r:gz") as archive:
                emoji = json.load(archive.extractfile("package/emoji.json"))
                for name in face_images(emoji, image_set):
                    member = f"package/img/{image_set}/64/{name}"
                    try:
                        data = archive.extractfile(member).read()
                    except KeyError:
                        data = b""  # listed but missing: counted as a bad file
                    yield f"{image_set}/{name}", data

    def count(self) -> int:
        return sum(len(face_images(json.load(tarfile.open(t, "r:gz").extractfile("package/emoji.json")), s))
                   for s, t in self.tarballs.items())

    def fingerprint(self) -> str:
        return ",".join(f"{t.name}:{t.stat().st_size}" for t in self.tarballs.values())

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "packages": [{"package": f"{PACKAGES[s][0]}@{VERSION}", "licence": PACKAGES[s][1], "tarball": t.name,
                          "sha256": sha256_file(t)} for s, t in self.tarballs.items()],
            "rule": "Smileys & Emotion face-* subcategories + People & Body person, person-gesture, person-role, "
                    "person-fantasy, with skin-tone variations, 64x64 PNGs, RGBA composited onto white",
        }
