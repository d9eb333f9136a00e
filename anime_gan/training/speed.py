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
  GPUs where ``torch.cuda.is_bf16_supported()``.
- channels_last: on CPUs and GPUs. On CPUs it sends transposed convolutions to
  oneDNN instead of the reference kernel.
- compile: off by default (see the benchmark); it cannot be used with gradient
  penalties (double backward), so it is always off when one is configured.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass

import torch

from anime_gan.device import cpu_has_fast_bf16
from anime_gan.errors import ConfigError


@dataclass(frozen=True)
class SpeedOptions:
    bf16: bool = False
    channels_last: bool = False
    compile: bool = False
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
        if device.type == "cpu":
            chosen_bf16 = cpu_has_fast_bf16()
            notes.append("bf16 auto: " + ("this CPU has native bfloat16 kernels (oneDNN)" if chosen_bf16 else
                                          "no native bfloat16 kernels on this CPU (no AVX512-BF16/AMX), so fp32"))
        elif device.type == "cuda":
            chosen_bf16 = torch.cuda.is_bf16_supported()
            notes.append(f"bf16 auto: cuda bf16 support {chosen_bf16}")
        else:
            chosen_bf16 = False
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
    return SpeedOptions(bf16=chosen_bf16, channels_last=chosen_cl, compile=chosen_compile, notes=tuple(notes))


def autocast(speed: SpeedOptions, device: torch.device) -> contextlib.AbstractContextManager:
    """bfloat16 autocast when the speed options chose it, else nothing."""
    if not speed.bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
