"""Speed options of the training loop, resolved per device from measurements.

``bf16``, ``channels_last`` and ``compile`` are config keys that default to
``"auto"``; ``resolve_speed`` turns them into booleans for the device at hand and
says why, and the result is recorded in every checkpoint, summary and metrics file.

What "auto" picks, and the measurements behind it (``make bench``,
reports/benchmarks/train_step.json):

- bf16: on CPUs only where oneDNN has bfloat16 kernels (AVX512-BF16 or AMX, which
  ``torch.ops.mkldnn._is_mkldnn_bf16_supported()`` reports). Elsewhere PyTorch falls
  back to its reference convolutions (``aten::_slow_conv2d_backward``,
  ``aten::slow_conv_transpose2d``) and a step runs 5-25x slower than in fp32. On
  GPUs where bfloat16 is native (compute capability 8.0+:
  ``torch.cuda.is_bf16_supported(including_emulation=False)``); the emulation that
  torch otherwise counts as support runs no faster than fp32.
- channels_last: on CPUs and GPUs. On CPUs it sends transposed convolutions to
  oneDNN instead of the reference kernel.
- compile: off by default (see the benchmark); it cannot be used with gradient
  penalties (double backward), so it is always off when one is configured.

Not a config key: on CUDA the loop runs with ``torch.backends.cudnn.benchmark``
(``cudnn_benchmark``). cuDNN then times its algorithms for each new input shape
once and keeps the fastest; a training run shows its networks a handful of fixed
shapes (fixed batch sizes and resolution; progressive growing adds one set per
stage), so the timing is paid once per shape and every later step gains. The
chosen algorithms may differ between runs, which on a GPU were not bitwise
repeatable anyway (atomic additions in the backward passes).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Iterator

import torch

from anime_gan.device import has_fast_bf16
from anime_gan.errors import ConfigError


@dataclass(frozen=True)
class SpeedOptions:
    bf16: bool = False
    channels_last: bool = False
    compile: bool = False
    cudnn_benchmark: bool = False  # on CUDA: time cuDNN's algorithms per input shape once, keep the fastest
    notes: tuple[str, ...] = ()  # how each "auto" was decided

    def as_dict(self) -> dict:
        return {**asdict(self), "notes": list(self.notes)}


def _choice(value: bool | str, key: str) -> bool | None:
    """True/False as given, None for "auto"; anything else is a config error."""
    if isinstance(value, bool):
        return value
    if value == "auto":
        return None
    raise ConfigError(f"train.{key} must be true, false or auto, got {value!r}")


def resolve_speed(bf16: bool | str, channels_last: bool | str, compile: bool | str, device: torch.device,
                  double_backward: bool = False) -> SpeedOptions:
    """The speed options for ``device``: explicit values are kept, "auto" becomes the measured best."""
    notes = []
    chosen_bf16 = _choice(bf16, "bf16")
    if chosen_bf16 is None:
        chosen_bf16 = has_fast_bf16(device)
        if device.type == "cpu":
            notes.append("bf16 auto: " + ("this CPU has native bfloat16 kernels (oneDNN)" if chosen_bf16 else
                                          "no native bfloat16 kernels on this CPU (no AVX512-BF16/AMX), so fp32"))
        elif device.type == "cuda":
            notes.append("bf16 auto: " + ("this GPU runs bfloat16 natively" if chosen_bf16 else
                                          "no native bfloat16 on this GPU (compute capability < 8.0), so fp32"))
        else:
            notes.append(f"bf16 auto: fp32 on {device.type}")
    chosen_cl = _choice(channels_last, "channels_last")
    if chosen_cl is None:
        chosen_cl = device.type in ("cpu", "cuda")
        notes.append(f"channels_last auto: {chosen_cl} on {device.type}")
    chosen_compile = _choice(compile, "compile")
    if chosen_compile is None:
        chosen_compile = False
        notes.append("compile auto: off (no measured gain that pays its warm-up here)")
    if chosen_compile and double_backward:
        chosen_compile = False
        notes.append("compile off: a gradient penalty needs double backward, which compiled graphs do not support")
    cudnn_benchmark = device.type == "cuda"
    if cudnn_benchmark:
        notes.append("cudnn.benchmark on: the step's shapes are fixed (per growth stage), so each is timed once")
    return SpeedOptions(bf16=chosen_bf16, channels_last=chosen_cl, compile=chosen_compile,
                        cudnn_benchmark=cudnn_benchmark, notes=tuple(notes))


@contextlib.contextmanager
def backend_flags(speed: SpeedOptions) -> Iterator[None]:
    """``torch.backends.cudnn.benchmark`` on inside the block when the speed options chose it (restored after:
    evaluation code run later in the same process keeps its own setting); nothing otherwise."""
    if not speed.cudnn_benchmark:
        yield
        return
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def autocast(speed: SpeedOptions, device: torch.device) -> contextlib.AbstractContextManager:
    """bfloat16 autocast when the speed options chose it, else nothing."""
    if not speed.bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
