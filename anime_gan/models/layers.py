"""Pieces every network here is made of: resolution geometry, normalisation layers and weight initialisation.

The convolutional GANs of this project grow (generator) or shrink (discriminator)
a small base map by factors of two. ``num_doublings`` decides how many doublings a
resolution allows, so one definition serves 32x32, 64x64, 96x96, 128x128 and
non-square images such as seed 000's 128x160 CelebA faces.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from anime_gan.errors import ConfigError

Resolution = int | Sequence[int]

NORMS = ("batch", "instance", "layer", "none")
WEIGHT_INITS = ("dcgan", "pytorch")


def as_hw(resolution: Resolution) -> tuple[int, int]:
    """A side length or (height, width) -> (height, width)."""
    if isinstance(resolution, int) and not isinstance(resolution, bool):
        height = width = resolution
    elif isinstance(resolution, Sequence) and len(resolution) == 2 and all(isinstance(s, int) for s in resolution):
        height, width = resolution
    else:
        raise ConfigError(f"resolution {resolution!r} must be a side length or [height, width] of integers")
    if height < 1 or width < 1:
        raise ConfigError(f"resolution {resolution!r} must be positive")
    return int(height), int(width)


def num_doublings(height: int, width: int) -> int:
    """The largest k with H and W divisible by 2^k and min(H, W) / 2^k >= 3.

    The base map is (H / 2^k, W / 2^k): 32 -> 4x4 (k=3), 64 -> 4x4 (k=4), 96 -> 3x3 (k=5),
    128 -> 4x4 (k=5), 128x160 -> 4x5 (k=5).
    """
    k = 0
    while height % 2 ** (k + 1) == 0 and width % 2 ** (k + 1) == 0 and min(height, width) // 2 ** (k + 1) >= 3:
        k += 1
    if k < 2:
        raise ConfigError(
            f"resolution {height}x{width} allows {k} halving(s) down to a map of at least 3 px; these networks need 2 "
            "or more: use sides divisible by 4 and at least 12 px (e.g. 32, 64, 96, 128)"
        )
    return k


def base_size(height: int, width: int) -> tuple[int, int]:
    """The smallest feature map: (H / 2^k, W / 2^k) with k = num_doublings(H, W)."""
    k = num_doublings(height, width)
    return height >> k, width >> k


def check_choice(value: str, choices: Iterable[str], key: str) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise ConfigError(f"{key} {value!r} is not one of {list(choices)}")
    return value


def norm_2d(kind: str, channels: int, size: tuple[int, int]) -> nn.Module:
    """A normalisation layer for (N, channels, *size) feature maps.

    batch    BatchNorm over (N, H, W) per channel (DCGAN, heykeetae's SAGAN).
    instance InstanceNorm over (H, W) per sample and channel, with a learned per-channel affine
             (the WGAN-GP critic of BaMSGAN's baselines).
    layer    LayerNorm over (C, H, W) per sample with an elementwise affine of shape (C, H, W): exactly
             ``nn.LayerNorm([C, H, W])`` as in BaMSGAN's generator. It needs the map size, which the
             networks know from their resolution.
    none     identity.
    """
    check_choice(kind, NORMS, "norm")
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "layer":
        return nn.LayerNorm([channels, *size])
    return nn.Identity()


_CONVS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
_NORMS = (nn.BatchNorm2d, nn.InstanceNorm2d, nn.LayerNorm, nn.GroupNorm)


@torch.no_grad()
def init_weights_(module: nn.Module, scheme: str = "dcgan", std: float = 0.02) -> None:
    """Initialise every conv and norm layer of ``module`` in place.

    dcgan    conv weights N(0, std), norm scales N(1, std), all biases 0 (Radford et al. 2016).
    pytorch  keep PyTorch's default initialisation.

    Call it before spectral norm is registered, so that the power iteration starts from the final weights.
    """
    check_choice(scheme, WEIGHT_INITS, "weight_init")
    if scheme == "pytorch":
        return
    for layer in module.modules():
        if isinstance(layer, _CONVS):
            nn.init.normal_(layer.weight, 0.0, std)
        elif isinstance(layer, _NORMS) and getattr(layer, "weight", None) is not None:
            nn.init.normal_(layer.weight, 1.0, std)
        else:
            continue
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


def apply_spectral_norm_(layers: Iterable[nn.Module]) -> None:
    """Register spectral normalisation on each layer, in place (torch's parametrization; one power iteration
    per training-mode forward, as Miyato et al.)."""
    for layer in layers:
        spectral_norm(layer)


def is_spectral_normalised(layer: nn.Module) -> bool:
    return hasattr(layer, "parametrizations") and "weight" in layer.parametrizations


def activations(net: nn.Sequential, x: torch.Tensor, after: tuple[type, ...] = (nn.LeakyReLU,)) -> list[torch.Tensor]:
    """The outputs of every ``after`` layer of ``net`` on ``x``, up to (not including) ``net``'s last layer: a
    discriminator's intermediate features, for feature matching."""
    features = []
    for layer in list(net)[:-1]:
        x = layer(x)
        if isinstance(layer, after):
            features.append(x)
    return features


# ---------------------------------------------------------------- progressive growing: stages and sides

# Square sides 4 * 2^k that a progressively grown network can end at (k = 1 ... 8).
FINAL_RESOLUTIONS = tuple(4 * 2**k for k in range(1, 9))


def stage_of(resolution: int) -> int:
    """4 -> 0, 8 -> 1, 16 -> 2, ...; the resolution must be 4 times a power of two."""
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 4 or resolution % 4 \
            or (resolution // 4) & (resolution // 4 - 1):
        raise ConfigError(f"resolution {resolution!r} is not 4 times a power of two (4, 8, 16, 32, 64, 128, ...)")
    return (resolution // 4).bit_length() - 1


def resolution_of_stage(stage: int) -> int:
    return 4 * 2**stage


def fade(old: torch.Tensor, new: torch.Tensor, alpha: float) -> torch.Tensor:
    """lerp(old, new, alpha) = old + alpha * (new - old): a growing network's blend of its previous stage's output
    with its newest block's, in the wider dtype of the two.

    Under bf16 autocast the two sides can differ: a conv's output is bfloat16, but adding a float32 bias (or any op
    autocast keeps in float32) promotes it to float32; torch.lerp demands one dtype and autocast does not promote
    it, so it would fail on the mixed pair.
    """
    dtype = torch.promote_types(old.dtype, new.dtype)
    return torch.lerp(old.to(dtype), new.to(dtype), alpha)


def check_final_resolution(resolution: object, network: str = "stylegan") -> int:
    """A square side in FINAL_RESOLUTIONS, given as a side length or (height, width); anything else is a ConfigError."""
    if isinstance(resolution, (tuple, list)) and len(resolution) == 2 and resolution[0] == resolution[1]:
        resolution = resolution[0]
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution not in FINAL_RESOLUTIONS:
        raise ConfigError(
            f"{network}: resolution {resolution!r} is not supported; progressive growing needs a square side of "
            f"4 times a power of two: one of {list(FINAL_RESOLUTIONS)}"
        )
    return resolution
