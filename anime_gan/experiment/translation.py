"""Translators: from a ``TranslationConfig`` to a cycle trainer, a trained run, and a translator to use.

    config = load_translation("configs/s000_translator.yaml", ["train.epochs=2"])
    summary = run_translation(config, "data/runs/s000_translator")           # trains, or resumes
    translator = load_translator("data/runs/s000_translator/checkpoint.pt")   # G, F, config

Both domains are loaded and checked before anything in a run folder is
touched; each keeps the same seeded hold-out split as the GAN rows, so held-out
images are never trained on.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from anime_gan.config import config_fingerprint, resolution_of, to_dict
from anime_gan.config.translation import KIND, TranslationConfig, translation_from_dict
from anime_gan.data.datasets import FileSource, load_images, locate, train_holdout_split
from anime_gan.device import pick_device, seed_everything
from anime_gan.errors import ConfigError, DataError, TrainingError
from anime_gan.experiment.builders import build_optimizer, build_translation_scheduler, start_run_folder
from anime_gan.losses import build_loss
from anime_gan.models import build_discriminator, build_translator
from anime_gan.models.translator import receptive_field
from anime_gan.style.backbones import load_backbone
from anime_gan.training import checkpoint as ckpt
from anime_gan.training.cycle_trainer import CycleTrainer, FeatureBackbone
from anime_gan.training.loop import SUMMARY_NAME
from anime_gan.training.speed import resolve_speed

ROLES = ("source", "target")


def _dataset_error(config: TranslationConfig, role: str, problem: str) -> DataError:
    dataset = getattr(config, role).dataset
    return DataError(f"{role} dataset {dataset!r} ({role}.dataset): {problem}")


def check_domains(config: TranslationConfig) -> None:
    """Both datasets exist and hold images, checked before anything is prepared or written."""
    for role in ROLES:
        dataset = getattr(config, role).dataset
        try:
            found = locate(dataset, config.data.root, fetch=False)
        except DataError as err:
            raise _dataset_error(config, role, str(err)) from None
        if isinstance(found, FileSource) and not found.names():
            raise _dataset_error(config, role, f"is empty: no image files in {found.path}")


def check_domain_images(images: torch.Tensor, config: TranslationConfig, role: str) -> torch.Tensor:
    """``images`` are uint8 (N, 3, H, W) at data.resolution with at least one batch; else one DataError naming them."""
    height, width = resolution_of(config)
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise _dataset_error(config, role, f"expected uint8 images (N, 3, H, W), got {shape}")
    if len(images) == 0:
        raise _dataset_error(config, role, "is empty")
    if tuple(images.shape[2:]) != (height, width):
        raise _dataset_error(config, role, f"images are {images.shape[2]}x{images.shape[3]}, but data.resolution is "
                                           f"{height}x{width}; both domains are trained at that one size")
    return images


def domain_split(config: TranslationConfig, role: str, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(training images, held-out images) of one domain: the dataset at data.resolution, split by the same seeded
    ``train_holdout_split`` as the GAN rows, so held-out images are never trained on."""
    dataset = getattr(config, role).dataset
    try:
        images = load_images(dataset, resolution_of(config), root=config.data.root, progress=progress)
    except DataError as err:
        raise _dataset_error(config, role, str(err)) from None
    check_domain_images(images, config, role)
    train_index, holdout_index = train_holdout_split(len(images), config.data.holdout_fraction)
    return images[train_index], images[holdout_index]


