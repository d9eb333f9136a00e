"""Files the project downloads (detector cascade, FID weights): mirror first, then the URL, always verified.

``fetch_asset(name)`` returns a verified local path. It looks, in order, at the
file's destination (the user cache, or torch hub's cache for the FID weights,
where pytorch-fid itself looks), then at ``$ANIME_GAN_MIRROR/<file>`` (copied,
never modified), then downloads from the URL. A download goes to a temporary
file beside the destination and is renamed only after its checksum matches; a
mismatch deletes that temporary file and nothing else.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from anime_gan.data.cache import sha256_file
from anime_gan.errors import AssetError

MIRROR_ENV = "ANIME_GAN_MIRROR"
CACHE_ENV = "ANIME_GAN_CACHE"


@dataclass(frozen=True)
class Asset:
    name: str
    filename: str
    url: str
    sha256: str  # the full digest, or a prefix where only a prefix is published
    licence: str
    torch_hub: bool = False  # lives in torch hub's checkpoints folder (where pytorch-fid looks)


ASSETS: dict[str, Asset] = {
    asset.name: asset
    for asset in [
        Asset(
            name="lbpcascade_animeface",
            filename="lbpcascade_animeface.xml",
            url="https://raw.githubusercontent.com/nagadomi/lbpcascade_animeface/master/lbpcascade_animeface.xml",
            sha256="9376d30ac38db6bda2a68b88b3b76bbd7e6aa33af47f7f5c76bc88ca75f1ce30",
            licence="MIT (nagadomi)",
        ),
        Asset(
            name="fid_inception",
            filename="pt_inception-2015-12-05-6726825d.pth",
            url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
            # Only the prefix in the file name is published; torch.hub's check_hash verifies the same prefix.
            sha256="6726825d",
            licence="Apache-2.0 (TensorFlow Inception weights converted by pytorch-fid)",
            torch_hub=True,
        ),
    ]
}


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "anime-gan"


def destination(asset: Asset) -> Path:
    folder = Path(torch.hub.get_dir()) / "checkpoints" if asset.torch_hub else cache_dir()
    return folder / asset.filename


def _get(name: str) -> Asset:
    if name not in ASSETS:
        raise AssetError(f"unknown asset {name!r}; known: {sorted(ASSETS)}")
    return ASSETS[name]


def verified(asset: Asset, path: Path) -> bool:
    return sha256_file(path).startswith(asset.sha256)


def asset_path(name: str) -> Path | None:
    """The verified local file of ``name`` if it is already in place (destination or mirror), else None; never downloads."""
    asset = _get(name)
    for candidate in (destination(asset), _mirror_file(asset)):
        if candidate is not None and candidate.is_file() and verified(asset, candidate):
            return candidate
    return None


def _mirror_file(asset: Asset) -> Path | None:
    mirror = os.environ.get(MIRROR_ENV)
    return Path(mirror) / asset.filename if mirror else None


def _install(asset: Asset, fill, dest: Path) -> Path:
    """Write via ``fill(handle)`` into a temp file beside ``dest``, verify, rename; delete only the temp file on failure."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{asset.filename}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            fill(handle)
        digest = sha256_file(tmp)
        if not digest.startswith(asset.sha256):
            raise AssetError(f"{asset.filename}: sha256 {digest} does not match the expected {asset.sha256}; "
                             f"the bad copy was deleted")
        os.replace(tmp, dest)
        return dest
    finally:
        tmp.unlink(missing_ok=True)


def fetch_asset(name: str, download: bool = True) -> Path:
    """A verified local copy of asset ``name`` (see the module docstring for the search order)."""
    asset = _get(name)
    dest = destination(asset)
    if dest.is_file():
        if verified(asset, dest):
            return dest
        raise AssetError(f"{dest} exists but its sha256 does not start with {asset.sha256}; it was left as it is. "
                         f"Delete or replace it, then try again.")
    mirrored = _mirror_file(asset)
    if mirrored is not None and mirrored.is_file():
        with mirrored.open("rb") as source:
            return _install(asset, lambda handle: shutil.copyfileobj(source, handle), dest)
    if not download:
        raise AssetError(_absent_message(asset, dest))

    def fill(handle) -> None:
        with urllib.request.urlopen(asset.url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {asset.filename}") as bar:
                while block := response.read(1 << 20):
                    handle.write(block)
                    bar.update(len(block))

    try:
        return _install(asset, fill, dest)
    except (urllib.error.URLError, OSError) as err:
        raise AssetError(f"{_absent_message(asset, dest)} (download failed: {err})") from err


def _absent_message(asset: Asset, dest: Path) -> str:
    return (f"{asset.filename} is not available: it is not at {dest}, not in ${MIRROR_ENV} "
            f"({os.environ.get(MIRROR_ENV) or 'not set'}), and it could not be downloaded from {asset.url}. "
            f"Download it on a machine with internet access and put it in {dest.parent} or in the ${MIRROR_ENV} folder.")
