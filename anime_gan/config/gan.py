"""Typed configs of the GAN experiments: one YAML file in ``configs/`` each.

Every section is a dataclass with commented defaults; ``load_experiment`` reads
a file strictly (``anime_gan.config.loading``) and applies dotted overrides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anime_gan.config.loading import apply_overrides, check_range, from_dict, load_yaml, parse_override, save_yaml, to_dict
from anime_gan.errors import ConfigError
from anime_gan.models.layers import FINAL_RESOLUTIONS, as_hw

@dataclass
class DataConfig:
    dataset: str = "anime-faces"  # a name from anime_gan.data.DATASETS, or folder:<path>
    resolution: int | list[int] = 64  # side length, or [height, width] (seed 000's CelebA: [128, 160])
    holdout_fraction: float = 0.2  # share of images kept out of training for evaluation (0 = papers' setting)
    hflip: bool = False  # random horizontal flips of real images
    root: str = "data"  # where prepared tensors are cached

    def __post_init__(self) -> None:
        check_range("data", "holdout_fraction", self.holdout_fraction, 0.0, 1.0, high_open=True)


@dataclass
class OptimizerConfig:
    name: str = "adam"  # adam | rmsprop | sgd
    lr: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])  # Adam only
    momentum: float = 0.0  # SGD and RMSprop only
    weight_decay: float = 0.0  # BaMSGAN's "regularisation" is 1e-4 here


@dataclass
class ScheduleConfig:
    name: str = "constant"  # constant | cosine
    t_max: float = 5.0  # cosine: half-period, in epochs or iterations (see step)
    eta_min: float = 5e-5  # cosine: lowest learning rate
    step: str = "epoch"  # epoch | iteration: when the schedule advances (BaMSGAN's code: every iteration, T_max 5)


@dataclass
class TrainConfig:
    epochs: float = 1.0  # training length in epochs; an epoch is epoch_scale * N real images drawn
    epoch_scale: float = 1.0  # a profile's budget knob that shrinks every epoch count at once (training length,
    #                           memory start, per-epoch schedules and samples)
    batch_size: int = 64  # real images per D step over all processes (each of W processes takes batch_size / W)
    n_critic: int = 1  # discriminator steps per generator step
    critic_batches: str = "fresh"  # fresh: a new real batch per critic step (Arjovsky's WGAN; epochs count data passes)
    #                                | reuse: one real batch for all critic steps (ANI717's WGAN-GP: N/B G steps per epoch)
    critic_warmup: bool = False  # Arjovsky's WGAN: 100 critic steps for the first 25 G steps and every 500th
    weight_clip: float = 0.0  # WGAN: clip critic weights to [-c, c] after each D step (0 = off)
    gp_weight: float = 0.0  # WGAN-GP gradient-penalty lambda (0 = off)
    r1_gamma: float = 0.0  # R1 penalty gamma on real images: adds gamma / 2 * E||grad D(x)||^2 to L_D (0 = off)
    feature_matching: float = 0.0  # weight of feature matching (Salimans et al.) on D's features in L_G (0 = off)
    ema_decay: float = 0.0  # exponential moving average of G's weights (0 = off)
    ema_batchnorm: str = "recompute"  # EMA generators with BatchNorm: recompute (statistics of the averaged weights,
    #                                   measured on fresh samples) | copy (the live G's running statistics)
    bf16: bool | str = "auto"  # bfloat16 autocast with fp32 weights and losses; auto: where the device runs it fast
    channels_last: bool | str = "auto"  # NHWC memory format for convolutions; auto: the measured best for the device
    compile: bool | str = "auto"  # torch.compile of G and D; auto: the measured best for the device
    concat_d_batches: bool = False  # one D forward over real, fake and extra fakes (only for D without BatchNorm)
    sync_batchnorm: bool = False  # several processes: BatchNorm statistics over the global batch
    device: str = "auto"  # auto (cuda > mps > cpu) | cpu | cuda | cuda:1 | mps
    max_bad_steps: int = 0  # reserved; a non-finite loss always stops the run

    def __post_init__(self) -> None:
        check_range("train", "epochs", self.epochs, 0.0, low_open=True)
        check_range("train", "epoch_scale", self.epoch_scale, 0.0, low_open=True)
        check_range("train", "batch_size", self.batch_size, 1)
        check_range("train", "n_critic", self.n_critic, 1)
        for key in ("weight_clip", "gp_weight", "r1_gamma", "feature_matching"):
            check_range("train", key, getattr(self, key), 0.0)
        check_range("train", "ema_decay", self.ema_decay, 0.0, 1.0, high_open=True)


@dataclass
class BlurConfig:
    """BaMSGAN Algorithm 1: edge-blurred real images shown to D as fakes."""

    enabled: bool = False
    fraction: float = 0.1  # share of the training images that get a blurred copy
    canny_low: int = 200
    canny_high: int = 500
    kernel: int = 5  # Gaussian kernel size
    mode: str = "algorithm1"  # algorithm1: blur the edge pixels alone on black (the paper) | image: blur the intact image
    batch_size: int = 0  # blurred images per D step (0 = the training batch; the authors' code: about 13)
    weight: float = 1.0  # weight of the blurred term in the D loss
    seed: int = 0  # which images are chosen
    selection: str = "random"  # random (the paper) | first (the authors' code: the first files in directory order)


@dataclass
class MemoryConfig:
    """BaMSGAN memory bank: past generator samples replayed to D as fakes."""

    enabled: bool = False
    capacity: int = 6000  # images kept at most (random deletion when full)
    per_epoch: int = 256  # generator samples stored at the end of each epoch
    store_from_epoch: float = 20.0  # start storing after this many epochs
    replay_from_epoch: float = 25.0  # start replaying after this many epochs
    batch_size: int = 0  # replayed images per D step (0 = the training batch; the authors' code: about 13)
    weight: float = 1.0  # weight of the memory term in the D loss


@dataclass
class LogConfig:
    every: int = 50  # read losses back from the device every N iterations (no per-step sync)
    sample_every: int = 500  # fixed-noise sample grid (PNG) every N iterations
    checkpoint_every: int = 500  # atomic checkpoint every N iterations (and at the end)
    grid_size: int = 64  # images in each sample grid
    epoch_samples: int = 256  # fixed-noise samples saved (uint8 tensor) at the end of each of the last epochs
    keep_epoch_samples: int = 10  # how many of the last epochs get those samples (for per-epoch metrics such as DR)
    grid_epochs: list[float] = field(default_factory=list)  # epochs whose fixed-noise grid is kept as PNG (e.g. [30, 300])
    progress: bool = True  # tqdm bar

    def __post_init__(self) -> None:
        check_range("log", "every", self.every, 1)
        for key in ("sample_every", "checkpoint_every", "epoch_samples", "keep_epoch_samples"):
            check_range("log", key, getattr(self, key), 0)
        check_range("log", "grid_size", self.grid_size, 1)


@dataclass
class GrowthConfig:
    """Progressive growing in images shown (StyleGAN's defaults: 600k images per fade and per stable phase)."""

    enabled: bool = False  # off: the networks train at the final resolution from the first step
    start_resolution: int = 4  # side of the first stage (4 * 2^k)
    stable_images: int = 600_000  # real images shown at each stage with its newest block fully in (alpha 1)
    fade_images: int = 600_000  # real images shown while a new stage fades in (alpha 0 -> 1); 0: switch at once
    batch_sizes: dict[int, int] = field(default_factory=dict)  # batch per stage resolution ({4: 128, 32: 64});
    #                                                            missing resolutions use train.batch_size
    reset_optimizer: bool = False  # empty both optimisers' state (Adam's moments) when a fade starts and when it
    #                                ends, as NVlabs' StyleGAN code does (reset_opt_for_new_lod); the paper names none

    def __post_init__(self) -> None:
        if not isinstance(self.start_resolution, int) or self.start_resolution not in (4, *FINAL_RESOLUTIONS):
            raise ConfigError(f"growth.start_resolution {self.start_resolution!r} is not one of "
                              f"{[4, *FINAL_RESOLUTIONS]}")
        for key in ("stable_images", "fade_images"):
            if getattr(self, key) < 0:
                raise ConfigError(f"growth.{key} must be 0 or more, got {getattr(self, key)}")
        # Dotted overrides (growth.batch_sizes.32=16) arrive with string keys; YAML files give ints.
        batch_sizes = {}
        for key, value in self.batch_sizes.items():
            try:
                resolution = int(key)
            except (TypeError, ValueError):
                resolution = None
            if resolution not in (4, *FINAL_RESOLUTIONS) or isinstance(key, bool):
                raise ConfigError(f"growth.batch_sizes: key {key!r} is not a stage resolution; valid keys are "
                                  f"{[4, *FINAL_RESOLUTIONS]} up to the final resolution")
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"growth.batch_sizes[{resolution}] must be a positive integer, got {value!r}")
            batch_sizes[resolution] = value
        self.batch_sizes = batch_sizes


