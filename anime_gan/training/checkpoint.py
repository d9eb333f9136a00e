"""Atomic checkpoint files.

A checkpoint is written to a temporary file in the same folder, flushed to disk,
then renamed over the old one, so a run killed at any moment leaves either the
previous checkpoint or the new one, never half a file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from anime_gan.errors import TrainingError

CHECKPOINT_FORMAT = 2  # 2: progress counted in real images drawn (images_drawn)


def save_atomic(state: dict[str, Any], path: str | Path) -> Path:
    """``torch.save`` to ``path`` via temp file + fsync + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def rng_state(noise_rng: torch.Generator | None = None, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Every random-number state a training step reads: torch's CPU generator, the loop's own noise generator and,
    when training on CUDA, the training GPU's default generator (that GPU's only: a machine with fewer GPUs can
    restore it, where ``get_rng_state_all`` would name GPUs it lacks)."""
    device = torch.device(device)
    return {
        "noise": noise_rng.get_state() if noise_rng is not None else None,
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
    }


def reseeded_noise(seed: int, iteration: int) -> int:
    """The noise generator's seed after a resume on another kind of device: a function of the run's seed and the
    iteration, so two such resumes of one checkpoint continue identically."""
    return (seed * 1_000_003 + iteration) % 2**63


def set_rng_state(state: dict[str, Any], noise_rng: torch.Generator | None = None,
                  device: torch.device | str = "cpu", reseed: int | None = None) -> None:
    """Restore what :func:`rng_state` captured, onto ``device`` (the training device).

    ``reseed``: the checkpoint was written on another kind of device, whose generator states mean nothing here;
    the CPU generator is still restored, the noise generator is seeded with ``reseed`` and the GPU's is left alone.
    Generator states are CPU ByteTensors whatever the device (``set_state`` refuses others), hence ``.cpu()``.
    """
    device = torch.device(device)
    torch.set_rng_state(state["torch"].cpu())
    if noise_rng is not None:
        if reseed is not None:
            noise_rng.manual_seed(reseed)
        elif state.get("noise") is not None:
            noise_rng.set_state(state["noise"].cpu())
    if reseed is None and device.type == "cuda" and state.get("cuda") is not None:
        cuda_state = state["cuda"]
        if isinstance(cuda_state, (list, tuple)):  # older checkpoints: every GPU's (get_rng_state_all)
            index = device.index if device.index is not None else torch.cuda.current_device()
            cuda_state = cuda_state[index] if index < len(cuda_state) else None
        if cuda_state is not None:
            torch.cuda.set_rng_state(cuda_state.cpu(), device)


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_atomic`; a clear error when missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"checkpoint not found: {path}")
    try:
        # weights_only=False: checkpoints hold RNG states and plain config dicts written by this package.
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # a truncated or foreign file
        raise TrainingError(f"checkpoint {path} could not be read ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict) or "format" not in state:
        raise TrainingError(f"{path} is not an anime-gan checkpoint")
    if state["format"] != CHECKPOINT_FORMAT:
        raise TrainingError(f"{path} has checkpoint format {state['format']}, this version reads format "
                            f"{CHECKPOINT_FORMAT}; train the run again (or use the version that wrote it)")
    return state
