"""GAN experiments: from an ``ExperimentConfig`` to a trainer, a trained run, and a generator to sample from.

``build_trainer`` hands the training loop ready objects; ``run_gan`` trains or
resumes a run folder; ``load_generator`` and ``generate_images`` rebuild a
trained generator from its checkpoint for evaluation and notebooks.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from anime_gan.config import ExperimentConfig, config_fingerprint, from_dict, resolution_of, to_dict
from anime_gan.data import load_images, train_holdout_split
from anime_gan.data.blur import make_blur_set
from anime_gan.data.pixels import to_uint8
from anime_gan.device import pick_device, seed_everything
from anime_gan.errors import ConfigError
from anime_gan.experiment.builders import build_optimizer, build_scheduler, start_run_folder
from anime_gan.losses import build_loss
from anime_gan.models import build_discriminator, build_generator
from anime_gan.models.stylegan import check_cutoff
from anime_gan.training import checkpoint as ckpt
from anime_gan.training.distributed import DistributedContext
from anime_gan.training.gan_trainer import Trainer
from anime_gan.training.growth import GrowthSchedule
from anime_gan.training.loop import SUMMARY_NAME
from anime_gan.training.memory import MemoryBank
from anime_gan.training.sources import BlurredImages
from anime_gan.training.speed import resolve_speed


def training_images(config: ExperimentConfig) -> torch.Tensor:
    """The training part of the configured dataset (the hold-out split is the same for every experiment)."""
    images = load_images(config.data.dataset, resolution_of(config), root=config.data.root)
    train_index, _ = train_holdout_split(len(images), config.data.holdout_fraction)
    return images[train_index]


def build_trainer(config: ExperimentConfig, out_dir: str | Path, images: torch.Tensor | None = None,
                  distributed: DistributedContext | None = None) -> Trainer:
    """Every object the loop needs, built from ``config``; ``images`` (uint8) replaces the dataset when given.

    Under torchrun the process group is joined here (``DistributedContext.from_environment``) and the loop wraps
    the networks in DistributedDataParallel.
    """
    seed_everything(config.seed)
    device = pick_device(config.train.device)
    distributed = distributed or DistributedContext.from_environment(device.type)
    if images is None:
        images = training_images(config)
    resolution = resolution_of(config)
    generator = build_generator(config.generator, resolution=resolution)
    discriminator = build_discriminator(config.discriminator, resolution=resolution)
    g_optimizer = build_optimizer(generator.parameters(), config.g_optimizer)
    d_optimizer = build_optimizer(discriminator.parameters(), config.d_optimizer)
    sources, source_batches = [], []
    if config.blur.enabled:
        blur = config.blur
        blurred = make_blur_set(images, fraction=blur.fraction, seed=blur.seed, canny_low=blur.canny_low,
                                canny_high=blur.canny_high, kernel=blur.kernel, selection=blur.selection,
                                mode=blur.mode, cache_path=Path(out_dir) / "blur_set.pt")
        sources.append(BlurredImages(blurred, weight=blur.weight, seed=config.seed))
        source_batches.append(blur.batch_size)
    if config.memory.enabled:
        mem = config.memory
        sources.append(MemoryBank(capacity=mem.capacity, per_epoch=mem.per_epoch, store_from_epoch=mem.store_from_epoch,
                                  replay_from_epoch=mem.replay_from_epoch, weight=mem.weight, seed=config.seed))
        source_batches.append(mem.batch_size)
    step_plan = (GrowthSchedule(config.growth, resolution, default_batch_size=config.train.batch_size)
                 if config.growth.enabled else None)
    speed = resolve_speed(config.train.bf16, config.train.channels_last, config.train.compile, device,
                          double_backward=config.train.gp_weight > 0 or config.train.r1_gamma > 0)
    trainer = Trainer(
        generator, discriminator, build_loss(config.loss), g_optimizer, d_optimizer, images, out_dir,
        train=config.train, log=config.log, seed=config.seed, hflip=config.data.hflip, fake_sources=sources,
        source_batch_sizes=source_batches, g_scheduler=build_scheduler(g_optimizer, config.schedule),
        d_scheduler=build_scheduler(d_optimizer, config.schedule), schedule_step=config.schedule.step,
        step_plan=step_plan, speed=speed, distributed=distributed, metadata={"config": to_dict(config)},
    )
    if step_plan is not None and trainer.total_images < step_plan.images_until_final():
        # Growth is counted in images, the budget in epochs: a short budget would stop at a smaller stage and
        # every sample and metric would be of the wrong resolution.
        raise ConfigError(
            f"{config.name}: progressive growing reaches {resolution[0]}x{resolution[1]} after "
            f"{step_plan.images_until_final():,} images, but training draws {trainer.total_images:,} "
            f"(train.epochs x train.epoch_scale x {len(images):,} training images); raise the budget or shorten "
            f"growth.stable_images / growth.fade_images")
    return trainer


def run_gan(config: ExperimentConfig, out_dir: str | Path, fresh: bool = False,
            time_limit: float | None = None) -> dict[str, Any]:
    """Train ``config`` into ``out_dir``, resuming its checkpoint when it was made by the same config.

    Under torchrun every process calls this; only the first one touches files.
    """
    out_dir = Path(out_dir)
    distributed = DistributedContext.from_environment(pick_device(config.train.device).type)
    fresh = start_run_folder(out_dir, config, fresh, kind="gan", stale=("blur_set.pt",), distributed=distributed)
    summary = build_trainer(config, out_dir, distributed=distributed).fit(resume=not fresh, time_limit=time_limit)
    summary["config_fingerprint"] = config_fingerprint(config)
    if distributed.is_main:
        (out_dir / SUMMARY_NAME).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def load_generator(checkpoint_path: str | Path, device: str | torch.device = "auto",
                   ema: bool = True) -> tuple[nn.Module, ExperimentConfig]:
    """The trained generator (the EMA copy when there is one and ``ema``) in eval mode, and its config."""
    device = pick_device(device) if isinstance(device, str) else device
    state = ckpt.load(checkpoint_path, map_location="cpu")
    config = from_dict(ExperimentConfig, state["metadata"]["config"], where=f"{checkpoint_path} (stored config)")
    generator = build_generator(config.generator, resolution=resolution_of(config))
    weights = state["ema"] if ema and state.get("ema") is not None else state["generator"]
    generator.load_state_dict(weights)
    generator.sampled = sampled_description(state, ema)  # which network this is, for the metrics files
    return generator.to(device).eval(), config


def sampled_description(state: dict[str, Any], ema: bool = True) -> str:
    """Which network of a checkpoint produces the samples, in words."""
    if ema and state.get("ema") is not None:
        return state["metadata"].get("sampled", "EMA of the generator")
    return "generator (no EMA)" if state.get("ema") is None else "generator (its EMA copy not used)"


def check_truncation(generator: nn.Module, truncation_psi: float, truncation_cutoff: int | None = None) -> None:
    """psi must lie in [0, 1], and psi < 1 needs a generator with a mapping network (StyleGAN); a cutoff must be a
    number of that generator's style layers."""
    if not 0.0 <= truncation_psi <= 1.0:
        raise ConfigError(f"truncation psi must be in [0, 1] (1 = no truncation), got {truncation_psi}")
    has_mapping = "truncation_psi" in inspect.signature(generator.forward).parameters
    if truncation_psi != 1.0 and not has_mapping:
        raise ConfigError(f"truncation psi {truncation_psi} needs a generator with a mapping network (stylegan); "
                          f"{type(generator).__name__} has none, so use psi 1")
    if truncation_cutoff is not None:
        if not has_mapping:
            raise ConfigError(f"truncation cutoff {truncation_cutoff} needs a generator with a mapping network "
                              f"(stylegan); {type(generator).__name__} has none")
        check_cutoff(truncation_cutoff, generator.num_style_layers)


@torch.no_grad()
def generate_images(generator: nn.Module, n: int, seed: int = 0, batch_size: int = 256,
                    device: str | torch.device | None = None, truncation_psi: float = 1.0,
                    truncation_cutoff: int | None = None) -> torch.Tensor:
    """``n`` samples as uint8 (N, 3, H, W) on the CPU; the noise is drawn on the CPU so any device gives the same z.

    ``truncation_psi`` < 1 pulls StyleGAN's w towards its tracked mean (the truncation trick), on the first
    ``truncation_cutoff`` style layers only when that is given (None: all of them).
    """
    if n < 1:
        raise ConfigError(f"the number of samples must be at least 1, got {n}")
    check_truncation(generator, truncation_psi, truncation_cutoff)
    device = next(generator.parameters()).device if device is None else torch.device(device)
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, generator.latent_dim, generator=rng)
    kwargs = {"truncation_psi": truncation_psi} if truncation_psi != 1.0 else {}
    if truncation_cutoff is not None:
        kwargs["truncation_cutoff"] = truncation_cutoff
    was_training = generator.training
    generator.eval()
    try:
        return torch.cat([to_uint8(generator(chunk.to(device), **kwargs)) for chunk in z.split(batch_size)])
    finally:
        generator.train(was_training)
