"""Feature networks for neural style transfer: VGG-19 (Gatys et al.) when its weights are here, else EfficientNet-Lite0.

``vgg19``: torchvision's ImageNet VGG-19 (asset ``vgg19``, ``vgg19-dcbb9e9d.pth``,
found in torch hub's cache or in ``$ANIME_GAN_MIRROR``). Gatys' layers, taken
after their ReLU: style conv1_1, conv2_1, conv3_1, conv4_1, conv5_1 (the first
conv at each of VGG's five resolutions), content conv4_2. Input: [0, 1] RGB
normalised with the ImageNet mean and std, at the image's own size.

``effnet``: the EfficientNet-Lite0 that the offline metrics use (the same loaded
instance, :func:`anime_gan.metrics.features.get_extractor`), with its
preprocessing: bilinear resize to 224x224, then (x - 127) / 128 on 0..255. It
has a stem and 16 MBConv blocks at five resolutions: stem (32 channels, 1/2),
block0 (16, 1/2), block1-2 (24, 1/4), block3-4 (40, 1/8), block5-10 (80 then
112, 1/16), block11-15 (192 then 320, 1/32). The layers mirror Gatys' choice on
VGG, position for position:

- style: ``stem``, ``block1``, ``block3``, ``block5``, ``block11``, the first unit
  at each of the five resolutions, as conv1_1 ... conv5_1 are on VGG. Their
  Gram matrices span fine colour/edge statistics (1/2) up to part-sized
  textures (1/32 of 224 = 7x7 cells).
- content: ``block6``, the second unit at the fourth resolution (1/16, 14x14
  cells at 224), as conv4_2 is on VGG: deep enough that its maps encode the
  layout of parts rather than exact pixels, coarse enough to leave texture
  free.

Block outputs are the blocks' linear projections (MobileNet-v2 bottlenecks, no
activation), where VGG's are rectified; the Gram matrices are taken as they are.

The stages run on the metrics' inference form of the network when it has one
(BatchNorm folded into the convs, channels_last tensors:
:mod:`anime_gan.metrics.effnet`): the same function to float32 rounding (about
1e-6 relative), about 3x faster on CPU, gradients included. The weights are
frozen; gradients flow to the pixels only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from anime_gan.device import device_of, pick_device
from anime_gan.errors import AssetError, ConfigError

BACKBONES = ("auto", "vgg19", "effnet")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's vgg19().features indices of the rectified responses Gatys uses.
VGG_LAYERS = {"conv1_1": 1, "conv2_1": 6, "conv3_1": 11, "conv4_1": 20, "conv4_2": 22, "conv5_1": 29}
VGG_STYLE = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
VGG_CONTENT = ("conv4_2",)
EFFNET_STYLE = ("stem", "block1", "block3", "block5", "block11")
EFFNET_CONTENT = ("block6",)
VGG_ABSENT_NOTE = ("VGG-19 ImageNet weights (vgg19-dcbb9e9d.pth) are not in torch hub's cache nor in "
                   "$ANIME_GAN_MIRROR: using the offline EfficientNet-Lite0 backbone instead (layers in "
                   "anime_gan/style/backbones.py); results are labelled 'effnet'.")


@dataclass
class Backbone:
    """A frozen feature network: images in [0, 1] (N, 3, H, W) -> {layer name: feature maps}."""

    name: str  # "vgg19" | "effnet": label every result with it
    stages: list[tuple[str, nn.Module]]  # run in order; a stage's name is the name of its output
    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    description: dict = field(default_factory=dict)  # weights file and preprocessing, for records
    note: str | None = None  # why this backbone was chosen when it is a fallback

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        """Where the stages' weights live: images go there before ``features``."""
        return device_of(*(stage for _, stage in self.stages))

    def features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The maps of every content and style layer; stops after the deepest one needed."""
        wanted = set(self.content_layers) | set(self.style_layers)
        x, found = self.preprocess(images), {}
        for name, stage in self.stages:
            x = stage(x)
            if name in wanted:
                found[name] = x
                if len(found) == len(wanted):
                    break
        return found

    def record(self) -> dict:
        return {"backbone": self.name, "content_layers": list(self.content_layers),
                "style_layers": list(self.style_layers), **self.description,
                **({"note": self.note} if self.note else {})}


class VGG19Backbone(Backbone):
    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        mean = images.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = images.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
        return (images - mean) / std


@dataclass
class EffNetBackbone(Backbone):
    channels_last: bool = False  # the stages' layout (the metrics' runner is channels_last on CPU and CUDA)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        from anime_gan.metrics.features import EffNetLite0

        x = EffNetLite0.preprocess(images * 255.0)  # (N, 3, H, W) -> (N, 3, 224, 224), the metrics' input
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def vgg19_backbone(device: torch.device, path=None) -> VGG19Backbone:
    """VGG-19 from its verified weights file (``path``, else the asset ``vgg19``, downloaded if need be)."""
    from torchvision.models import vgg19

    from anime_gan.data.assets import fetch_asset, get_asset
    from anime_gan.data.cache import sha256_file

    path = path or fetch_asset("vgg19")
    network = vgg19(weights=None)
    network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    features = network.features[: max(VGG_LAYERS.values()) + 1].eval().requires_grad_(False).to(device)
    names = {index: name for name, index in VGG_LAYERS.items()}
    return VGG19Backbone(
        name="vgg19",
        stages=[(names.get(i, f"features.{i}"), layer) for i, layer in enumerate(features)],
        content_layers=VGG_CONTENT,
        style_layers=VGG_STYLE,
        description={"weights": get_asset("vgg19").filename, "weights_sha256": sha256_file(path),
                     "preprocess": "[0, 1] RGB, ImageNet mean/std normalisation, at the image's own size"},
    )


def effnet_stages(network: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of the stem and the 16 blocks of an EfficientNet-Lite0, frozen: of its folded inference form
    (:class:`anime_gan.metrics.effnet.FoldedEfficientNetLite`) or of the package's module as built."""
    from anime_gan.metrics.effnet import FoldedEfficientNetLite

    if isinstance(network, FoldedEfficientNetLite):
        stem = nn.Sequential(network.stem, nn.Hardtanh(0.0, 6.0))  # (N, 3, 224, 224) -> (N, 32, 112, 112)
        blocks = list(network.blocks)
    else:
        stem = nn.Sequential(network._conv_stem, network._bn0, network._swish)  # (N, 3, 224, 224) -> (N, 32, 112, 112)
        blocks = list(network._blocks)
    stages = [("stem", stem)] + [(f"block{i}", block) for i, block in enumerate(blocks)]
    for _, stage in stages:
        stage.requires_grad_(False)  # frozen: a loss through it asks gradients of the pixels, never of the weights
    return stages


