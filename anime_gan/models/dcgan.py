"""DCGAN (Radford et al. 2016), generic in resolution and normalisation.

The generator grows z through transposed convs from a base map of
width * 2^(k-1) channels, halving the channels as it doubles the size, to RGB
with tanh; the discriminator mirrors it with strided convs and LeakyReLU(0.2),
normalising every layer but the first, and ends in a conv over the whole base
map that gives one logit per image (no sigmoid: it lives in the loss). At 64x64
with width 64 the channels are 512-256-128-64, the reference networks of seed
001 and the PyTorch example.

The same two classes serve the other baselines:

- WGAN critic (seed 000): the discriminator with BatchNorm, trained with weight clipping.
- WGAN-GP (BaMSGAN's baselines, ANI717's code): critic ``norm="instance", bias=True``;
  generator ``width=128, norm="none", bias=True`` (their generator has no
  normalisation and twice the DCGAN widths, 1024-512-256-128 at 64x64).
"""

from __future__ import annotations

import torch
from torch import nn

from anime_gan.models.layers import Resolution, activations, as_hw, base_size, init_weights_, norm_2d, num_doublings


class DCGANGenerator(nn.Module):
    """z of shape (N, latent_dim) -> images (N, 3, H, W) in [-1, 1]."""

    def __init__(
        self,
        resolution: Resolution = 64,  # output size: a side length or (height, width)
        width: int = 64,  # channels of the last hidden map; doubled per layer towards the base map
        latent_dim: int = 100,  # length of z
        norm: str = "batch",  # after every hidden transposed conv: batch | instance | layer | none
        bias: bool = False,  # bias on the RGB layer (hidden convs never have one); ANI717's generator: True
        weight_init: str = "dcgan",  # dcgan: N(0, 0.02) convs and N(1, 0.02) norm scales | pytorch: defaults
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.resolution = as_hw(resolution)
        height, width_px = self.resolution
        k = num_doublings(height, width_px)
        h, w = base_size(height, width_px)
        channels = width * 2 ** (k - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, channels, (h, w), 1, 0, bias=False),  # (N, z, 1, 1) -> (N, C0, h0, w0)
            norm_2d(norm, channels, (h, w)),  # (N, C0, h0, w0)
            nn.ReLU(inplace=True),
        ]
        for _ in range(k - 1):
            h, w = 2 * h, 2 * w
            layers += [
                nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False),  # (N, C, h, w) -> (N, C/2, 2h, 2w)
                norm_2d(norm, channels // 2, (h, w)),  # (N, C/2, 2h, 2w)
                nn.ReLU(inplace=True),
            ]
            channels //= 2
        layers += [
            nn.ConvTranspose2d(channels, 3, 4, 2, 1, bias=bias),  # (N, width, H/2, W/2) -> (N, 3, H, W)
            nn.Tanh(),  # into [-1, 1], the range of the real images
        ]
        self.net = nn.Sequential(*layers)
        init_weights_(self, weight_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.reshape(len(z), self.latent_dim, 1, 1))  # (N, latent_dim) -> (N, 3, H, W)


class DCGANDiscriminator(nn.Module):
    """Images (N, 3, H, W) -> logits (N,)."""

    def __init__(
        self,
        resolution: Resolution = 64,  # input size: a side length or (height, width)
        width: int = 64,  # channels of the first conv; doubled per layer
        norm: str = "batch",  # after every conv but the first and the last: batch | instance | layer | none
        negative_slope: float = 0.2,  # LeakyReLU slope
        bias: bool = False,  # bias on the first and the last conv (hidden convs never have one); ANI717's critic: True
        weight_init: str = "dcgan",  # dcgan: N(0, 0.02) convs and N(1, 0.02) norm scales | pytorch: defaults
    ) -> None:
        super().__init__()
        self.resolution = as_hw(resolution)
        height, width_px = self.resolution
        k = num_doublings(height, width_px)
        h, w = height // 2, width_px // 2
        channels = width
        layers: list[nn.Module] = [
            nn.Conv2d(3, channels, 4, 2, 1, bias=bias),  # (N, 3, H, W) -> (N, width, H/2, W/2); no norm on the input layer
            nn.LeakyReLU(negative_slope, inplace=True),
        ]
        for _ in range(k - 1):
            h, w = h // 2, w // 2
            layers += [
                nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=False),  # (N, C, h, w) -> (N, 2C, h/2, w/2)
                norm_2d(norm, channels * 2, (h, w)),  # (N, 2C, h/2, w/2)
                nn.LeakyReLU(negative_slope, inplace=True),
            ]
            channels *= 2
        layers.append(nn.Conv2d(channels, 1, (h, w), 1, 0, bias=bias))  # (N, C_k, h_k, w_k) -> (N, 1, 1, 1)
        self.net = nn.Sequential(*layers)
        init_weights_(self, weight_init)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()  # (N, 3, H, W) -> (N,)

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The activations after each LeakyReLU (N, C_l, H_l, W_l), for feature matching."""
        return activations(self.net, images)
