"""A trained translator at work: translating images, grids, and scoring translations.

    translator = load_translator("data/runs/.../checkpoint.pt")        # anime_gan.experiment: G, F, config
    anime = translate(translator.g, photos_uint8)                        # uint8 (N, 3, H, W)
    grid = translation_grid(translator, photos_uint8[:8])               # uint8 (3, H', W'): rows x, G(x), F(G(x))
    scores = evaluate_translation("data/runs/.../checkpoint.pt", n=1000)

What ``evaluate_translation`` measures, on held-out images of both domains (the
same seeded split as training, so none of them was trained on):

- distribution distances of the translations G(x) to the held-out target images,
  by ``anime_gan.metrics.evaluate_images``: fd_effnet / kid_effnet (offline
  EfficientNet-Lite0 features, not comparable with FID), precision_effnet /
  recall_effnet (improved precision and recall, k = 3, on the same features:
  recall falls when G maps many photographs to a few faces), is_effnet, and
  fid / is when the standard Inception weights are present; ``fd_effnet_untranslated`` is
  the same distance for the source images themselves, the number a translator
  has to beat;
- ``content_distance_effnet``: content preservation, the mean squared difference
  of EfficientNet-Lite0 ``block6`` feature maps (1/16 of a 224x224 input, 14x14
  cells, 80 channels: the layer the style-transfer code uses as its content
  layer) between each source image and its translation, averaged over images;
  ``content_distance_effnet_unrelated`` is the same between each source image and
  ANOTHER source image (the next in its batch), the value of no preserved content.
  A translator trained with a content term on that backbone (the fusion row)
  optimises this very number: ``optimised_in_training`` says so per run;
- ``content_ssim``: content preservation by a measure no translator optimises,
  the structural similarity of each source image and its translation in grey
  (``anime_gan.metrics.classical``; 1: same structure), averaged over images;
  ``content_ssim_unrelated`` is the same between each source image and the one
  before it in the set;
- ``cycle_error_source`` = mean |F(G(x)) - x| and ``cycle_error_target`` = mean
  |G(F(y)) - y|, in [-1, 1] pixel units (0 = perfect reconstruction; 2 = the
  largest possible).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.utils import make_grid

from anime_gan.config import TranslationConfig, resolution_of
from anime_gan.data.assets import asset_path
from anime_gan.data.pixels import to_uint8, to_unit_range
from anime_gan.device import device_of, full_float32, pick_device
from anime_gan.errors import DataError, MetricError
from anime_gan.experiment.translation import Translator, discriminator_geometry, domain_split, load_translator
from anime_gan.metrics import evaluate_images
from anime_gan.metrics.classical import structural_similarity_grey
from anime_gan.style.backbones import EFFNET_CONTENT, load_backbone

CONTENT_LAYER = "block6"
CONTENT_LAYER_NOTE = ("EfficientNet-Lite0 block6 (1/16 of its 224x224 input: 14x14 cells, 80 channels), mean squared "
                      "difference of the feature maps per image, averaged over images")
SSIM_NOTE = ("structural similarity of the grey photograph and its grey translation (Wang et al.'s Gaussian window, "
             "scikit-image), averaged over images; optimised by no translator")
DIRECTIONS = ("forward", "backward")  # forward: x -> G(x) -> F(G(x)); backward: y -> F(y) -> G(F(y))


def _check_uint8(images: torch.Tensor, what: str) -> None:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise DataError(f"{what} must be uint8 images (N, 3, H, W), got {shape}")
    if len(images) == 0:
        raise DataError(f"{what}: no images")


@torch.no_grad()
def _cycle(first: nn.Module, second: nn.Module, images: torch.Tensor,
           batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(first(x) as uint8, second(first(x)) as uint8, per-image mean |second(first(x)) - x| in [-1, 1] units)."""
    device = device_of(first)
    translated, reconstructed, errors = [], [], []
    for chunk in images.split(batch_size):
        x = to_unit_range(chunk.to(device))
        mapped = first(x).float()
        back = second(mapped).float()
        translated.append(to_uint8(mapped))
        reconstructed.append(to_uint8(back))
        errors.append((back - x).abs().flatten(1).mean(1).cpu())
    return torch.cat(translated), torch.cat(reconstructed), torch.cat(errors)


