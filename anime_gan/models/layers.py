"""Building blocks shared by the networks: geometry, normalisation, initialisation, self-attention."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from anime_gan.errors import ConfigError

NORMS = ("batch", "instance", "layer", "none")


def as_hw(resolution: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """A side length or (height, width) -> (height, width)."""
    if isinstance(resolution, int):
        return resolution, resolution
    height, width = resolution
    return int(height), int(width)


def num_doublings(height: int, width: int) -> int:
    """Resolution doublings from the base map: the largest k with H and W divisible by 2^k and min(H, W) / 2^k >= 3.

    32 -> 3 (4x4 base), 64 -> 4 (4x4), 96 -> 5 (3x3), 128x160 -> 5 (4x5).
    """
    k = 0
    while height % 2 ** (k + 1) == 0 and width % 2 ** (k + 1) == 0 and min(height, width) // 2 ** (k + 1) >= 3:
        k += 1
    if k < 2:
        raise ConfigError(f"resolution {height}x{width} is too small or odd: it needs at least two halvings down to >= 3 px")
    return k


def norm_2d(kind: str, channels: int) -> nn.Module:
    """A 2-D normalisation layer. 'layer' normalises each sample over (C, H, W) with a per-channel affine
    (GroupNorm with one group), which works at any resolution."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"norm {kind!r} is not one of {list(NORMS)}")


@torch.no_grad()
def init_dcgan_(module: nn.Module, std: float = 0.02) -> None:
    """DCGAN initialisation: conv weights N(0, std), norm scales N(1, std), biases 0.

    For spectrally normalised layers the underlying (original) weight is initialised.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = layer.parametrizations.weight.original if hasattr(layer, "parametrizations") else layer.weight
            nn.init.normal_(weight, 0.0, std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm)) and layer.weight is not None:
            nn.init.normal_(layer.weight, 1.0, std)
            nn.init.zeros_(layer.bias)


class SelfAttention(nn.Module):
    """SAGAN self-attention: out = gamma * softmax(q^T k) v + x, with gamma starting at 0.

    Query and key are 1x1 convs to C/8 channels, value a 1x1 conv to C channels; the softmax runs over
    all H*W positions without the 1/sqrt(d) scaling of transformers (as in SAGAN).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = max(1, channels // 8)
        self.query = nn.Conv2d(channels, inner, 1)  # (N, C, H, W) -> (N, C/8, H, W)
        self.key = nn.Conv2d(channels, inner, 1)  # (N, C, H, W) -> (N, C/8, H, W)
        self.value = nn.Conv2d(channels, channels, 1)  # (N, C, H, W) -> (N, C, H, W)
        self.gamma = nn.Parameter(torch.zeros(()))  # starts as the identity; learns how much attention to mix in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2).unsqueeze(1)  # (N, 1, HW, C/8)
        k = self.key(x).flatten(2).transpose(1, 2).unsqueeze(1)  # (N, 1, HW, C/8)
        v = self.value(x).flatten(2).transpose(1, 2).unsqueeze(1)  # (N, 1, HW, C)
        attended = F.scaled_dot_product_attention(q, k, v, scale=1.0)  # (N, 1, HW, C)
        attended = attended.squeeze(1).transpose(1, 2).reshape(n, c, h, w)  # (N, C, H, W)
        return x + self.gamma * attended
