"""StyleGAN (Karras et al. 2019), the style-based generator of seed 001, with progressive growing.

Generator:

    z (N, latent_dim) -> pixel norm -> mapping: ``mapping_layers`` equalised FC layers (LeakyReLU 0.2,
    learning rate x 0.01) -> w (N, w_dim), one copy per synthesis layer -> ws (N, L, w_dim)

    synthesis: a learned constant 4x4 map, then per resolution 4, 8, ..., R two styled layers; a styled
    layer is [nearest 2x upsample, conv 3x3, blur] or [conv 3x3], then per-pixel noise with learned
    per-channel strengths, bias, LeakyReLU(0.2) and AdaIN with its own learned affine w -> (y_s, y_b).
    A 1x1 toRGB per resolution turns features into an image (linear output, no tanh, as the original).

Discriminator: ProGAN's, mirroring it: fromRGB per resolution, per resolution [conv 3x3, blur, conv 3x3,
2x average pool], and at 4x4 a minibatch standard deviation channel, conv 3x3, FC, FC -> one logit.

Every weight has an equalised learning rate: it is stored as N(0, 1/lr_mul) and multiplied at run time by
He's constant gain / sqrt(fan_in) (and by lr_mul), so that Adam's per-parameter step sizes are the same for
every layer; the mapping's lr_mul of 0.01 slows the mapping down against the synthesis.

Channels: ``width`` at the final resolution R, doubled per halving towards 4x4, at most ``max_channels``.
At 64x64 with width 64: 512@4, 512@8, 256@16, 128@32, 64@64.

Progressive growing (``anime_gan.training.growth``): both networks hold a stage (0 = 4x4, k = 4 * 2^k px) and a fade
alpha, set with ``set_growth``; a new network starts at the final stage with alpha 1. While fading, G returns
lerp(upsample2x(toRGB_{k-1}(x_{k-1})), toRGB_k(x_k), alpha) and D blends fromRGB of the 2x-downsampled input
into the output of its newest block the same way. The stage is saved with the weights (``_extra_state``).

Training-mode forwards of G also do style-mixing regularisation (a second z, one random crossover layer
for the batch) and track the mean w for the truncation trick. All randomness (noise inputs, mixing) comes
from torch's default generator of the device, whose state the training loop checkpoints.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from anime_gan.errors import ConfigError
from anime_gan.models.layers import Resolution, check_final_resolution, fade, stage_of

NEGATIVE_SLOPE = 0.2  # LeakyReLU everywhere
LRELU_GAIN = math.sqrt(2.0)  # He's gain for ReLU-like activations
NOISE_MODES = ("random", "const", "none")


# ---------------------------------------------------------------- equalised learning rate


class EqualizedLinear(nn.Module):
    """y = x W'^T + b', with W' = W * gain / sqrt(in_features) * lr_mul and b' = b * lr_mul (stored W ~ N(0, 1/lr_mul))."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        gain: float = LRELU_GAIN,  # He's gain: sqrt(2) before a LeakyReLU, 1 for linear outputs
        lr_mul: float = 1.0,  # learning-rate multiplier (0.01 for StyleGAN's mapping)
        bias_init: float | torch.Tensor = 0.0,  # runtime bias at initialisation
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.zeros(out_features) + torch.as_tensor(bias_init, dtype=torch.float32) / lr_mul)
        self.weight_scale = gain / math.sqrt(in_features) * lr_mul  # He's constant times the lr multiplier
        self.lr_mul = lr_mul

    def runtime_weight(self) -> torch.Tensor:
        return self.weight * self.weight_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.runtime_weight(), self.bias * self.lr_mul)  # (N, in) -> (N, out)


