"""Image-to-image networks of seed 000's photo-to-anime translator (Sang & Xu 2022) and its CycleGAN baseline.

All three are fully convolutional and take a ``width`` (the base channel count, 64 in both papers) so budget
profiles can shrink them:

- ``FPNResNetGenerator`` (``fpn_resnet18``), the paper's generator (its section 4.2, Figure 1): a ResNet-18-style
  encoder down to 1/16 of the image, whose residual blocks concatenate their output with the layer's input and
  fuse the two with a 3x3 conv, and an FPN-like decoder that adds the outputs of reslayer-3, -2 and -1 back on the
  way up, then two 1x1 convs and a 7x7 conv with tanh.
- ``CycleGANResNetGenerator`` (``cyclegan_resnet``), the baseline: Zhu et al. 2017's generator, c7s1-64, d128,
  d256, n residual blocks R256, u128, u64, c7s1-3, with reflection padding and InstanceNorm.
- ``PatchGANDiscriminator`` (``patchgan``), the 70x70 PatchGAN of pix2pix / CycleGAN (the discriminator of both
  models): C64-C128-C256-C512 then a 1-channel conv, one logit per overlapping 70x70 patch.

Parameters at width 64: fpn_resnet18 22,008,835; cyclegan_resnet 11,378,179 (9 blocks, the published count) and
7,837,699 (6 blocks); patchgan 2,764,737 (the published count).

The two CycleGAN networks keep that code's conventions, which the published counts include: every conv has a
bias, and InstanceNorm has no affine parameters (so a bias right before a norm is inert: the norm subtracts it).
The paper's generator instead has no bias in front of a norm and gives its norms an affine scale and shift.
"""

from __future__ import annotations

import torch
from torch import nn

from anime_gan.errors import ConfigError, DataError
from anime_gan.models.layers import Resolution, as_hw, init_weights_

FPN_STRIDE = 16  # the encoder halves the image four times
FPN_MIN_SIDE = 32  # the 1/16 map must hold more than one pixel, or InstanceNorm has nothing to normalise
CYCLEGAN_STRIDE = 4  # two stride-2 convs down, two fractionally strided convs back up
CYCLEGAN_MIN_SIDE = 8  # the 1/4 map must be at least 2x2 for InstanceNorm and the reflection padding


def _check_sides(height: int, width: int, multiple: int, minimum: int, network: str, error: type[Exception]) -> None:
    if height % multiple or width % multiple or min(height, width) < minimum:
        raise error(f"{network} needs image sides that are multiples of {multiple} and at least {minimum} px "
                    f"(it halves them {multiple.bit_length() - 1} times and restores them exactly); got "
                    f"{height}x{width}. Use e.g. 64, 96 or 128x160.")


def _check_images(images: torch.Tensor, multiple: int, minimum: int, network: str) -> None:
    if images.dim() != 4 or images.shape[1] != 3:
        raise DataError(f"{network} takes RGB images of shape (N, 3, H, W), got {tuple(images.shape)}")
    _check_sides(images.shape[2], images.shape[3], multiple, minimum, network, DataError)


def _check_width(width: int, network: str) -> None:
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ConfigError(f"{network}.width must be a positive integer (base channel count, 64 in the papers), "
                          f"got {width!r}")


# ---------------------------------------------------------------- the paper's generator


