"""EfficientNet-Lite0 for inference only: every BatchNorm folded into the conv before it.

The package ``efficientnet-lite-pytorch`` builds the network for training: a conv,
then a BatchNorm, then ReLU6, with TensorFlow's "SAME" padding done by a separate
``ZeroPad2d``. At inference a BatchNorm is an affine map per channel, so it folds
into the conv's weights and a bias:

    w' = w * gamma / sqrt(var + eps)        b' = beta - mean * gamma / sqrt(var + eps)

The folded network computes the same function (the features differ from the
package's by float32 rounding, about 1e-6 relative) with fewer passes over memory:
no BatchNorm pass, the conv's own padding where "SAME" is symmetric, ReLU6 in place,
and where it is not (the stride-2 depthwise convs), ReLU6 written straight into a
zero-bordered buffer instead of padding a copy. It takes channels_last tensors, the
layout oneDNN's depthwise and 1x1 convolutions are fastest in on CPUs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def same_padding(conv: nn.Conv2d) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) of the package's static TensorFlow "SAME" padding of ``conv``."""
    padding = getattr(conv, "static_padding", None)
    return tuple(padding.padding) if isinstance(padding, nn.ZeroPad2d) else (0, 0, 0, 0)


def fold_conv_batchnorm(conv: nn.Conv2d, batchnorm: nn.BatchNorm2d, pad_outside: bool = False) -> nn.Sequential:
    """A conv (with the package's static "SAME" padding) and the BatchNorm after it -> one conv with a bias.

    Symmetric padding becomes the conv's own; asymmetric padding (stride 2) a ZeroPad2d before it, or nothing
    with ``pad_outside``, when the caller hands the conv an input padded already.
    """
    scale = batchnorm.weight / torch.sqrt(batchnorm.running_var + batchnorm.eps)
    left, right, top, bottom = same_padding(conv)
    symmetric = left == right and top == bottom
    folded = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        padding=(top, left) if symmetric else 0,  # asymmetric "SAME" padding (stride 2) stays a ZeroPad2d
        groups=conv.groups,
        bias=True,
        device=conv.weight.device,  # where the network lives: folding on the GPU keeps it there
        dtype=conv.weight.dtype,
    )
    with torch.no_grad():
        folded.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        bias = conv.bias if conv.bias is not None else torch.zeros_like(batchnorm.running_mean)
        folded.bias.copy_(batchnorm.bias + (bias - batchnorm.running_mean) * scale)
    layers = [folded] if symmetric or pad_outside else [nn.ZeroPad2d((left, right, top, bottom)), folded]
    return nn.Sequential(*layers).eval()


class ReLU6IntoPadded(nn.Module):
    """ReLU6 written straight into the interior of a zero-bordered buffer, kept between calls.

    ``F.pad(relu6(x))`` allocates the padded tensor, fills it with zeros and copies the activation in: two
    passes over the largest maps of the network. The border of this buffer is zeroed once and never written,
    so each call costs one clamp. The buffer is reused only for the same shape, layout and inference mode.
    """

    def __init__(self, padding: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.padding = padding  # (left, right, top, bottom)
        self._buffer: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right, top, bottom = self.padding
        if torch.compiler.is_compiling() or torch.is_grad_enabled():
            return F.pad(F.hardtanh(x, 0.0, 6.0), (left, right, top, bottom))
        n, c, h, w = x.shape
        layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        buffer = self._buffer
        if (buffer is None or buffer.shape != (n, c, h + top + bottom, w + left + right) or buffer.dtype != x.dtype
                or buffer.device != x.device or not buffer.is_contiguous(memory_format=layout)
                or buffer.is_inference() != torch.is_inference_mode_enabled()):
            buffer = torch.zeros((n, c, h + top + bottom, w + left + right), dtype=x.dtype, device=x.device)
            buffer = buffer.contiguous(memory_format=layout)
            self._buffer = buffer
        torch.clamp(x, 0.0, 6.0, out=buffer[:, :, top : top + h, left : left + w])
        return buffer  # (N, C, H + top + bottom, W + left + right)


class FoldedBlock(nn.Module):
    """One MBConv block of EfficientNet-Lite (no squeeze-excitation): expand 1x1, depthwise kxk, project 1x1."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        if getattr(block, "has_se", False) or not isinstance(block._swish, nn.ReLU6):
            raise ValueError("folding supports EfficientNet-Lite blocks only (ReLU6, no squeeze-excitation)")
        args = block._block_args
        self.expand = fold_conv_batchnorm(block._expand_conv, block._bn0) if args.expand_ratio != 1 else None
        left, right, top, bottom = same_padding(block._depthwise_conv)
        # Asymmetric padding after an expansion: the expansion's ReLU6 writes into a padded buffer.
        self.relu6_padded = (ReLU6IntoPadded((left, right, top, bottom))
                             if self.expand is not None and (left != right or top != bottom) else None)
        self.depthwise = fold_conv_batchnorm(block._depthwise_conv, block._bn1, pad_outside=self.relu6_padded is not None)
        self.project = fold_conv_batchnorm(block._project_conv, block._bn2)
        self.residual = args.id_skip and args.stride == 1 and args.input_filters == args.output_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.relu6_padded is not None:
            y = self.relu6_padded(self.expand(x))  # (N, C, H, W) -> (N, eC, H + pad, W + pad)
        elif self.expand is not None:
            y = F.hardtanh_(self.expand(x), 0.0, 6.0)  # (N, C, H, W) -> (N, eC, H, W)
        y = F.hardtanh_(self.depthwise(y), 0.0, 6.0)  # (N, eC, H, W) -> (N, eC, H/s, W/s)
        y = self.project(y)  # (N, eC, H/s, W/s) -> (N, C', H/s, W/s)
        return y + x if self.residual else y


class FoldedEfficientNetLite(nn.Module):
    """Images (N, 3, 224, 224), normalised -> pooled features (N, 1280) and ImageNet logits (N, 1000)."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        if network.training or not isinstance(network._swish, nn.ReLU6):
            raise ValueError("fold an EfficientNet-Lite (ReLU6) in eval mode: folding uses the BatchNorm running statistics")
        self.stem = fold_conv_batchnorm(network._conv_stem, network._bn0)
        self.blocks = nn.Sequential(*(FoldedBlock(block) for block in network._blocks))
        self.head = fold_conv_batchnorm(network._conv_head, network._bn1)
        self.fc = network._fc
        self.eval()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.hardtanh_(self.stem(x), 0.0, 6.0)  # (N, 3, 224, 224) -> (N, 32, 112, 112)
        x = self.blocks(x)  # (N, 32, 112, 112) -> (N, 320, 7, 7)
        x = F.hardtanh_(self.head(x), 0.0, 6.0)  # (N, 320, 7, 7) -> (N, 1280, 7, 7)
        pooled = x.mean((2, 3))  # (N, 1280)
        return pooled, self.fc(pooled)  # (N, 1280), (N, 1000)