@dataclass
class ExperimentConfig:
    # Keys added after runs were made, with the value that trains as those runs did (see config_fingerprint).
    ADDED_KEYS = {"growth.reset_optimizer": False}

    name: str = "experiment"
    description: str = ""  # which paper, table and row this reproduces
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    generator: dict[str, Any] = field(default_factory=lambda: {"name": "dcgan"})
    discriminator: dict[str, Any] = field(default_factory=lambda: {"name": "dcgan"})
    loss: dict[str, Any] = field(default_factory=lambda: {"name": "bce"})
    g_optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    d_optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    blur: BlurConfig = field(default_factory=BlurConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    growth: GrowthConfig = field(default_factory=GrowthConfig)  # progressive growing (StyleGAN)
    log: LogConfig = field(default_factory=LogConfig)


def load_experiment(
    path: str | Path | None = None,
    overrides: dict[str, Any] | list[str] | None = None,
) -> ExperimentConfig:
    """Load an experiment YAML (or the defaults) and apply dotted overrides, strictly."""
    data = load_yaml(path) if path is not None else {}
    if isinstance(overrides, list):
        overrides = dict(parse_override(o) for o in overrides)
    # Components keep their default name when a file or override sets only some of their arguments.
    defaults = to_dict(ExperimentConfig())
    for component in ("generator", "discriminator", "loss"):
        data[component] = {**defaults[component], **data.get(component, {})}
    data = apply_overrides(data, overrides or {})
    return from_dict(ExperimentConfig, data, where=str(path) if path else "config")


save_experiment = save_yaml  # config.yaml of a run folder


def resolution_of(config: Any) -> tuple[int, int]:
    """(height, width) of a run's images: GAN experiments and translators both keep it in ``data.resolution``."""
    return as_hw(config.data.resolution)