def effnet_backbone(device: torch.device, note: str | None = None) -> EffNetBackbone:
    """EfficientNet-Lite0 split into stem and blocks, sharing the metrics' loaded network and its runtime form
    (folded and channels_last where the metrics use them)."""
    from anime_gan.metrics.features import get_extractor

    extractor = get_extractor("effnet", device)
    return EffNetBackbone(
        name="effnet",
        stages=effnet_stages(extractor.runner),
        content_layers=EFFNET_CONTENT,
        style_layers=EFFNET_STYLE,
        description={"weights": extractor.description["weights"],
                     "weights_sha256": extractor.description["weights_sha256"],
                     "preprocess": extractor.description["preprocess"],
                     "network": extractor.description["network"]},
        note=note,
        channels_last=extractor.options.channels_last,
    )


def load_backbone(name: str = "auto", device: torch.device | str = "auto") -> Backbone:
    """``auto``: VGG-19 when its weights file is present locally (never downloads), else EfficientNet-Lite0
    with a note saying so. ``vgg19`` insists (downloading when online); ``effnet`` always uses the fallback.
    ``device`` auto: cuda > mps > cpu."""
    from anime_gan.data.assets import asset_path

    device = pick_device(device) if isinstance(device, str) else torch.device(device)
    if name not in BACKBONES:
        raise ConfigError(f"backbone {name!r} is not one of {list(BACKBONES)}")
    if name == "effnet":
        return effnet_backbone(device)
    if name == "vgg19":
        try:
            return vgg19_backbone(device)
        except AssetError as err:
            raise AssetError(f"{err}. Or choose the offline backbone: effnet (or auto).") from err
    present = asset_path("vgg19")
    if present is not None:
        return vgg19_backbone(device, present)
    return effnet_backbone(device, note=VGG_ABSENT_NOTE)
