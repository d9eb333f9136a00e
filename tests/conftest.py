"""Shared fixtures. Tests that need the offline mirror skip with a clear reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

MIRROR_ENV = "ANIME_GAN_MIRROR"


def mirror_path() -> Path | None:
    value = os.environ.get(MIRROR_ENV)
    if not value:
        return None
    path = Path(value)
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def mirror_dir() -> Path:
    """The offline mirror folder; skips the test when ANIME_GAN_MIRROR is unset or not a folder."""
    path = mirror_path()
    if path is None:
        pytest.skip(f"needs the offline mirror: set {MIRROR_ENV} to a folder holding anime-faces-10k.tar")
    return path