class EqualizedConv2d(nn.Module):
    """A same-padded conv whose runtime weight is W * gain / sqrt(in_channels * k * k); bias optional."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        gain: float = LRELU_GAIN,  # He's gain: sqrt(2) before a LeakyReLU, 1 for toRGB
        bias: bool = True,  # styled layers add their bias after the noise instead
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)  # He's constant
        self.padding = kernel_size // 2

    def runtime_weight(self) -> torch.Tensor:
        return self.weight * self.weight_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.runtime_weight(), self.bias, padding=self.padding)  # (N, in, H, W) -> (N, out, H, W)


class Blur(nn.Module):
    """Depthwise [1, 2, 1] x [1, 2, 1] / 16 low-pass filter (StyleGAN's bilinear up/downsampling)."""

    def __init__(self) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("kernel", (taps[:, None] * taps[None, :] / 16.0)[None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        kernel = self.kernel.to(x.dtype).expand(channels, 1, 3, 3)
        return F.conv2d(x, kernel, padding=1, groups=channels)  # (N, C, H, W) -> (N, C, H, W)


# ---------------------------------------------------------------- style pieces


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Each vector to unit root-mean-square over dim 1 (ProGAN's pixelwise feature normalisation)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def adain(x: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """AdaIN(x, y) = y_s * (x - mean(x)) / std(x) + y_b, per sample and channel over (H, W).

    x (N, C, H, W); scale and bias (N, C). std is the population standard deviation (instance norm).
    """
    centred = x - x.mean(dim=(2, 3), keepdim=True)
    normalised = centred * torch.rsqrt(centred.pow(2).mean(dim=(2, 3), keepdim=True) + eps)
    return scale[:, :, None, None] * normalised + bias[:, :, None, None]


class MappingNetwork(nn.Module):
    """z (N, latent_dim) -> w (N, w_dim): pixel norm, then ``layers`` equalised FC layers with LeakyReLU 0.2."""

    def __init__(
        self,
        latent_dim: int,  # length of z
        w_dim: int,  # length of w, also the hidden width
        layers: int,  # FC layers
        lr_mul: float,  # learning-rate multiplier of every layer
    ) -> None:
        super().__init__()
        sizes = [latent_dim] + [w_dim] * layers
        self.layers = nn.ModuleList(
            EqualizedLinear(a, b, lr_mul=lr_mul) for a, b in zip(sizes[:-1], sizes[1:])  # (N, a) -> (N, b)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(z)  # (N, latent_dim)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), NEGATIVE_SLOPE)  # (N, w_dim)
        return x


class StyledLayer(nn.Module):
    """[upsample, conv, blur] or [conv] or nothing, then noise, bias, LeakyReLU and AdaIN with the style A(w)."""

    def __init__(
        self,
        in_channels: int,  # channels of the input map
        channels: int,  # channels of the output map
        size: int,  # side of the output map
        w_dim: int,  # length of w
        conv: bool = True,  # False for the first layer, which styles the learned constant directly
        upsample: bool = False,  # nearest 2x upsampling before the conv
        blur: bool = True,  # [1, 2, 1] low-pass after an upsampling conv
    ) -> None:
        super().__init__()
        self.upsample = upsample
        self.conv = EqualizedConv2d(in_channels, channels, 3, bias=False) if conv else None  # (N, in, H, W) -> (N, C, H, W)
        self.blur = Blur() if blur and upsample else None  # (N, C, H, W)
        self.noise_strength = nn.Parameter(torch.zeros(channels))  # per-channel scale of the per-pixel noise
        self.bias = nn.Parameter(torch.zeros(channels))
        # Affine w -> (y_s, y_b), starting at y_s = 1, y_b = 0 (identity style). (N, w_dim) -> (N, 2C)
        self.style = EqualizedLinear(w_dim, 2 * channels, gain=1.0,
                                     bias_init=torch.cat([torch.ones(channels), torch.zeros(channels)]))
        self.register_buffer("noise_const", torch.randn(1, 1, size, size))  # fixed noise for noise="const"
        self.channels = channels
        self.size = size

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: str = "random") -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")  # (N, C_in, H/2, W/2) -> (N, C_in, H, W)
        if self.conv is not None:
            x = self.conv(x)  # (N, C_in, H, W) -> (N, C, H, W)
        if self.blur is not None:
            x = self.blur(x)  # (N, C, H, W)
        if noise == "random":
            x = x + self.noise_strength[None, :, None, None] * torch.randn(
                x.shape[0], 1, self.size, self.size, device=x.device, dtype=x.dtype)  # one noise map for all channels
        elif noise == "const":
            x = x + self.noise_strength[None, :, None, None] * self.noise_const.to(x.dtype)
        x = F.leaky_relu(x + self.bias[None, :, None, None], NEGATIVE_SLOPE)  # (N, C, H, W)
        scale, bias = self.style(w).chunk(2, dim=1)  # (N, w_dim) -> 2 x (N, C)
        return adain(x, scale, bias)  # (N, C, H, W)


# ---------------------------------------------------------------- growth state shared by G and D


class _Growing(nn.Module):
    """Holds the progressive-growing stage and fade alpha; saved in the state dict as ``_extra_state``."""

    final_stage: int

    def _init_growth(self, resolution: int) -> None:
        self.final_stage = stage_of(resolution)
        self.stage = self.final_stage
        self.alpha = 1.0

    def set_growth(self, stage: int, alpha: float) -> None:
        """Work at 4 * 2^stage px; alpha in [0, 1] fades in the newest block (1: fully in)."""
        if isinstance(stage, bool) or not isinstance(stage, int) or not 0 <= stage <= self.final_stage:
            raise ConfigError(f"growth stage {stage!r} is not in [0, {self.final_stage}] "
                              f"(4x4 ... {4 * 2 ** self.final_stage}x{4 * 2 ** self.final_stage})")
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"growth alpha {alpha!r} is outside [0, 1]")
        self.stage, self.alpha = stage, float(alpha)

    @property
    def current_resolution(self) -> int:
        return 4 * 2**self.stage

    @property
    def fading(self) -> bool:
        return self.stage > 0 and self.alpha < 1.0

    def get_extra_state(self) -> torch.Tensor:
        # A CPU tensor (stage, alpha), so that state dicts hold tensors only; read back only when loading.
        return torch.tensor([float(self.stage), self.alpha], dtype=torch.float64)

    def set_extra_state(self, state: torch.Tensor) -> None:
        stage, alpha = state.tolist()
        self.set_growth(int(stage), float(alpha))


def channels_at(size: int, resolution: int, width: int, max_channels: int) -> int:
    """``width`` at the final resolution, doubled per halving, at most ``max_channels``."""
    return min(width * (resolution // size), max_channels)


def _check_positive(**values: int) -> None:
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"stylegan {key} must be a positive integer, got {value!r}")


# ---------------------------------------------------------------- generator


class SynthesisNetwork(_Growing):
    """ws (N, num_layers, w_dim) -> images (N, 3, r, r) at the current stage's resolution r."""

    def __init__(
        self,
        resolution: int,  # final side
        width: int,  # channels at the final resolution
        max_channels: int,  # channel cap towards 4x4
        w_dim: int,  # length of w
        blur: bool,  # low-pass after each upsampling conv
    ) -> None:
        super().__init__()
        self._init_growth(resolution)
        sizes = [4 * 2**s for s in range(self.final_stage + 1)]
        channels = [channels_at(s, resolution, width, max_channels) for s in sizes]
        self.const = nn.Parameter(torch.ones(1, channels[0], 4, 4))  # the learned 4x4 input
        layers: list[StyledLayer] = [
            StyledLayer(channels[0], channels[0], 4, w_dim, conv=False),  # (N, C4, 4, 4): noise + AdaIN on the constant
            StyledLayer(channels[0], channels[0], 4, w_dim),  # (N, C4, 4, 4) -> (N, C4, 4, 4)
        ]
        for stage in range(1, len(sizes)):
            c_in, c, size = channels[stage - 1], channels[stage], sizes[stage]
            layers += [
                StyledLayer(c_in, c, size, w_dim, upsample=True, blur=blur),  # (N, C_in, s/2, s/2) -> (N, C, s, s)
                StyledLayer(c, c, size, w_dim),  # (N, C, s, s) -> (N, C, s, s)
            ]
        self.layers = nn.ModuleList(layers)
        self.to_rgb = nn.ModuleList(EqualizedConv2d(c, 3, 1, gain=1.0) for c in channels)  # (N, C_s, s, s) -> (N, 3, s, s)
        self.num_layers = len(layers)
        self.w_dim = w_dim

    @property
    def active_layers(self) -> int:
        """Styled layers used at the current stage (two per resolution)."""
        return 2 * (self.stage + 1)

    def forward(self, ws: torch.Tensor, noise: str = "random") -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1] != self.num_layers or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must have shape (N, {self.num_layers}, {self.w_dim}), got {tuple(ws.shape)}")
        if noise not in NOISE_MODES:
            raise ConfigError(f"noise {noise!r} is not one of {list(NOISE_MODES)}")
        x = self.const.expand(ws.shape[0], -1, -1, -1)  # (N, C4, 4, 4)
        previous = None
        for stage in range(self.stage + 1):
            if stage == self.stage and self.fading:
                previous = x  # features of the previous stage, for the faded output
            x = self.layers[2 * stage](x, ws[:, 2 * stage], noise)  # (N, C_s, s, s)
            x = self.layers[2 * stage + 1](x, ws[:, 2 * stage + 1], noise)  # (N, C_s, s, s)
        image = self.to_rgb[self.stage](x)  # (N, 3, r, r)
        if previous is not None:
            old = F.interpolate(self.to_rgb[self.stage - 1](previous), scale_factor=2, mode="nearest")  # (N, 3, r, r)
            # Under CUDA bf16 autocast ``old`` comes out in float32 and ``image`` in bfloat16: ``fade`` blends them in
            # one dtype, where torch.lerp would refuse the pair.
            image = fade(old, image, self.alpha)
        return image


class StyleGANGenerator(nn.Module):
    """z of shape (N, latent_dim) -> images (N, 3, r, r), r the current growth stage's side (linear RGB, ~[-1, 1])."""

    def __init__(
        self,
        resolution: Resolution = 64,  # final side: 8, 16, 32, 64, 128, ... (square)
        width: int = 64,  # channels at the final resolution; doubled per halving up to max_channels
        max_channels: int = 512,  # channel cap towards 4x4 (the original: 512)
        latent_dim: int = 512,  # length of z
        w_dim: int = 512,  # length of w (and width of the mapping network)
        mapping_layers: int = 8,  # FC layers of the mapping network
        mapping_lr_mul: float = 0.01,  # learning-rate multiplier of the mapping network
        style_mixing_prob: float = 0.9,  # share of training batches that mix the styles of two z
        w_avg_decay: float = 0.995,  # decay of the tracked mean w (for truncation)
        blur: bool = True,  # [1, 2, 1] low-pass after each upsampling conv
    ) -> None:
        super().__init__()
        resolution = check_final_resolution(resolution, "stylegan generator")
        _check_positive(width=width, max_channels=max_channels, latent_dim=latent_dim, w_dim=w_dim,
                        mapping_layers=mapping_layers)
        for key, value in (("style_mixing_prob", style_mixing_prob), ("w_avg_decay", w_avg_decay)):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"stylegan {key} {value!r} is outside [0, 1]")
        if mapping_lr_mul <= 0:
            raise ConfigError(f"stylegan mapping_lr_mul must be positive, got {mapping_lr_mul!r}")
        self.resolution = (resolution, resolution)
        self.latent_dim = latent_dim
        self.w_dim = w_dim
        self.style_mixing_prob = style_mixing_prob
        self.w_avg_decay = w_avg_decay
        self.mapping = MappingNetwork(latent_dim, w_dim, mapping_layers, mapping_lr_mul)  # (N, z) -> (N, w)
        self.synthesis = SynthesisNetwork(resolution, width, max_channels, w_dim, blur)  # (N, L, w) -> (N, 3, r, r)
        self.register_buffer("w_avg", torch.zeros(w_dim))  # running mean of w, the centre of truncation

    @property
    def num_style_layers(self) -> int:
        return self.synthesis.num_layers

    def set_growth(self, stage: int, alpha: float) -> None:
        self.synthesis.set_growth(stage, alpha)

    @property
    def current_resolution(self) -> int:
        return self.synthesis.current_resolution

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """(N, w_dim) -> (N, num_style_layers, w_dim): the same w for every layer."""
        return w[:, None, :].expand(-1, self.num_style_layers, -1)

    def truncate(self, ws: torch.Tensor, truncation_psi: float, truncation_cutoff: int | None = None) -> torch.Tensor:
        """w_avg + psi * (w - w_avg) on the w of layers below ``truncation_cutoff`` (None: every layer); the
        later layers keep their w. psi 1 keeps w, psi 0 gives the mean w. NVlabs' StyleGAN truncates the first 8
        of its 18 layers at 1024 px (the coarse styles: pose, face shape) and leaves colours and texture alone."""
        check_psi(truncation_psi)
        check_cutoff(truncation_cutoff, self.num_style_layers)
        if truncation_psi == 1.0:
            return ws
        truncated = self.w_avg + truncation_psi * (ws - self.w_avg)  # (N, L, w_dim)
        if truncation_cutoff is None:
            return truncated
        below = torch.arange(ws.shape[1], device=ws.device) < truncation_cutoff  # (L,)
        return torch.where(below[None, :, None], truncated, ws)

    def _mixed_styles(self, z: torch.Tensor, ws: torch.Tensor) -> torch.Tensor:
        """Style mixing: with probability p the layers from a random crossover in [1, active layers) take the w of
        a second z. Drawn on the device without reading anything back (no host sync)."""
        layers = self.num_style_layers
        active = self.synthesis.active_layers
        second = self.broadcast(self.mapping(torch.randn_like(z)))  # (N, L, w_dim)
        crossover = torch.randint(1, active, (), device=z.device)
        mix = torch.rand((), device=z.device) < self.style_mixing_prob
        crossover = torch.where(mix, crossover, torch.full_like(crossover, layers))
        from_second = torch.arange(layers, device=z.device) >= crossover  # (L,)
        return torch.where(from_second[None, :, None], second, ws)

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, noise: str = "random",
                truncation_cutoff: int | None = None) -> torch.Tensor:
        check_psi(truncation_psi)
        check_cutoff(truncation_cutoff, self.num_style_layers)
        w = self.mapping(z)  # (N, latent_dim) -> (N, w_dim)
        if self.training:
            with torch.no_grad():
                self.w_avg.lerp_(w.detach().float().mean(0).to(self.w_avg.dtype), 1.0 - self.w_avg_decay)
        ws = self.broadcast(w)  # (N, L, w_dim)
        if self.training and self.style_mixing_prob > 0 and self.synthesis.active_layers > 1:
            ws = self._mixed_styles(z, ws)
        ws = self.truncate(ws, truncation_psi, truncation_cutoff)
        return self.synthesis(ws, noise)  # (N, 3, r, r)


def check_psi(truncation_psi: float) -> None:
    if isinstance(truncation_psi, bool) or not isinstance(truncation_psi, (int, float)) \
            or not 0.0 <= truncation_psi <= 1.0:
        raise ConfigError(f"truncation psi {truncation_psi!r} is outside [0, 1] "
                          "(1: no truncation, 0: every sample is the mean-w image)")


def check_cutoff(truncation_cutoff: int | None, num_layers: int) -> None:
    if truncation_cutoff is None:
        return
    if isinstance(truncation_cutoff, bool) or not isinstance(truncation_cutoff, int) \
            or not 1 <= truncation_cutoff <= num_layers:
        raise ConfigError(f"truncation cutoff {truncation_cutoff!r} is not a layer count in [1, {num_layers}] "
                          f"(this generator has {num_layers} style layers; None truncates them all)")


def mix_styles(w_coarse: torch.Tensor, w_fine: torch.Tensor, crossover_layer: int, num_layers: int) -> torch.Tensor:
    """Per-layer styles: layers < crossover_layer take ``w_coarse``, the others ``w_fine``; (N, w) x 2 -> (N, L, w)."""
    if not 0 <= crossover_layer <= num_layers:
        raise ConfigError(f"crossover layer {crossover_layer!r} is not in [0, {num_layers}]")
    from_fine = torch.arange(num_layers, device=w_coarse.device) >= crossover_layer
    return torch.where(from_fine[None, :, None], w_fine[:, None, :], w_coarse[:, None, :])


# ---------------------------------------------------------------- figures


class _EvalNoGrad:
    """Eval mode and no gradients inside; the previous mode is restored on exit."""

    def __init__(self, module: nn.Module) -> None:
        self.module, self.grad = module, torch.no_grad()

    def __enter__(self) -> None:
        self.was_training = self.module.training
        self.module.eval()
        self.grad.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.grad.__exit__(*exc)
        self.module.train(self.was_training)


def style_mixing_images(generator: StyleGANGenerator, z_rows: torch.Tensor, z_cols: torch.Tensor,
                        crossover_layer: int, truncation_psi: float = 1.0) -> torch.Tensor:
    """Seed 001's figure 8 (right) as images in [-1, 1], shape ((R + 1) * (C + 1), 3, H, W), row-major.

    Row 0 is a blank (white) corner followed by the C column sources; each later row i starts with row source
    i, followed by its mixes: cell (i, j) takes the *coarse* styles (layers < crossover_layer: pose, face
    shape) from row source i and the *fine* ones (layers >= crossover_layer: colours, texture) from column
    source j. Save with ``torchvision.utils.save_image(images, path, nrow=C + 1, normalize=True,
    value_range=(-1, 1))``. The noise inputs are fixed (``noise="const"``) so only the styles differ.
    """
    check_psi(truncation_psi)
    layers = generator.num_style_layers
    with _EvalNoGrad(generator):
        w_rows = generator.mapping(z_rows)  # (R, w_dim)
        w_cols = generator.mapping(z_cols)  # (C, w_dim)
        rows, cols = len(w_rows), len(w_cols)
        sources_rows = generator.synthesis(generator.truncate(generator.broadcast(w_rows), truncation_psi), "const")
        sources_cols = generator.synthesis(generator.truncate(generator.broadcast(w_cols), truncation_psi), "const")
        coarse = w_rows.repeat_interleave(cols, dim=0)  # (R * C, w_dim): row source of each cell
        fine = w_cols.repeat(rows, 1)  # (R * C, w_dim): column source of each cell
        mixed = generator.synthesis(generator.truncate(mix_styles(coarse, fine, crossover_layer, layers),
                                                       truncation_psi), "const")  # (R * C, 3, H, W)
        blank = torch.ones_like(sources_cols[:1])  # white corner
        grid = [torch.cat([blank, sources_cols])]
        for i in range(rows):
            grid.append(torch.cat([sources_rows[i : i + 1], mixed[i * cols : (i + 1) * cols]]))
        return torch.cat(grid).float()


def truncation_strip(generator: StyleGANGenerator, z: torch.Tensor, psis: Sequence[float]) -> torch.Tensor:
    """Images in [-1, 1], shape (len(z) * len(psis), 3, H, W): one row per z, one column per psi (in the given
    order; psi 0 is the mean-w image in every row). Save with ``nrow=len(psis)``. Noise inputs are fixed."""
    for psi in psis:
        check_psi(psi)
    with _EvalNoGrad(generator):
        ws = generator.broadcast(generator.mapping(z))  # (N, L, w_dim)
        columns = [generator.synthesis(generator.truncate(ws, psi), "const") for psi in psis]  # len(psis) x (N, 3, H, W)
        return torch.stack(columns, dim=1).flatten(0, 1).float()  # row per z


# ---------------------------------------------------------------- discriminator


def minibatch_stddev(x: torch.Tensor, group_size: int = 4, eps: float = 1e-8) -> torch.Tensor:
    """Append one channel: the standard deviation of each feature over a group of samples, averaged over
    (C, H, W) (ProGAN). Groups are strided (sample i is in group i mod N/G); G is the largest divisor of N up to
    ``group_size``, so any batch size works. (N, C, H, W) -> (N, C + 1, H, W)."""
    n, c, h, w = x.shape
    group = max(d for d in range(1, min(group_size, n) + 1) if n % d == 0)
    y = x.float().reshape(group, -1, c, h, w)  # (G, M, C, H, W)
    y = y - y.mean(dim=0, keepdim=True)
    std = (y.pow(2).mean(dim=0) + eps).sqrt()  # (M, C, H, W)
    std = std.mean(dim=(1, 2, 3)).to(x.dtype)  # (M,)
    feature = std.repeat(group)[:, None, None, None].expand(n, 1, h, w)  # (N, 1, H, W)
    return torch.cat([x, feature], dim=1)


class DiscriminatorBlock(nn.Module):
    """(N, C, s, s) -> (N, C_next, s/2, s/2): conv 3x3, LeakyReLU, blur, conv 3x3, 2x average pool, LeakyReLU."""

    def __init__(
        self,
        channels: int,  # channels at this resolution
        out_channels: int,  # channels at half this resolution
        blur: bool,  # low-pass before the downsampling conv
    ) -> None:
        super().__init__()
        self.conv0 = EqualizedConv2d(channels, channels, 3)  # (N, C, s, s) -> (N, C, s, s)
        self.blur = Blur() if blur else nn.Identity()  # (N, C, s, s)
        self.conv1 = EqualizedConv2d(channels, out_channels, 3, bias=False)  # (N, C, s, s) -> (N, C_next, s, s)
        self.bias1 = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv0(x), NEGATIVE_SLOPE)  # (N, C, s, s)
        x = F.avg_pool2d(self.conv1(self.blur(x)), 2)  # (N, C_next, s/2, s/2)
        return F.leaky_relu(x + self.bias1[None, :, None, None], NEGATIVE_SLOPE)