def build_cycle_trainer(config: TranslationConfig, out_dir: str | Path, source_images: torch.Tensor | None = None,
                        target_images: torch.Tensor | None = None, grid_images: torch.Tensor | None = None,
                        backbone: FeatureBackbone | None = None) -> CycleTrainer:
    """Every object the loop needs, built from ``config``.

    ``source_images`` / ``target_images`` (uint8, training images) replace the datasets when given; the grid
    then shows the first source images unless ``grid_images`` is given (else the first held-out source images).
    ``backbone`` replaces the configured feature network of the content and style terms.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("translation training runs in one process; launch it without torchrun")
    seed_everything(config.seed)
    if source_images is None or target_images is None:
        check_domains(config)
        loaded = {role: domain_split(config, role, progress=config.log.progress) for role in ROLES}
        source_images = loaded["source"][0] if source_images is None else source_images
        target_images = loaded["target"][0] if target_images is None else target_images
        holdout_source = loaded["source"][1]
        if grid_images is None and len(holdout_source) >= 1:
            grid_images = holdout_source[: config.log.grid_size]
    check_domain_images(source_images, config, "source")
    check_domain_images(target_images, config, "target")
    for role, images in (("source", source_images), ("target", target_images)):
        if len(images) < config.train.batch_size:
            raise _dataset_error(config, role, f"has {len(images)} training images, fewer than one batch of "
                                               f"{config.train.batch_size}")
    device = pick_device(config.train.device)
    resolution = resolution_of(config)
    g = build_translator(config.generator, resolution=resolution)
    f = build_translator(config.generator, resolution=resolution)
    d_x = build_discriminator(config.discriminator, resolution=resolution)
    d_y = build_discriminator(config.discriminator, resolution=resolution)
    g_optimizer = build_optimizer(itertools.chain(g.parameters(), f.parameters()), config.g_optimizer)
    d_optimizer = build_optimizer(itertools.chain(d_x.parameters(), d_y.parameters()), config.d_optimizer)
    epoch_images = config.train.epoch_scale * len(source_images)
    # An iteration draws n_critic batches (one per discriminator step), all counted towards the epoch.
    per_step = (1.0 if config.schedule.step == "epoch"
                else config.train.n_critic * config.train.batch_size / epoch_images)
    schedulers = [build_translation_scheduler(optimizer, config.schedule, config.train.epochs, per_step)
                  for optimizer in (g_optimizer, d_optimizer)]
    objective = config.objective
    if backbone is None and (objective.content_weight > 0 or objective.style_weight > 0):
        backbone = load_backbone(objective.backbone, device)
    speed = resolve_speed(config.train.bf16, config.train.channels_last, config.train.compile, device)
    return CycleTrainer(
        g, f, d_x, d_y, build_loss(config.loss), g_optimizer, d_optimizer, source_images, target_images, out_dir,
        train=config.train, objective=objective, log=config.log, seed=config.seed, hflip=config.data.hflip,
        grid_images=grid_images, g_scheduler=schedulers[0], d_scheduler=schedulers[1],
        schedule_step=config.schedule.step, backbone=backbone, speed=speed, metadata={"config": to_dict(config)},
    )


def discriminator_geometry(config: TranslationConfig) -> dict[str, Any]:
    """What one logit of ``config``'s discriminator sees at the run's resolution: its receptive field, the logit
    map's size, and whether every logit's window covers the whole image (then it judges images, not patches).
    Empty for a discriminator that is not a patch map."""
    height, width = resolution_of(config)
    discriminator = build_discriminator(config.discriminator, resolution=(height, width))
    if not hasattr(discriminator, "sees_whole_images"):
        return {}
    return {"receptive_field": receptive_field(discriminator),
            "patch_map": list(discriminator.patch_map_size(height, width)),
            "sees_whole_images": discriminator.sees_whole_images(height, width)}


def run_translation(config: TranslationConfig, out_dir: str | Path, fresh: bool = False,
                    time_limit: float | None = None) -> dict[str, Any]:
    """Train ``config`` into ``out_dir``, resuming its checkpoint when it was made by the same config.

    Both datasets are loaded and checked before anything in ``out_dir`` is touched: a missing, empty or
    wrongly sized domain is one DataError and leaves the folder as it was.
    """
    out_dir = Path(out_dir)
    check_domains(config)
    loaded = {role: domain_split(config, role, progress=config.log.progress) for role in ROLES}
    fresh = start_run_folder(out_dir, config, fresh, kind=KIND)
    holdout_source = loaded["source"][1]
    trainer = build_cycle_trainer(config, out_dir, source_images=loaded["source"][0],
                                  target_images=loaded["target"][0],
                                  grid_images=holdout_source[: config.log.grid_size] if len(holdout_source) else None)
    summary = trainer.fit(resume=not fresh, time_limit=time_limit)
    summary["config_fingerprint"] = config_fingerprint(config)
    summary["datasets"] = {role: {"dataset": getattr(config, role).dataset, "train_images": len(loaded[role][0]),
                                  "holdout_images": len(loaded[role][1])} for role in ROLES}
    (out_dir / SUMMARY_NAME).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


# ---------------------------------------------------------------- a trained translator


@dataclass
class Translator:
    """A trained translator in eval mode."""

    g: nn.Module  # source (X) -> target (Y)
    f: nn.Module  # target (Y) -> source (X)
    config: TranslationConfig
    sampled: str  # which weights: the EMA copies or the live generators
    iteration: int  # generator steps the checkpoint had taken
    epochs: int  # whole epochs trained
    images: int  # source images drawn in training


def is_translation_checkpoint(path: str | Path) -> bool:
    """True for a checkpoint written by the translation trainer (False for a GAN run's)."""
    return ckpt.load(path, map_location="cpu").get("kind") == "translation"


def load_translator(checkpoint_path: str | Path, device: str | torch.device = "auto", ema: bool = True,
                    root: str | Path | None = None) -> Translator:
    """G and F of a translation checkpoint (their EMA copies when there are some and ``ema``), and its config.

    ``root`` replaces the stored ``data.root``: the run recorded it as it saw it (often relative to the folder it
    ran in), so code running elsewhere (a notebook in notebooks/) passes the project's data folder.
    """
    device = pick_device(device) if isinstance(device, str) else device
    state = ckpt.load(checkpoint_path, map_location="cpu")
    if state.get("kind") != "translation":
        raise TrainingError(f"{checkpoint_path} is not a translation checkpoint (it has no G and F); GAN checkpoints "
                            f"load with anime_gan.experiment.load_generator")
    config = translation_from_dict(state["metadata"]["config"], where=f"{checkpoint_path} (stored config)")
    if root is not None:
        config.data.root = str(root)
    use_ema = ema and state.get("ema_g") is not None
    networks = []
    for live, averaged in (("generator_g", "ema_g"), ("generator_f", "ema_f")):
        network = build_translator(config.generator, resolution=resolution_of(config))
        network.load_state_dict(state[averaged] if use_ema else state[live])
        networks.append(network.to(device).eval().requires_grad_(False))
    if use_ema:
        sampled = state["metadata"].get("sampled", "EMA of both generators")
    else:
        sampled = "generators (no EMA)" if state.get("ema_g") is None else "generators (their EMA copies not used)"
    return Translator(networks[0], networks[1], config, sampled, int(state["iteration"]), int(state["epochs_done"]),
                      int(state["images_drawn"]))