class FusionBlock(nn.Module):
    """Seed 000's residual block: Conv3x3-IN-ReLU-Conv3x3-IN, whose output is concatenated with the residual
    layer's input and fused by a conv (the paper's "same short-circuit structure as ResNet's Bottleneck")."""

    def __init__(
        self,
        in_channels: int,  # channels of the block's input
        out_channels: int,  # channels of the block's output
        skip_channels: int,  # channels of the residual layer's input, concatenated before the fusion conv
        stride: int,  # 2 in a layer's first block (the layer's halving), else 1
    ) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            # The layer's halving sits in its first conv, as in ResNet-18, so the blocks run at the output size.
            nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False, padding_mode="reflect"),  # (N, Cin, h, w) -> (N, C, h/s, w/s)
            nn.InstanceNorm2d(out_channels, affine=True),  # (N, C, h/s, w/s)
            nn.ReLU(inplace=True),  # (N, C, h/s, w/s)
            nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False, padding_mode="reflect"),  # (N, C, h/s, w/s)
            nn.InstanceNorm2d(out_channels, affine=True),  # (N, C, h/s, w/s)
        )
        self.fuse = nn.Sequential(
            # 3x3, padding 1: "in the downsampling part, each convolution layer uses a 3x3 convolution kernel"
            # (section 4.2), and this conv is part of it. No norm after it (the paper names none, and one would
            # cancel the shift of the branch's last norm).
            nn.Conv2d(out_channels + skip_channels, out_channels, 3, 1, 1, padding_mode="reflect"),  # (N, C + Cskip, h', w') -> (N, C, h', w')
            nn.ReLU(inplace=True),  # (N, C, h', w'): where ResNet applies ReLU after its shortcut addition
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([self.branch(x), skip], dim=1))  # (N, Cin, h, w) -> (N, C, h/s, w/s)


