"""Single files the project downloads (the anime-face detector cascade, the FID Inception weights, VGG-19).

``fetch_asset(name)`` returns the path of a verified local copy. It looks, in order:

1. at the asset's destination: the user cache (``$ANIME_GAN_CACHE``, else
   ``$XDG_CACHE_HOME/anime-gan``, else ``~/.cache/anime-gan``), or for the FID
   weights torch hub's ``<torch.hub.get_dir()>/checkpoints/``, where pytorch-fid
   itself looks;
2. in the offline mirror ``$ANIME_GAN_MIRROR``: used in place, or copied to the
   destination when a library expects the file there (the mirror is never
   modified);
3. at the asset's URL: downloaded to a temporary file in the destination folder,
   verified, then renamed. A checksum mismatch deletes that temporary file and
   nothing else; files that were already there are never deleted.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
from dataclasses import dataclass
from pathlib import Path

from anime_gan.data.cache import FILE_MODE, ChecksumMismatch, download, sha256_file
from anime_gan.errors import AssetError

MIRROR_ENV = "ANIME_GAN_MIRROR"
CACHE_ENV = "ANIME_GAN_CACHE"


@dataclass(frozen=True)
class Asset:
    name: str
    filename: str
    url: str
    sha256: str  # full hex digest, or a published prefix of it (see fid_inception)
    licence: str
    description: str
    torch_hub: bool = False  # must live in torch hub's checkpoints folder, where its library looks

    def verify(self, path: Path) -> bool:
        return sha256_file(path).startswith(self.sha256)


ASSETS: dict[str, Asset] = {
    asset.name: asset
    for asset in [
        Asset(
            name="lbpcascade_animeface",
            filename="lbpcascade_animeface.xml",
            url="https://raw.githubusercontent.com/nagadomi/lbpcascade_animeface/master/lbpcascade_animeface.xml",
            sha256="9376d30ac38db6bda2a68b88b3b76bbd7e6aa33af47f7f5c76bc88ca75f1ce30",
            licence="MIT (nagadomi)",
            description="OpenCV LBP cascade for anime faces (the detector of the distortion rate); needs OpenCV 4.x",
        ),
        Asset(
            name="fid_inception",
            filename="pt_inception-2015-12-05-6726825d.pth",
            # pytorch_fid.inception.FID_WEIGHTS_URL in pytorch-fid 0.3.0
            url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
            # No full sha256 of this file is published by its authors. The name carries the first 8 hex digits of
            # its sha256, the torch.hub convention; this checks that prefix, as torch.hub's check_hash would.
            sha256="6726825d",
            licence="Apache-2.0 (TensorFlow Inception-v3 FID weights, converted by pytorch-fid)",
            description="Inception-v3 weights of the standard FID, as pytorch-fid loads them",
            torch_hub=True,
        ),
        Asset(
            name="vgg19",
            filename="vgg19-dcbb9e9d.pth",
            # torchvision.models.VGG19_Weights.IMAGENET1K_V1
            url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
            # torch.hub convention, as for fid_inception: the name carries the first 8 hex digits of the sha256.
            sha256="dcbb9e9d",
            licence="BSD-3-Clause (torchvision); ImageNet-trained VGG-19 (Simonyan & Zisserman)",
            description="torchvision's ImageNet VGG-19, the backbone of Gatys' neural style transfer",
            torch_hub=True,
        ),
    ]
}


def cache_dir() -> Path:
    """The user cache of downloaded assets."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "anime-gan"


def get_asset(name: str) -> Asset:
    if name not in ASSETS:
        raise AssetError(f"unknown asset {name!r}; known: {sorted(ASSETS)}")
    return ASSETS[name]


def destination(asset: Asset | str) -> Path:
    """Where the asset is kept once fetched."""
    asset = get_asset(asset) if isinstance(asset, str) else asset
    if asset.torch_hub:
        import torch.hub

        return Path(torch.hub.get_dir()) / "checkpoints" / asset.filename
    return cache_dir() / asset.filename


def _mirror_file(asset: Asset) -> Path | None:
    mirror = os.environ.get(MIRROR_ENV)
    if not mirror:
        return None
    path = Path(mirror).expanduser() / asset.filename
    return path if path.is_file() else None


def asset_path(name: str) -> Path | None:
    """The verified local copy of asset ``name`` (destination, else mirror), or None; never downloads or copies."""
    asset = get_asset(name)
    for candidate in (destination(asset), _mirror_file(asset)):
        if candidate is not None and candidate.is_file() and asset.verify(candidate):
            return candidate
    return None


def _copy_verified(asset: Asset, source: Path, dest: Path) -> Path:
    """Copy ``source`` to ``dest`` through a temporary file; only a verified copy gets the final name."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as handle, source.open("rb") as src:
            shutil.copyfileobj(src, handle)
        if not asset.verify(Path(tmp_name)):
            raise AssetError(f"{source} (from ${MIRROR_ENV}) does not have the expected sha256 {asset.sha256}; "
                             f"the mirror copy is damaged (it was left as it is)")
        os.chmod(tmp_name, FILE_MODE)
        os.replace(tmp_name, dest)
        return dest
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def fetch_asset(name: str, download_missing: bool = True) -> Path:
    """A verified local copy of asset ``name`` (see the module docstring for where it is looked for)."""
    asset = get_asset(name)
    dest = destination(asset)
    if dest.is_file():
        if asset.verify(dest):
            return dest
        raise AssetError(f"{dest} exists but its sha256 does not start with {asset.sha256}, so it is not "
                         f"{asset.filename} from {asset.url}. It was left untouched: delete or replace it, then retry.")
    mirrored = _mirror_file(asset)
    if mirrored is not None:
        if not asset.torch_hub:
            if not asset.verify(mirrored):
                raise AssetError(f"{mirrored} (from ${MIRROR_ENV}) does not have the expected sha256 {asset.sha256}; "
                                 f"the mirror copy is damaged (it was left as it is)")
            return mirrored
        return _copy_verified(asset, mirrored, dest)
    if not download_missing:
        raise AssetError(_absent_message(asset, dest))
    try:
        return download(asset.url, dest, sha256=asset.sha256, desc=f"download {asset.filename}")
    except ChecksumMismatch as err:
        raise AssetError(f"{asset.filename}: {err}. The server sent a different file; nothing was kept.") from err
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise AssetError(f"{_absent_message(asset, dest)} (download failed: {err})") from err


def _absent_message(asset: Asset, dest: Path) -> str:
    return (f"{asset.filename} ({asset.name}) is not available: it is not at {dest}, not in ${MIRROR_ENV} "
            f"({os.environ.get(MIRROR_ENV) or 'not set'}), and it could not be downloaded from {asset.url}. "
            f"On a machine with internet access download it from that URL and put it in the ${MIRROR_ENV} folder "
            f"or in {dest.parent}")
