"""Files the data layer writes: atomic saves, sha256 helpers and verified downloads.

Every file is written to a temporary file in its destination folder and moved
into place with ``os.replace``, so an interrupted run never leaves a
half-written tensor, manifest or download behind under the final name.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any, Callable

import torch
from tqdm.auto import tqdm

CHUNK = 1 << 20


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files readable by their owner only; finished files get the usual permissions instead.
FILE_MODE = 0o666 & ~_umask()


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, FILE_MODE)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def save_tensor(obj: Any, path: str | Path) -> Path:
    """``torch.save`` atomically (tensors, or dicts of tensors and plain values)."""
    return atomic_write(path, lambda handle: torch.save(obj, handle))


def save_json(data: dict[str, Any], path: str | Path) -> Path:
    return atomic_write(path, lambda handle: handle.write((json.dumps(data, indent=1) + "\n").encode()))


def load_json_or_none(path: str | Path) -> dict | None:
    """A JSON object from ``path``; None when the file is absent or unreadable (then it is simply rebuilt)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def sri_file(path: str | Path, algorithm: str = "sha512") -> str:
    """Subresource-integrity string of a file (``sha512-<base64>``), the form the npm registry publishes."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return f"{algorithm}-{base64.b64encode(digest.digest()).decode()}"


def sha256_tensor(tensor: torch.Tensor) -> str:
    """sha256 of a CPU tensor's bytes in C order (identifies a prepared image set)."""
    return hashlib.sha256(tensor.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


class ChecksumMismatch(Exception):
    """A downloaded file's sha256 is not the expected one (the file has been deleted)."""


def download(url: str, destination: str | Path, sha256: str | None = None, desc: str | None = None,
             timeout: float = 60.0) -> Path:
    """Download ``url`` to ``destination`` through a temporary file in the same folder.

    ``sha256`` may be the full hex digest or a prefix of it (where only a prefix is published).
    On a mismatch the temporary file is deleted and ChecksumMismatch raised; network failures raise
    ``urllib.error.URLError`` / ``OSError``. Nothing but the temporary file is ever removed.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part", dir=destination.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as handle, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=desc or f"download {destination.name}") as bar:
                while block := response.read(CHUNK):
                    handle.write(block)
                    digest.update(block)
                    bar.update(len(block))
        actual = digest.hexdigest()
        if sha256 is not None and not actual.startswith(sha256.lower()):
            raise ChecksumMismatch(f"{url} downloaded with sha256 {actual}, expected {sha256}; the download was deleted")
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, destination)
        return destination
    finally:
        tmp.unlink(missing_ok=True)
