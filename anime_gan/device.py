"""Devices: choosing one, what it runs natively (bfloat16), copies to it that do not make the host wait, timing
marks that count its queued work, float32 without TF32, and seeding; shared by training, evaluation and notebooks."""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import time
from typing import Iterator

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


def device_of(*modules: torch.nn.Module) -> torch.device:
    """The device of the first parameter or buffer of ``modules`` (the CPU for modules that hold none)."""
    for module in modules:
        for tensor in itertools.chain(module.parameters(), module.buffers()):
            return tensor.device
    return torch.device("cpu")


def is_on(tensor: torch.Tensor, device: torch.device | str) -> bool:
    """Does ``tensor`` live on ``device``? (``cuda`` without an index means the current GPU.)"""
    device = torch.device(device)
    if tensor.device.type != device.type:
        return False
    if device.index is None:
        return device.type != "cuda" or tensor.device.index == torch.cuda.current_device()
    return tensor.device.index == device.index


def to_device_nowait(tensor: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """``tensor`` on ``device``, copied without the host waiting for the device.

    A blocking copy from ordinary (pageable) CPU memory to a GPU first waits for every kernel already queued, so a
    training step that copies its batch indices this way stalls the GPU once per step. From pinned memory the copy
    is queued like a kernel (the pinned block is not reused before the copy has run).
    """
    device = torch.device(device)
    if device.type == "cuda" and tensor.device.type == "cpu":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


def synchronize(device: torch.device | str) -> None:
    """Wait until the work queued on ``device`` has run (CUDA runs kernels asynchronously); nothing elsewhere."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_clock(device: torch.device | str) -> float:
    """``time.perf_counter()`` once the work queued on ``device`` has run: a timing mark that counts GPU work."""
    synchronize(device)
    return time.perf_counter()


def has_fast_bf16(device: torch.device | str) -> bool:
    """Does ``device`` run bfloat16 natively? CPUs: oneDNN's bf16 kernels (AVX512-BF16 / AMX); CUDA: compute
    capability 8.0 or newer (``torch.cuda.is_bf16_supported`` without counting emulation, which older GPUs
    offer at fp32 speed or worse); other devices: no."""
    device = torch.device(device)
    if device.type == "cpu":
        return cpu_has_fast_bf16()
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return False


def cpu_has_fast_bf16() -> bool:
    """Does oneDNN run bfloat16 convolutions natively on this CPU (AVX512-BF16 / AMX)?"""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@contextlib.contextmanager
def full_float32() -> Iterator[None]:
    """float32 convolutions and matrix products computed in float32 inside the block, restored after.

    PyTorch lets cuDNN's float32 convolutions run in TF32 (10-bit mantissa) by default on Ampere and newer
    GPUs, and ``float32_matmul_precision`` "high" / "medium" allows TF32 or bfloat16 passes in matrix
    products: numbers labelled float32 would then depend on the GPU and on the process's settings.
    """
    conv_tf32, matmul = torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision()
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = conv_tf32
        torch.set_float32_matmul_precision(matmul)


def float32_arithmetic(device: torch.device | str) -> dict[str, str]:
    """How float32 convolutions and matrix products run on ``device`` under the current settings: "float32", or
    the reduced format they may use ("tf32", "bf16"); with the device type, since kernels differ per device."""
    device = torch.device(device)
    conv = "float32"
    if device.type == "cuda" and torch.backends.cudnn.allow_tf32:
        conv = "tf32"
    elif device.type == "cpu" and torch.backends.mkldnn.conv.fp32_precision not in ("none", "ieee"):
        conv = torch.backends.mkldnn.conv.fp32_precision  # oneDNN's, lowered by the user ("none" is float32)
    return {"device_type": device.type, "conv": conv, "matmul_precision": torch.get_float32_matmul_precision()}


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so a run is repeatable."""
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
