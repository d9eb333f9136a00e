"""SAGAN (Zhang et al. 2019) in the layout of BaMSGAN's code.

Self-attention lets a layer look at every position of its feature map, so
distant parts of a face (the two eyes) can agree. Both networks are DCGAN-shaped
with spectral normalisation (Miyato et al. 2018) on their convs; at 64x64 with
width 64:

    G: z -> 512@4 -> 256@8 -> 128@16 -> attention -> 64@32 -> attention -> 3@64, tanh
    D: 3@64 -> 64@32 -> 128@16 -> 256@8 -> attention -> 512@4 -> attention -> one logit

As in the authors' code (and heykeetae's SAGAN it derives from), the generator's
RGB layer, the discriminator's logit layer and the attention convs carry no
spectral norm, and D uses LeakyReLU(0.1). BaMSGAN's generator normalises with
LayerNorm over (C, H, W) (``norm="layer"``), heykeetae's with BatchNorm
(``norm="batch"``).

Attention positions are feature-map heights (``attention_resolutions``). The
defaults follow the 64x64 layout: G at H/4 and H/2; D at H/8 and H/16, or at
the two smallest maps when D ends above H/16 (32x32 images: 8 and 4).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from anime_gan.errors import ConfigError
from anime_gan.models.layers import (
    activations,
    Resolution,
    apply_spectral_norm_,
    as_hw,
    base_size,
    init_weights_,
    norm_2d,
    num_doublings,
)


class SelfAttention(nn.Module):
    """out = gamma * attention(x) + x, with gamma a learned scalar that starts at 0 (the block starts as identity).

    Query and key are 1x1 convs to C/8 channels and value a 1x1 conv to C channels; each position attends to
    every position with weights softmax_j(q_i . k_j), without the 1/sqrt(d) scaling of transformers (as SAGAN).
    """

    def __init__(
        self,
        channels: int,  # C of the (N, C, H, W) feature map
    ) -> None:
        super().__init__()
        inner = max(1, channels // 8)
        self.query = nn.Conv2d(channels, inner, 1)  # (N, C, H, W) -> (N, C/8, H, W)
        self.key = nn.Conv2d(channels, inner, 1)  # (N, C, H, W) -> (N, C/8, H, W)
        self.value = nn.Conv2d(channels, channels, 1)  # (N, C, H, W) -> (N, C, H, W)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2).unsqueeze(1)  # (N, 1, HW, C/8)
        k = self.key(x).flatten(2).transpose(1, 2).unsqueeze(1)  # (N, 1, HW, C/8)
        v = self.value(x).flatten(2).transpose(1, 2).unsqueeze(1)  # (N, 1, HW, C)
        # The fused kernel never materialises the (HW, HW) attention matrix.
        attended = F.scaled_dot_product_attention(q, k, v, scale=1.0)  # (N, 1, HW, C)
        attended = attended.squeeze(1).transpose(1, 2).reshape(n, c, h, w)  # (N, C, H, W)
        return x + self.gamma * attended


def _attention_heights(requested: Sequence[int] | None, default: list[int], available: list[int], network: str) -> set[int]:
    heights = default if requested is None else list(requested)
    missing = [r for r in heights if r not in available]
    if missing:
        raise ConfigError(
            f"{network}.attention_resolutions: {missing} are not feature-map heights of this network; "
            f"choose from {sorted(available)}"
        )
    return set(heights)


class SAGANGenerator(nn.Module):
    """z of shape (N, latent_dim) -> images (N, 3, H, W) in [-1, 1]."""

    def __init__(
        self,
        resolution: Resolution = 64,  # output size: a side length or (height, width)
        width: int = 64,  # channels of the last hidden map; doubled per layer towards the base map
        latent_dim: int = 100,  # length of z
        norm: str = "layer",  # after every hidden transposed conv: layer (BaMSGAN) | batch (heykeetae) | instance | none
        attention_resolutions: Sequence[int] | None = None,  # heights of the maps followed by attention; None: H/4, H/2
        weight_init: str = "dcgan",  # dcgan: N(0, 0.02) convs and N(1, 0.02) norm scales | pytorch: defaults
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.resolution = as_hw(resolution)
        height, width_px = self.resolution
        k = num_doublings(height, width_px)
        h, w = base_size(height, width_px)
        hidden_heights = [h << i for i in range(k)]  # base map ... H/2
        attention = _attention_heights(attention_resolutions, [height // 4, height // 2], hidden_heights, "generator")
        bias = norm == "none"  # a norm's shift makes a conv bias redundant
        channels = width * 2 ** (k - 1)
        spectral: list[nn.Module] = []  # convs that get spectral norm
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, channels, (h, w), 1, 0, bias=bias),  # (N, z, 1, 1) -> (N, C0, h0, w0)
            norm_2d(norm, channels, (h, w)),  # (N, C0, h0, w0)
            nn.ReLU(inplace=True),
        ]
        spectral.append(layers[0])
        if h in attention:
            layers.append(SelfAttention(channels))  # (N, C0, h0, w0)
        for _ in range(k - 1):
            h, w = 2 * h, 2 * w
            layers += [
                nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=bias),  # (N, C, h, w) -> (N, C/2, 2h, 2w)
                norm_2d(norm, channels // 2, (h, w)),  # (N, C/2, 2h, 2w)
                nn.ReLU(inplace=True),
            ]
            spectral.append(layers[-3])
            channels //= 2
            if h in attention:
                layers.append(SelfAttention(channels))  # (N, C/2, 2h, 2w)
        layers += [
            nn.ConvTranspose2d(channels, 3, 4, 2, 1),  # (N, width, H/2, W/2) -> (N, 3, H, W); no spectral norm
            nn.Tanh(),
        ]
        self.net = nn.Sequential(*layers)
        init_weights_(self, weight_init)
        apply_spectral_norm_(spectral)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.reshape(len(z), self.latent_dim, 1, 1))  # (N, latent_dim) -> (N, 3, H, W)


class SAGANDiscriminator(nn.Module):
    """Images (N, 3, H, W) -> logits (N,)."""

    def __init__(
        self,
        resolution: Resolution = 64,  # input size: a side length or (height, width)
        width: int = 64,  # channels of the first conv; doubled per layer
        attention_resolutions: Sequence[int] | None = None,  # heights of the maps followed by attention; None: H/8, H/16
        negative_slope: float = 0.1,  # LeakyReLU slope (SAGAN and BaMSGAN: 0.1)
        weight_init: str = "dcgan",  # dcgan: N(0, 0.02) convs | pytorch: defaults (spectral norm rescales either)
    ) -> None:
        super().__init__()
        self.resolution = as_hw(resolution)
        height, width_px = self.resolution
        k = num_doublings(height, width_px)
        feature_heights = [height >> (i + 1) for i in range(k)]  # H/2 ... base map
        smallest = max(height // 16, feature_heights[-1])
        attention = _attention_heights(attention_resolutions, [2 * smallest, smallest], feature_heights, "discriminator")
        h, w = height // 2, width_px // 2
        channels = width
        spectral: list[nn.Module] = []  # convs that get spectral norm
        layers: list[nn.Module] = [
            nn.Conv2d(3, channels, 4, 2, 1),  # (N, 3, H, W) -> (N, width, H/2, W/2)
            nn.LeakyReLU(negative_slope, inplace=True),
        ]
        spectral.append(layers[0])
        if h in attention:
            layers.append(SelfAttention(channels))  # (N, width, H/2, W/2)
        for _ in range(k - 1):
            h, w = h // 2, w // 2
            layers += [
                nn.Conv2d(channels, channels * 2, 4, 2, 1),  # (N, C, h, w) -> (N, 2C, h/2, w/2)
                nn.LeakyReLU(negative_slope, inplace=True),
            ]
            spectral.append(layers[-2])
            channels *= 2
            if h in attention:
                layers.append(SelfAttention(channels))  # (N, 2C, h/2, w/2)
        layers.append(nn.Conv2d(channels, 1, (h, w), 1, 0))  # (N, C_k, h_k, w_k) -> (N, 1, 1, 1); no spectral norm
        self.net = nn.Sequential(*layers)
        init_weights_(self, weight_init)
        apply_spectral_norm_(spectral)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()  # (N, 3, H, W) -> (N,)

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The activations after each LeakyReLU (N, C_l, H_l, W_l), for feature matching."""
        return activations(self.net, images)