@torch.no_grad()
def translate(network: nn.Module, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """``network`` (G or F) applied to uint8 (N, 3, H, W) images: uint8 (N, 3, H, W) on the CPU, in eval mode."""
    _check_uint8(images, "the images to translate")
    was_training = network.training
    network.eval()
    try:
        device = device_of(network)
        return torch.cat([to_uint8(network(to_unit_range(chunk.to(device))).float())
                          for chunk in images.split(batch_size)])
    finally:
        network.train(was_training)


def translation_rows(translator: Translator, images: torch.Tensor, direction: str = "forward",
                     batch_size: int = 64) -> torch.Tensor:
    """uint8 (3, N, 3, H, W): the images, their translations and their reconstructions."""
    if direction not in DIRECTIONS:
        raise DataError(f"direction {direction!r} is not one of {list(DIRECTIONS)}")
    _check_uint8(images, "the grid's images")
    first, second = (translator.g, translator.f) if direction == "forward" else (translator.f, translator.g)
    translated, reconstructed, _ = _cycle(first, second, images, batch_size)
    return torch.stack([images.cpu(), translated, reconstructed])


def translation_grid(translator: Translator, images: torch.Tensor, direction: str = "forward",
                     padding: int = 2) -> torch.Tensor:
    """One picture, uint8 (3, H', W'): row 1 the images, row 2 their translations, row 3 the reconstructions
    (``forward``: source x, G(x), F(G(x)); ``backward``: target y, F(y), G(F(y))). Show it with
    ``plt.imshow(grid.permute(1, 2, 0))``."""
    rows = translation_rows(translator, images, direction)  # (3, N, 3, H, W)
    grid = make_grid(rows.flatten(0, 1).float() / 255, nrow=rows.shape[1], padding=padding, pad_value=1.0)
    return (grid * 255).round().clamp(0, 255).to(torch.uint8)


# ---------------------------------------------------------------- scores


def default_metrics() -> list[str]:
    """The offline metrics (fd_effnet, precision_effnet, recall_effnet, kid_effnet, is_effnet) always; fid and is as
    well when the Inception weights are here."""
    metrics = ["fd_effnet", "precision_effnet", "recall_effnet", "kid_effnet", "is_effnet"]
    if asset_path("fid_inception") is not None:
        metrics += ["fid", "is"]
    return metrics


@torch.no_grad()
def content_distances(backbone: Any, source: torch.Tensor, translated: torch.Tensor, batch_size: int = 64,
                      layer: str = CONTENT_LAYER) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, the mean squared difference of ``backbone``'s ``layer`` maps (uint8 images of equal shape):

    - of each source image and its translation, (N,);
    - of each source image and the next one in its batch (a different image: what no preserved content
      scores), (N - number of one-image batches,).
    """
    if source.shape != translated.shape:
        raise DataError(f"content distance needs pairs of equal shape, got {tuple(source.shape)} and "
                        f"{tuple(translated.shape)}")
    device = getattr(backbone, "device", torch.device("cpu"))  # the uint8 images go to the backbone's device
    paired, unrelated = [], []
    with full_float32():  # a metric: float32 as the features of the distribution metrics, no TF32 on GPUs
        for a, b in zip(source.split(batch_size), translated.split(batch_size)):
            maps_a = backbone.features(a.to(device).float() / 255)[layer].float()
            maps_b = backbone.features(b.to(device).float() / 255)[layer].float()
            paired.append((maps_a - maps_b).pow(2).flatten(1).mean(1).cpu())
            if len(a) > 1:
                unrelated.append((maps_a - maps_a.roll(1, dims=0)).pow(2).flatten(1).mean(1).cpu())
    return torch.cat(paired), torch.cat(unrelated) if unrelated else torch.full((1,), float("nan"))


def score_translation(
    g: nn.Module,  # source -> target
    f: nn.Module,  # target -> source
    source: torch.Tensor,  # uint8 (N, 3, H, W) source images the translator never trained on
    target: torch.Tensor,  # uint8 (M, 3, H, W) target images it never trained on: the reference
    metrics: list[str] | None = None,  # names of anime_gan.metrics (default: default_metrics())
    *,
    reference_name: str = "target",
    source_name: str = "source",  # names the source images' cached features (they are real images too)
    device: str | torch.device = "auto",
    batch_size: int = 100,
    progress: bool = True,
    cache_dir: str | Path | None = "data/reference",
    backbone: Any = None,  # a loaded feature backbone with a "block6" layer (default: EfficientNet-Lite0)
    seed: int = 0,
) -> dict[str, Any]:
    """Distribution scores of G(source) against ``target``, content distance, cycle errors: one flat dict."""
    _check_uint8(source, "the source images")
    _check_uint8(target, "the target images")
    if len(source) < 2 or len(target) < 2:
        raise MetricError(f"scoring needs at least 2 images per domain, got {len(source)} source and {len(target)} "
                          f"target images")
    metrics = list(metrics) if metrics is not None else default_metrics()
    device = pick_device(device) if isinstance(device, str) else torch.device(device)
    modes = [(network, network.training) for network in (g, f)]
    for network, _ in modes:
        network.eval()
    try:
        translated, _, source_errors = _cycle(g, f, source, batch_size)
        _, _, target_errors = _cycle(f, g, target, batch_size)
    finally:
        for network, training in modes:
            network.train(training)
    common = dict(reference_name=reference_name, device=device, batch_size=batch_size, progress=progress,
                  cache_dir=cache_dir, seed=seed)
    result = evaluate_images(translated, target, metrics, **common)
    if "fd_effnet" in metrics:
        # Both sets are real images that no translator changes: cached, translators on the same splits share them.
        result["fd_effnet_untranslated"] = evaluate_images(source, target, ["fd_effnet"], fake_name=source_name,
                                                           **common)["fd_effnet"]
    backbone = backbone if backbone is not None else load_backbone("effnet", device)
    distances, unrelated = content_distances(backbone, source, translated, batch_size)
    result.update({
        "content_distance_effnet": float(distances.mean()),
        "content_distance_effnet_unrelated": float(unrelated.mean()),
        "content_layer": CONTENT_LAYER_NOTE,
        "content_ssim": float(structural_similarity_grey(source, translated).mean()),
        "content_ssim_unrelated": float(structural_similarity_grey(source, source.roll(1, dims=0)).mean()),
        "content_ssim_note": SSIM_NOTE,
        "cycle_error_source": float(source_errors.mean()),
        "cycle_error_target": float(target_errors.mean()),
        "cycle_error_units": "mean |F(G(x)) - x| and |G(F(y)) - y| with pixels in [-1, 1]",
        "n_source": len(source),
        "n_target": len(target),
    })
    return result


def optimised_measures(config: TranslationConfig) -> dict[str, str]:
    """The scores of :func:`score_translation` that ``config``'s own training objective optimises, with why: the
    fusion's content term on EfficientNet-Lite0 reads the very layer ``content_distance_effnet`` measures."""
    objective = config.objective
    effnet = objective.backbone == "effnet" or (objective.backbone == "auto" and asset_path("vgg19") is None)
    if objective.content_weight > 0 and effnet and CONTENT_LAYER in EFFNET_CONTENT:
        return {"content_distance_effnet": f"objective.content_weight {objective.content_weight:g}: the content term "
                                           f"on EfficientNet-Lite0 {CONTENT_LAYER}, the layer this distance reads"}
    return {}


def holdout_images(config: TranslationConfig, role: str, n: int, progress: bool = True) -> tuple[torch.Tensor, str]:
    """Up to ``n`` images of one domain that training never saw (the first ``n`` of the seeded hold-out order),
    and how they were chosen; the training images when the config holds nothing out."""
    train, holdout = domain_split(config, role, progress=progress)
    total = len(train) + len(holdout)
    if len(holdout) == 0:
        return train[:n], f"training images (data.holdout_fraction is 0; {total} images)"
    chosen = holdout[:n]
    return chosen, (f"hold-out split ({config.data.holdout_fraction:.0%} of {total} images: {len(holdout)}), "
                    f"the first {len(chosen)} of its seeded order")


def evaluate_translation(
    checkpoint: str | Path,
    n: int = 1000,  # held-out images per domain at most
    metrics: list[str] | None = None,  # default: default_metrics()
    *,
    device: str | torch.device = "auto",
    batch_size: int = 100,
    progress: bool = True,
    cache_dir: str | Path | None = "data/reference",
    root: str | Path | None = None,  # data folder of the prepared datasets (default: the run's data.root)
    ema: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Scores of a translation checkpoint on held-out images of both domains (see the module docstring), with how
    they were made: checkpoint, weights used, datasets, splits, N and resolution. One flat, JSON-ready dict."""
    if n < 2:
        raise MetricError(f"n must be at least 2 (distances need two images per set), got {n}")
    translator = load_translator(checkpoint, device=device, ema=ema, root=root)
    config = translator.config
    source, source_split = holdout_images(config, "source", n, progress)
    target, target_split = holdout_images(config, "target", n, progress)
    result = score_translation(translator.g, translator.f, source, target, metrics,
                               reference_name=f"{config.target.dataset} ({target_split})",
                               source_name=f"{config.source.dataset} ({source_split})", device=device,
                               batch_size=batch_size, progress=progress, cache_dir=cache_dir, seed=seed)
    result.update({
        "optimised_in_training": optimised_measures(config),
        **{f"discriminator_{key}": value for key, value in discriminator_geometry(config).items()},
        "checkpoint": str(checkpoint),
        "run": config.name,
        "iteration": translator.iteration,
        "epochs": translator.epochs,
        "train_images_drawn": translator.images,
        "sampled": translator.sampled,
        "generator": config.generator["name"],
        "source_dataset": config.source.dataset,
        "target_dataset": config.target.dataset,
        "source_split": source_split,
        "target_split": target_split,
        "translation_resolution": list(resolution_of(config)),
    })
    return result
