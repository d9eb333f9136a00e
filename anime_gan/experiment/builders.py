"""The parts both kinds of run build from their configs: optimisers, learning-rate schedules, the run folder.

``anime_gan.experiment.gan`` and ``anime_gan.experiment.translation`` call these;
the trainers receive what they return and never see a config section by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn

from anime_gan.config import OptimizerConfig, ScheduleConfig, config_changes, save_yaml, to_dict
from anime_gan.config.translation import TranslationScheduleConfig
from anime_gan.errors import ConfigError
from anime_gan.training import checkpoint as ckpt
from anime_gan.training.distributed import DistributedContext
from anime_gan.training.loop import CHECKPOINT_NAME, LOSSES_NAME, SUMMARY_NAME

OPTIMIZERS = ("adam", "rmsprop", "sgd")


def build_optimizer(parameters: Iterable[nn.Parameter], cfg: OptimizerConfig) -> torch.optim.Optimizer:
    if cfg.name == "adam":
        return torch.optim.Adam(parameters, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.name == "sgd":
        return torch.optim.SGD(parameters, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise ConfigError(f"optimizer name {cfg.name!r} is not one of {list(OPTIMIZERS)}")


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: ScheduleConfig) -> torch.optim.lr_scheduler.LRScheduler | None:
    """A GAN experiment's schedule, stepped by the training loop once per epoch or once per iteration
    (``cfg.step``); BaMSGAN's code steps its cosine schedule every iteration."""
    if cfg.step not in ("epoch", "iteration"):
        raise ConfigError(f"schedule.step {cfg.step!r} is not one of ['epoch', 'iteration']")
    if cfg.name == "constant":
        return None
    if cfg.name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.t_max, eta_min=cfg.eta_min)
    raise ConfigError(f"schedule name {cfg.name!r} is not one of ['constant', 'cosine']")


def linear_decay_factor(epoch: float, total_epochs: float, decay_start: float) -> float:
    """CycleGAN's schedule as a factor of the base learning rate after ``epoch`` epochs: 1 for the first
    ``decay_start`` share of ``total_epochs``, then linearly down to 0 at ``total_epochs``.

    With 200 epochs and decay_start 0.5: 1 during epochs 0-100 (0-based), 0.99 during epoch 101, ..., 0.01
    during the last; CycleGAN's code (100 + 100 epochs) has the same shape, offset by about one epoch.
    """
    start = decay_start * total_epochs
    if epoch <= start:
        return 1.0
    return max(0.0, (total_epochs - epoch) / (total_epochs - start))


def build_translation_scheduler(optimizer: torch.optim.Optimizer, cfg: TranslationScheduleConfig, total_epochs: float,
                                epochs_per_step: float) -> torch.optim.lr_scheduler.LRScheduler | None:
    """A translator's schedule: None for a constant rate; for linear_decay a LambdaLR whose n-th step sets the
    factor for n * ``epochs_per_step`` epochs done (1 when it steps per epoch, batch / epoch images per iteration)."""
    if cfg.name == "constant":
        return None
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda n: linear_decay_factor(n * epochs_per_step, total_epochs, cfg.decay_start))


def start_run_folder(out_dir: Path, config: Any, fresh: bool, kind: str, stale: tuple[str, ...] = (),
                     distributed: DistributedContext | None = None) -> bool:
    """Decide whether ``out_dir`` holds a run to resume, clear it when not, and write ``config.yaml``.

    A checkpoint made by another config (beyond what may change on resumption, ``config_changes``) or by the
    other kind of training starts a new run: its checkpoint, loss log, summary, samples and the ``stale`` files
    are removed. Returns whether the run starts fresh. Under torchrun only the first process touches files, after
    every process has decided.
    """
    distributed = distributed or DistributedContext()
    checkpoint_path = out_dir / CHECKPOINT_NAME
    if checkpoint_path.exists() and not fresh:
        state = ckpt.load(checkpoint_path)
        changes = config_changes(state["metadata"].get("config", {}), to_dict(config),
                                 added=getattr(type(config), "ADDED_KEYS", {}))
        made_by = state.get("kind", "gan")
        if changes or made_by != kind:
            if distributed.is_main:
                reason = ", ".join(changes[:6]) or f"a {made_by} run"
                print(f"{checkpoint_path} was made with a different config ({reason}"
                      f"{'...' if len(changes) > 6 else ''}); starting a new run")
            fresh = True
    distributed.barrier()  # every process has decided before the first one deletes anything
    if fresh and distributed.is_main:
        for name in (CHECKPOINT_NAME, LOSSES_NAME, SUMMARY_NAME, *stale):
            (out_dir / name).unlink(missing_ok=True)
        for sample in (out_dir / "samples").glob("*") if (out_dir / "samples").exists() else ():
            sample.unlink()
    if distributed.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        save_yaml(config, out_dir / "config.yaml")
    distributed.barrier()
    return fresh
