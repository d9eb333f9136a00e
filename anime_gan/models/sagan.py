"""SAGAN (Zhang et al. 2019) in the BaMSGAN layout.

For 64x64 images: G = spectral-norm transposed convs z -> 512@4 -> 256@8 ->
128@16 -> attention -> 64@32 -> attention -> 3@64 (the last layer without
spectral norm, tanh); D = spectral-norm convs 64@32 -> 128@16 -> 256@8 ->
attention -> 512@4 -> attention -> one logit, LeakyReLU(0.1). Attention sits at
G's two largest hidden resolutions and D's two smallest, which gives exactly
that layout at 64x64 and scales it to other sizes. BaMSGAN's code normalises G
with LayerNorm (``norm="layer"``), heykeetae's SAGAN with BatchNorm.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from anime_gan.errors import ConfigError
from anime_gan.models.layers import SelfAttention, as_hw, init_dcgan_, norm_2d, num_doublings


def _check_attention(requested: Sequence[int], available: Sequence[int], network: str) -> list[int]:
    missing = [r for r in requested if r not in available]
    if missing:
        raise ConfigError(f"{network}: attention_resolutions {missing} are not feature-map heights of this network; "
                          f"choose from {sorted(available)}")
    return list(requested)


class SAGANGenerator(nn.Module):
    def __init__(
        self,
        resolution: int | tuple[int, int] = 64,  # output side length, or (height, width)
        width: int = 64,  # channels of the last hidden layer; doubled per layer towards the base
        latent_dim: int = 100,  # length of z
        norm: str = "layer",  # layer (BaMSGAN's code) | batch (heykeetae's SAGAN) | instance | none
        attention_resolutions: Sequence[int] | None = None,  # feature-map heights with self-attention (default: two largest)
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        height, width_px = as_hw(resolution)
        k = num_doublings(height, width_px)
        base = (height >> k, width_px >> k)
        hidden_heights = [base[0] << i for i in range(k)]  # heights after each hidden layer
        if attention_resolutions is None:
            attention_resolutions = hidden_heights[-2:]
        attention = _check_attention(attention_resolutions, hidden_heights, "sagan generator")
        channels = width * 2 ** (k - 1)
        layers: list[nn.Module] = [
            # (N, latent, 1, 1) -> (N, width*2^(k-1), base_h, base_w)
            spectral_norm(nn.ConvTranspose2d(latent_dim, channels, base, 1, 0)),
            norm_2d(norm, channels),
            nn.ReLU(inplace=True),
        ]
        h = base[0]
        if h in attention:
            layers.append(SelfAttention(channels))  # (N, C, h, w) -> same
        for _ in range(k - 1):
            # (N, C, h, w) -> (N, C/2, 2h, 2w)
            layers += [spectral_norm(nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1)), norm_2d(norm, channels // 2),
                       nn.ReLU(inplace=True)]
            channels //= 2
            h *= 2
            if h in attention:
                layers.append(SelfAttention(channels))  # (N, C, h, w) -> same
        # (N, width, H/2, W/2) -> (N, 3, H, W); no spectral norm on the output layer, as the authors' code
        layers += [nn.ConvTranspose2d(channels, 3, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_dcgan_(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])  # (N, latent) -> (N, 3, H, W)


class SAGANDiscriminator(nn.Module):
    def __init__(
        self,
        resolution: int | tuple[int, int] = 64,  # input side length, or (height, width)
        width: int = 64,  # channels of the first conv; doubled per layer
        attention_resolutions: Sequence[int] | None = None,  # feature-map heights with self-attention (default: two smallest)
        negative_slope: float = 0.1,  # LeakyReLU slope (SAGAN and BaMSGAN use 0.1)
    ) -> None:
        super().__init__()
        height, width_px = as_hw(resolution)
        k = num_doublings(height, width_px)
        base = (height >> k, width_px >> k)
        feature_heights = [height >> (i + 1) for i in range(k)]  # heights after each conv
        if attention_resolutions is None:
            attention_resolutions = feature_heights[-2:]
        attention = _check_attention(attention_resolutions, feature_heights, "sagan discriminator")
        channels = width
        layers: list[nn.Module] = [
            # (N, 3, H, W) -> (N, width, H/2, W/2)
            spectral_norm(nn.Conv2d(3, channels, 4, 2, 1)),
            nn.LeakyReLU(negative_slope, inplace=True),
        ]
        h = height // 2
        if h in attention:
            layers.append(SelfAttention(channels))
        for _ in range(k - 1):
            # (N, C, h, w) -> (N, 2C, h/2, w/2)
            layers += [spectral_norm(nn.Conv2d(channels, channels * 2, 4, 2, 1)), nn.LeakyReLU(negative_slope, inplace=True)]
            channels *= 2
            h //= 2
            if h in attention:
                layers.append(SelfAttention(channels))  # (N, C, h, w) -> same
        # (N, width*2^(k-1), base_h, base_w) -> (N, 1, 1, 1)
        layers.append(spectral_norm(nn.Conv2d(channels, 1, base, 1, 0)))
        self.net = nn.Sequential(*layers)
        init_dcgan_(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()  # (N, 3, H, W) -> (N,)