class ResidualLayer(nn.Module):
    """Two FusionBlocks that halve H and W; both concatenate the layer's input (on the halved grid)."""

    def __init__(
        self,
        in_channels: int,  # channels of the layer's input
        out_channels: int,  # channels of the layer's output
    ) -> None:
        super().__init__()
        # The paper reuses the layer's input in both blocks; average pooling brings it to the halved grid without
        # parameters and without discarding three pixels in four as a strided 1x1 projection would.
        self.pool = nn.AvgPool2d(2)  # (N, Cin, h, w) -> (N, Cin, h/2, w/2)
        self.blocks = nn.ModuleList([
            FusionBlock(in_channels, out_channels, in_channels, stride=2),  # (N, Cin, h, w) -> (N, C, h/2, w/2)
            FusionBlock(out_channels, out_channels, in_channels, stride=1),  # (N, C, h/2, w/2) -> (N, C, h/2, w/2)
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.pool(x)  # (N, Cin, h/2, w/2)
        for block in self.blocks:
            x = block(x, skip)
        return x  # (N, C, h/2, w/2)


class TopDownStep(nn.Module):
    """One step of the FPN-like decoder: conv, upsample x2, add the encoder's map of that size, normalise the sum."""

    def __init__(
        self,
        in_channels: int,  # channels of the coarser map
        out_channels: int,  # channels of the encoder map it is added to
    ) -> None:
        super().__init__()
        # The paper names this conv ("the feature map output by reslayer-4 is convolved, then upsampled") but gives
        # its kernel only as part of the upsampling part, whose "first two" convs it calls 1x1; this model reads
        # those as the head's two 1x1 convs and takes 3x3 here. It runs before the upsampling, so it cannot smooth
        # the nearest upsampling's blocks (FPN's 3x3 sits after the merge for that); it halves the channels to the
        # encoder map's, so the sum needs no lateral 1x1 conv.
        self.conv = nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False, padding_mode="reflect")  # (N, Cin, h, w) -> (N, C, h, w)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")  # (N, C, h, w) -> (N, C, 2h, 2w), as FPN
        # The norm comes after the addition (the paper does not place it): normalising the coarse branch alone gives
        # it unit scale against encoder maps of std ~0.05-0.1 at initialisation, so the 1/16 map drowned the detail
        # and the generator produced blocks; normalising the sum lets both sides through.
        self.norm = nn.InstanceNorm2d(out_channels, affine=True)  # (N, C, 2h, 2w)
        self.activation = nn.ReLU(inplace=True)  # (N, C, 2h, 2w)

    def forward(self, x: torch.Tensor, lateral: torch.Tensor) -> torch.Tensor:
        merged = self.upsample(self.conv(x)) + lateral  # (N, Cin, h, w) + (N, C, 2h, 2w) -> (N, C, 2h, 2w)
        return self.activation(self.norm(merged))


class FPNResNetGenerator(nn.Module):
    """Seed 000's generator: images (N, 3, H, W) -> images (N, 3, H, W) in [-1, 1]; H and W multiples of 16.

    At width w the residual layers have ResNet-18's widths w, 2w, 4w, 8w; the decoder steps back through
    4w, 2w, w. Feature maps at 64x64 and w = 64: stem 64@64, reslayer-1..4 64@32, 128@16, 256@8, 512@4,
    decoder 256@8, 128@16, 64@32, output 3@64.
    """

    def __init__(
        self,
        resolution: Resolution = 96,  # image size: a side length or (height, width), both multiples of 16
        width: int = 64,  # base channel count: the stem's and reslayer-1's (ResNet-18: 64)
        weight_init: str = "dcgan",  # dcgan: N(0, 0.02) convs and N(1, 0.02) norm scales (as CycleGAN) | pytorch
    ) -> None:
        super().__init__()
        _check_width(width, "fpn_resnet18")
        self.resolution = as_hw(resolution)
        _check_sides(*self.resolution, FPN_STRIDE, FPN_MIN_SIDE, "fpn_resnet18", ConfigError)
        widths = [width, 2 * width, 4 * width, 8 * width]  # reslayer-1..4, ResNet-18's 64-128-256-512
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 7, 1, 3, bias=False, padding_mode="reflect"),  # (N, 3, H, W) -> (N, w, H, W)
            nn.InstanceNorm2d(width, affine=True),  # (N, w, H, W)
            nn.ReLU(inplace=True),  # (N, w, H, W)
            # Stride 1 (unlike ResNet-18's stride-2 conv and pool): the paper halves after each of the four
            # residual layers and ends at 1/16, so the stem must keep the full size; the pool stays as a 3x3 max.
            nn.MaxPool2d(3, 1, 1),  # (N, w, H, W) -> (N, w, H, W)
        )
        self.layers = nn.ModuleList([
            ResidualLayer(width, widths[0]),  # reslayer-1: (N, w, H, W) -> (N, w, H/2, W/2)
            ResidualLayer(widths[0], widths[1]),  # reslayer-2: -> (N, 2w, H/4, W/4)
            ResidualLayer(widths[1], widths[2]),  # reslayer-3: -> (N, 4w, H/8, W/8)
            ResidualLayer(widths[2], widths[3]),  # reslayer-4: -> (N, 8w, H/16, W/16)
        ])
        self.top_down = nn.ModuleList([
            TopDownStep(widths[3], widths[2]),  # (N, 8w, H/16, W/16) -> (N, 4w, H/8, W/8), + reslayer-3
            TopDownStep(widths[2], widths[1]),  # -> (N, 2w, H/4, W/4), + reslayer-2
            TopDownStep(widths[1], widths[0]),  # -> (N, w, H/2, W/2), + reslayer-1
        ])
        self.head = nn.Sequential(
            nn.Conv2d(width, width, 1, bias=False),  # (N, w, H/2, W/2): the paper's first 1x1 conv
            nn.InstanceNorm2d(width, affine=True),  # (N, w, H/2, W/2)
            nn.ReLU(inplace=True),  # (N, w, H/2, W/2)
            nn.Conv2d(width, width, 1, bias=False),  # (N, w, H/2, W/2): the second 1x1 conv
            nn.InstanceNorm2d(width, affine=True),  # (N, w, H/2, W/2)
            nn.ReLU(inplace=True),  # (N, w, H/2, W/2)
            # The last halving is undone before the 7x7 conv, so that conv works at full size and smooths it.
            nn.Upsample(scale_factor=2, mode="nearest"),  # (N, w, H/2, W/2) -> (N, w, H, W)
            nn.Conv2d(width, 3, 7, 1, 3, padding_mode="reflect"),  # (N, w, H, W) -> (N, 3, H, W)
            nn.Tanh(),  # (N, 3, H, W) into [-1, 1], the range of the images
        )
        init_weights_(self, weight_init)

    def encode(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The outputs of reslayer-1..4: (N, w, H/2, W/2), (N, 2w, H/4, W/4), (N, 4w, H/8, W/8), (N, 8w, H/16, W/16)."""
        _check_images(images, FPN_STRIDE, FPN_MIN_SIDE, "fpn_resnet18")
        x = self.stem(images)  # (N, w, H, W)
        maps = []
        for layer in self.layers:
            x = layer(x)
            maps.append(x)
        return maps

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        maps = self.encode(images)
        x = maps[-1]  # (N, 8w, H/16, W/16)
        for step, lateral in zip(self.top_down, reversed(maps[:-1])):
            x = step(x, lateral)  # reslayer-3, then -2, then -1 added
        return self.head(x)  # (N, w, H/2, W/2) -> (N, 3, H, W)


# ---------------------------------------------------------------- CycleGAN's generator


class ResidualBlock(nn.Module):
    """CycleGAN's R_k: x + (ReflectionPad-Conv3x3-IN-ReLU-ReflectionPad-Conv3x3-IN)(x)."""

    def __init__(
        self,
        channels: int,  # k: channels in and out
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),  # (N, C, h, w) -> (N, C, h+2, w+2)
            nn.Conv2d(channels, channels, 3),  # -> (N, C, h, w)
            nn.InstanceNorm2d(channels),  # (N, C, h, w)
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),  # (N, C, h, w) -> (N, C, h+2, w+2)
            nn.Conv2d(channels, channels, 3),  # -> (N, C, h, w)
            nn.InstanceNorm2d(channels),  # (N, C, h, w)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)  # (N, C, h, w)


