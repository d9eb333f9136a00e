"""DCGAN (Radford et al. 2016), generic in resolution and normalisation.

With ``norm="batch"`` these are the networks of seed 001 and of the PyTorch
example; the same discriminator without BatchNorm is the WGAN-GP critic
(``norm="instance"`` as in the BaMSGAN baselines' code, or ``"none"``), and with
BatchNorm and weight clipping it is the WGAN critic of seed 000. The
discriminator returns logits: the sigmoid lives in the loss.
"""

from __future__ import annotations

import torch
from torch import nn

from anime_gan.models.layers import as_hw, init_dcgan_, norm_2d, num_doublings


class DCGANGenerator(nn.Module):
    def __init__(
        self,
        resolution: int | tuple[int, int] = 64,  # output side length, or (height, width)
        width: int = 64,  # channels of the last hidden layer; doubled per layer towards the base
        latent_dim: int = 100,  # length of z
        norm: str = "batch",  # batch | instance | layer | none, after every hidden transposed conv
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        height, width_px = as_hw(resolution)
        k = num_doublings(height, width_px)
        base = (height >> k, width_px >> k)
        channels = width * 2 ** (k - 1)
        bias = norm == "none"
        layers: list[nn.Module] = [
            # (N, latent, 1, 1) -> (N, width*2^(k-1), base_h, base_w)
            nn.ConvTranspose2d(latent_dim, channels, base, 1, 0, bias=bias),
            norm_2d(norm, channels),
            nn.ReLU(inplace=True),
        ]
        for _ in range(k - 1):
            # (N, C, h, w) -> (N, C/2, 2h, 2w)
            layers += [nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=bias), norm_2d(norm, channels // 2),
                       nn.ReLU(inplace=True)]
            channels //= 2
        # (N, width, H/2, W/2) -> (N, 3, H, W) in [-1, 1]
        layers += [nn.ConvTranspose2d(channels, 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_dcgan_(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])  # (N, latent) -> (N, 3, H, W)


class DCGANDiscriminator(nn.Module):
    def __init__(
        self,
        resolution: int | tuple[int, int] = 64,  # input side length, or (height, width)
        width: int = 64,  # channels of the first conv; doubled per layer
        norm: str = "batch",  # batch | instance | layer | none, on every conv but the first and the last
        negative_slope: float = 0.2,  # LeakyReLU slope
    ) -> None:
        super().__init__()
        height, width_px = as_hw(resolution)
        k = num_doublings(height, width_px)
        base = (height >> k, width_px >> k)
        bias = norm == "none"
        channels = width
        layers: list[nn.Module] = [
            # (N, 3, H, W) -> (N, width, H/2, W/2); no norm on the input layer (DCGAN)
            nn.Conv2d(3, channels, 4, 2, 1, bias=bias),
            nn.LeakyReLU(negative_slope, inplace=True),
        ]
        for _ in range(k - 1):
            # (N, C, h, w) -> (N, 2C, h/2, w/2)
            layers += [nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=bias), norm_2d(norm, channels * 2),
                       nn.LeakyReLU(negative_slope, inplace=True)]
            channels *= 2
        # (N, width*2^(k-1), base_h, base_w) -> (N, 1, 1, 1): one logit per image
        layers.append(nn.Conv2d(channels, 1, base, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)
        init_dcgan_(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()  # (N, 3, H, W) -> (N,)
