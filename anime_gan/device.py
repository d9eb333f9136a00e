"""Device selection, what the hardware runs natively, and seeding; shared by training, evaluation and notebooks."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def pick_device(preferred: str = "auto") -> torch.device:
    """Return the requested device, or the best available one: cuda > mps > cpu."""
    if preferred != "auto":
        device = torch.device(preferred)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {preferred!r} was requested but CUDA is not available")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError(f"device {preferred!r} was requested but MPS is not available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so a run is repeatable."""
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def cpu_has_fast_bf16() -> bool:
    """Does oneDNN run bfloat16 convolutions natively on this CPU (AVX512-BF16 / AMX)?"""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