class CycleGANResNetGenerator(nn.Module):
    """Zhu et al. 2017's generator: images (N, 3, H, W) -> images (N, 3, H, W) in [-1, 1]; H and W multiples of 4.

    c7s1-w, d2w, d4w, n x R4w, u2w, uw, c7s1-3 (their appendix, w = 64): c7s1-k is a 7x7 Conv-IN-ReLU with k
    filters, dk a 3x3 stride-2 Conv-IN-ReLU, Rk a residual block of two 3x3 convs, uk a 3x3 stride-1/2
    fractionally strided Conv-IN-ReLU; the last c7s1-3 ends in tanh instead. They use 6 blocks for 128x128
    training images and 9 for 256x256 and larger.
    """

    def __init__(
        self,
        resolution: Resolution = 128,  # image size: a side length or (height, width), both multiples of 4
        width: int = 64,  # base channel count: the first conv's (CycleGAN: 64)
        n_blocks: int = 9,  # residual blocks at 1/4 size: 6 (CycleGAN at 128x128) or 9 (256x256)
        weight_init: str = "dcgan",  # dcgan: N(0, 0.02) convs (CycleGAN's "normal" init) | pytorch: defaults
    ) -> None:
        super().__init__()
        _check_width(width, "cyclegan_resnet")
        if isinstance(n_blocks, bool) or not isinstance(n_blocks, int) or n_blocks < 1:
            raise ConfigError(f"cyclegan_resnet.n_blocks must be a positive integer (CycleGAN: 6 or 9), got {n_blocks!r}")
        self.resolution = as_hw(resolution)
        _check_sides(*self.resolution, CYCLEGAN_STRIDE, CYCLEGAN_MIN_SIDE, "cyclegan_resnet", ConfigError)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),  # (N, 3, H, W) -> (N, 3, H+6, W+6)
            nn.Conv2d(3, width, 7),  # c7s1-w: -> (N, w, H, W)
            nn.InstanceNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, 2 * width, 3, 2, 1),  # d2w: (N, w, H, W) -> (N, 2w, H/2, W/2)
            nn.InstanceNorm2d(2 * width),
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * width, 4 * width, 3, 2, 1),  # d4w: (N, 2w, H/2, W/2) -> (N, 4w, H/4, W/4)
            nn.InstanceNorm2d(4 * width),
            nn.ReLU(inplace=True),
        ]
        layers += [ResidualBlock(4 * width) for _ in range(n_blocks)]  # R4w x n: (N, 4w, H/4, W/4)
        layers += [
            nn.ConvTranspose2d(4 * width, 2 * width, 3, 2, 1, output_padding=1),  # u2w: -> (N, 2w, H/2, W/2)
            nn.InstanceNorm2d(2 * width),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(2 * width, width, 3, 2, 1, output_padding=1),  # uw: -> (N, w, H, W)
            nn.InstanceNorm2d(width),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(3),  # (N, w, H, W) -> (N, w, H+6, W+6)
            nn.Conv2d(width, 3, 7),  # c7s1-3: -> (N, 3, H, W)
            nn.Tanh(),  # into [-1, 1], the range of the images
        ]
        self.net = nn.Sequential(*layers)
        init_weights_(self, weight_init)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images, CYCLEGAN_STRIDE, CYCLEGAN_MIN_SIDE, "cyclegan_resnet")
        return self.net(images)  # (N, 3, H, W) -> (N, 3, H, W)