class StyleGANDiscriminator(_Growing):
    """Images (N, 3, r, r) at the current growth stage's side r -> logits (N,)."""

    def __init__(
        self,
        resolution: Resolution = 64,  # final side: 8, 16, 32, 64, 128, ... (square)
        width: int = 64,  # channels at the final resolution; doubled per halving up to max_channels
        max_channels: int = 512,  # channel cap towards 4x4
        mbstd_group_size: int = 4,  # samples per minibatch-standard-deviation group (1: layer off)
        blur: bool = True,  # [1, 2, 1] low-pass before each downsampling conv
    ) -> None:
        super().__init__()
        resolution = check_final_resolution(resolution, "stylegan discriminator")
        _check_positive(width=width, max_channels=max_channels, mbstd_group_size=mbstd_group_size)
        self._init_growth(resolution)
        self.resolution = (resolution, resolution)
        self.mbstd_group_size = mbstd_group_size
        sizes = [4 * 2**s for s in range(self.final_stage + 1)]
        channels = [channels_at(s, resolution, width, max_channels) for s in sizes]
        self.from_rgb = nn.ModuleList(EqualizedConv2d(3, c, 1) for c in channels)  # (N, 3, s, s) -> (N, C_s, s, s)
        # blocks[k] takes stage k's map down to stage k-1's; blocks[0] is unused (the 4x4 epilogue below).
        self.blocks = nn.ModuleList(
            [nn.Identity()] + [DiscriminatorBlock(channels[s], channels[s - 1], blur) for s in range(1, len(sizes))]
        )
        c4 = channels[0]
        extra = 1 if mbstd_group_size > 1 else 0
        self.final_conv = EqualizedConv2d(c4 + extra, c4, 3)  # (N, C4 + 1, 4, 4) -> (N, C4, 4, 4)
        self.final_dense = EqualizedLinear(c4 * 16, c4)  # (N, 16 C4) -> (N, C4)
        self.out = EqualizedLinear(c4, 1, gain=1.0)  # (N, C4) -> (N, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        size = self.current_resolution
        if images.shape[-2:] != (size, size):
            raise ValueError(f"the discriminator is at stage {self.stage} and takes {size}x{size} images, "
                             f"got {tuple(images.shape[-2:])}")
        x = F.leaky_relu(self.from_rgb[self.stage](images), NEGATIVE_SLOPE)  # (N, C_r, r, r)
        for stage in range(self.stage, 0, -1):
            x = self.blocks[stage](x)  # (N, C_s, s, s) -> (N, C_{s-1}, s/2, s/2)
            if stage == self.stage and self.fading:
                old = F.leaky_relu(self.from_rgb[stage - 1](F.avg_pool2d(images, 2)), NEGATIVE_SLOPE)  # (N, C, r/2, r/2)
                # Under bf16 autocast ``old`` is bfloat16 (a conv's output) and ``x`` float32 (the block's bias add
                # promotes it): ``fade`` blends them in one dtype, where torch.lerp would refuse the pair.
                x = fade(old, x, self.alpha)
        if self.mbstd_group_size > 1:
            x = minibatch_stddev(x, self.mbstd_group_size)  # (N, C4, 4, 4) -> (N, C4 + 1, 4, 4)
        x = F.leaky_relu(self.final_conv(x), NEGATIVE_SLOPE)  # (N, C4, 4, 4)
        x = F.leaky_relu(self.final_dense(x.flatten(1)), NEGATIVE_SLOPE)  # (N, C4)
        return self.out(x).flatten()  # (N,)