# ---------------------------------------------------------------- PatchGAN


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _window_layers(network: nn.Module) -> list[nn.Module]:
    return [m for m in network.modules() if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d))]


def receptive_field(network: nn.Module) -> int:
    """The side of the input window that one output pixel of ``network`` sees, read from its layers.

    The network must be a plain chain of convs and pools (as the PatchGAN; not one with branches). Going back
    from one output pixel, each layer with kernel k, stride s and dilation d widens the window r to
    s (r - 1) + d (k - 1) + 1.
    """
    size = 1
    for layer in reversed(_window_layers(network)):
        kernel, stride = _pair(layer.kernel_size), _pair(layer.stride)
        dilation = _pair(getattr(layer, "dilation", 1))
        if kernel[0] != kernel[1] or stride[0] != stride[1] or dilation[0] != dilation[1]:
            raise ValueError(f"receptive_field handles square kernels only, got {layer}")
        size = stride[0] * (size - 1) + dilation[0] * (kernel[0] - 1) + 1
    return size


class PatchGANDiscriminator(nn.Module):
    """Images (N, 3, H, W) of any size (at least ``min_side``) -> a patch map of logits (N, 1, h, w).

    Each logit judges one overlapping window of the image (70x70 with n_layers=3). At width 64 and n_layers=3:
    C64 (no norm), C128, C256 with stride 2, C512 with stride 1, then a 1-channel conv; Ck is a 4x4
    Conv-InstanceNorm-LeakyReLU(0.2) with k filters (Isola et al. 2017). A 64x64 image gives a 6x6 map,
    96x96 10x10, 128x160 14x18, 256x256 30x30.
    """

    def __init__(
        self,
        resolution: Resolution = 96,  # image size: a side length or (height, width); any size >= min_side
        width: int = 64,  # channels of the first conv; doubled per layer up to 8 * width
        n_layers: int = 3,  # stride-2 convs; 3 gives the 70x70 PatchGAN (1: 16x16, 4: 142x142)
        negative_slope: float = 0.2,  # LeakyReLU slope
        weight_init: str = "dcgan",  # dcgan: N(0, 0.02) convs (CycleGAN's "normal" init) | pytorch: defaults
    ) -> None:
        super().__init__()
        _check_width(width, "patchgan")
        if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers < 1:
            raise ConfigError(f"patchgan.n_layers must be a positive integer (3: the 70x70 PatchGAN), got {n_layers!r}")
        self.resolution = as_hw(resolution)
        channels = width
        layers: list[nn.Module] = [
            nn.Conv2d(3, channels, 4, 2, 1),  # C64: (N, 3, H, W) -> (N, w, H/2, W/2); no norm on the image layer
            nn.LeakyReLU(negative_slope, inplace=True),
        ]
        for i in range(1, n_layers + 1):
            stride = 2 if i < n_layers else 1  # the last C block keeps the size: C512 with stride 1
            out_channels = width * min(2 ** i, 8)
            layers += [
                nn.Conv2d(channels, out_channels, 4, stride, 1),  # (N, C, h, w) -> (N, 2C, h/2, w/2), or (h-1, w-1) at stride 1
                nn.InstanceNorm2d(out_channels),  # (N, 2C, h', w')
                nn.LeakyReLU(negative_slope, inplace=True),
            ]
            channels = out_channels
        layers.append(nn.Conv2d(channels, 1, 4, 1, 1))  # (N, 8w, h, w) -> (N, 1, h-1, w-1): one logit per patch
        self.net = nn.Sequential(*layers)
        init_weights_(self, weight_init)
        self.min_side = next(n for n in range(1, 4096) if self.patch_map_size(n, n)[0] >= 1)
        if min(self.resolution) < self.min_side:
            raise ConfigError(f"patchgan with n_layers={n_layers} needs images of at least {self.min_side}x"
                              f"{self.min_side} px, got resolution {self.resolution[0]}x{self.resolution[1]}")

    def patch_map_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of the logit map for an image of ``height`` x ``width``, from the convs' geometry."""
        size = [height, width]
        for layer in _window_layers(self):
            kernel, stride, padding = _pair(layer.kernel_size), _pair(layer.stride), _pair(layer.padding)
            size = [max(0, (s + 2 * p - k) // st + 1) for s, k, st, p in zip(size, kernel, stride, padding)]
        return size[0], size[1]

    def windows(self, side: int) -> list[tuple[int, int]]:
        """Along one image axis of ``side`` px: the input window [start, end) of each logit, padding included
        (start < 0 or end > side reach into the padding). From the convs' geometry: going forward, a layer with
        kernel k, stride s and padding p moves the first window's start by -p times the input's pixel spacing and
        widens it by (k - 1) times that spacing; the spacing then grows s-fold."""
        start, size, spacing = 0, 1, 1
        for layer in _window_layers(self):
            kernel, stride, padding = _pair(layer.kernel_size)[0], _pair(layer.stride)[0], _pair(layer.padding)[0]
            start -= padding * spacing
            size += (kernel - 1) * spacing
            spacing *= stride
        count = self.patch_map_size(side, side)[0]
        return [(start + i * spacing, start + i * spacing + size) for i in range(count)]

    def sees_whole_images(self, height: int, width: int) -> bool:
        """True when every logit's window covers the whole image: the discriminator then judges images, not
        patches (the 70x70 PatchGAN on images up to 32 px)."""
        return all(start <= 0 and end >= side for side in (height, width) for start, end in self.windows(side))

    def _check(self, images: torch.Tensor) -> None:
        if images.dim() != 4 or images.shape[1] != 3:
            raise DataError(f"patchgan takes RGB images of shape (N, 3, H, W), got {tuple(images.shape)}")
        if min(images.shape[2:]) < self.min_side:
            raise DataError(f"patchgan needs images of at least {self.min_side}x{self.min_side} px, got "
                            f"{images.shape[2]}x{images.shape[3]}")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self._check(images)
        return self.net(images)  # (N, 3, H, W) -> (N, 1, h, w)

    def forward_with_features(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The patch logits (N, 1, h, w) and the output of every LeakyReLU on the way, in order: at n_layers=3
        (N, w, H/2, W/2), (N, 2w, H/4, W/4), (N, 4w, H/8, W/8), (N, 8w, H/8 - 1, W/8 - 1). Feature matching
        compares these maps; one pass gives both, so the generator's step need not run D twice."""
        self._check(images)
        maps, x = [], images
        for layer in self.net:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                maps.append(x)  # the next layer is a conv, so the in-place activation never overwrites it
        return x, maps

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The intermediate maps of :meth:`forward_with_features`, without the logits."""
        return self.forward_with_features(images)[1]
