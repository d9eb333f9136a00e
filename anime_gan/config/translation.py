"""The config of a translation run (``kind: translation``): two image domains, two generators, two discriminators.

Loading is as strict as for the GAN experiments (``anime_gan.config.loading``): an
unknown key anywhere is an error listing the valid ones. The top-level
``kind: translation`` tells a translation config from a GAN experiment
(``anime_gan.config.load_config`` dispatches on it; GAN configs carry no
``kind``).

Domains are datasets by name (``source`` X, ``target`` Y). Both are prepared at
ONE size, ``data.resolution``: each generator maps an image to an image of the
same shape, and each discriminator sees real images of its domain beside
translations from the other, so the two domains must share it. Seed 000's own
sizes (CelebA at 128x160, anime avatars at 96x96) cannot both hold; its config
trains at the anime avatars' 96x96, the size of the images it produces, and
``prepare`` centre-crops the photos to that shape before resizing.

The defaults are seed 000's setting: its FPN/ResNet-18 generator, the 70x70
PatchGAN, the WGAN loss with weight clipping 0.01, cycle weight 10, SGD at
0.002 for 200 epochs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anime_gan.config.gan import OptimizerConfig
from anime_gan.config.loading import apply_overrides, from_dict, load_yaml, parse_override, save_yaml, to_dict
from anime_gan.errors import ConfigError
from anime_gan.models.layers import as_hw

KIND = "translation"
COMPONENTS = ("generator", "discriminator", "loss")
SCHEDULES = ("constant", "linear_decay")
SCHEDULE_STEPS = ("epoch", "iteration")
FUSION_BACKBONES = ("effnet", "vgg19", "auto")


@dataclass
class DomainConfig:
    dataset: str = ""  # a name from anime_gan.data.DATASETS (utkface-photos, anime-faces, celeba...) or folder:<path>


@dataclass
class TranslationDataConfig:
    resolution: int | list[int] = 96  # the one training size of both domains: a side or [height, width]
    holdout_fraction: float = 0.2  # share of each domain kept out of training (the GAN rows' seeded split)
    hflip: bool = False  # random horizontal flips of both domains' images
    root: str = "data"  # where prepared tensors are cached


@dataclass
class ObjectiveConfig:
    """Weights of the generators' loss terms (the discriminators' loss is the adversarial one alone)."""

    adversarial_weight: float = 1.0  # on each generator's adversarial term (2.0 gives CycleGAN's LSGAN: the loss
    #                                  table's lsgan is 1/2 E[(D-1)^2], CycleGAN's generator term E[(D-1)^2])
    cycle_weight: float = 10.0  # lambda of the cycle L1 ||F(G(x)) - x|| + ||G(F(y)) - y||
    identity_weight: float = 0.0  # on ||G(y) - y|| + ||F(x) - x|| (0 = off; CycleGAN 0.5 x lambda = 5.0)
    content_weight: float = 0.0  # seed 004's fusion: content loss between x and G(x) on the backbone's content layer
    style_weight: float = 0.0  # seed 004's fusion: Gram style loss between G(x) and the target batch
    feature_matching_weight: float = 0.0  # seed 004's fusion: feature matching on each PatchGAN's intermediate maps
    backbone: str = "effnet"  # feature network of the content and style terms: effnet (offline) | vgg19 | auto


@dataclass
class TranslationScheduleConfig:
    name: str = "constant"  # constant | linear_decay (CycleGAN: constant, then linearly to 0)
    decay_start: float = 0.5  # linear_decay: share of the training length after which the decay starts
    step: str = "epoch"  # epoch (CycleGAN) | iteration: when the learning rate is updated


@dataclass
class TranslationTrainConfig:
    epochs: float = 200.0  # an epoch is epoch_scale passes over the source domain's training images
    epoch_scale: float = 1.0  # a profile's budget knob that shrinks every epoch count at once
    batch_size: int = 8  # source images and target images per batch (each)
    n_critic: int = 1  # discriminator steps per generator step, each on a fresh batch of both domains (the first on
    #                    the generator step's own batch); every batch counts towards the epoch
    weight_clip: float = 0.01  # WGAN: clip both discriminators' weights to [-c, c] after each step (0 = off;
    #                             only with loss wgan, whose critic it keeps Lipschitz)
    pool_size: int = 50  # past translations each discriminator also sees (CycleGAN: 50; 0 = off)
    ema_decay: float = 0.0  # exponential moving average of both generators' weights (0 = off)
    bf16: bool | str = "auto"  # bfloat16 autocast; auto: where the device runs it fast
    channels_last: bool | str = "auto"  # NHWC memory format; auto: the measured best for the device
    compile: bool | str = "auto"  # torch.compile of the four networks; auto: the measured best for the device
    device: str = "auto"  # auto (cuda > mps > cpu) | cpu | cuda | cuda:1 | mps


@dataclass
class TranslationLogConfig:
    every: int = 50  # read losses back from the device every N iterations (no per-step sync)
    sample_every: int = 500  # source / translation / reconstruction grid (PNG) every N iterations (0 = off)
    checkpoint_every: int = 500  # atomic checkpoint every N iterations (and at the end)
    grid_size: int = 8  # fixed source images in each grid (its columns)
    grid_epochs: list[float] = field(default_factory=list)  # epochs whose grid is kept as PNG
    progress: bool = True  # tqdm bar


@dataclass
class TranslationConfig:
    # Keys added after runs were made, with the value that trains as those runs did (see config_fingerprint).
    ADDED_KEYS = {"train.n_critic": 1}

    kind: str = KIND  # tells this config from a GAN experiment (which has no kind)
    name: str = "translation"
    description: str = ""  # which paper, table and row this reproduces
    seed: int = 0
    data: TranslationDataConfig = field(default_factory=TranslationDataConfig)
    source: DomainConfig = field(default_factory=lambda: DomainConfig("utkface-photos"))  # domain X (photos)
    target: DomainConfig = field(default_factory=lambda: DomainConfig("anime-faces"))  # domain Y (anime)
    generator: dict[str, Any] = field(default_factory=lambda: {"name": "fpn_resnet18"})  # G: X -> Y and F: Y -> X
    discriminator: dict[str, Any] = field(default_factory=lambda: {"name": "patchgan"})  # D_X and D_Y
    loss: dict[str, Any] = field(default_factory=lambda: {"name": "wgan"})  # adversarial term, from the loss table
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    g_optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(name="sgd", lr=0.002))  # G and F
    d_optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(name="sgd", lr=0.002))  # D_X and D_Y
    schedule: TranslationScheduleConfig = field(default_factory=TranslationScheduleConfig)
    train: TranslationTrainConfig = field(default_factory=TranslationTrainConfig)
    log: TranslationLogConfig = field(default_factory=TranslationLogConfig)


def _check_range(where: str, value: float, low: float, high: float | None = None, high_open: bool = False) -> None:
    too_high = high is not None and (value >= high if high_open else value > high)
    if not value >= low or too_high:
        bound = "" if high is None else (f" and below {high}" if high_open else f" and at most {high}")
        raise ConfigError(f"{where} must be at least {low}{bound}, got {value}")


def check_translation(config: TranslationConfig, where: str = "config") -> TranslationConfig:
    """Value checks that the types alone do not make (one ConfigError naming the key and the valid values)."""
    if config.kind != KIND:
        raise ConfigError(f"{where}: kind {config.kind!r} is not {KIND!r}")
    for role in ("source", "target"):
        if not getattr(config, role).dataset:
            raise ConfigError(f"{where}: {role}.dataset is empty; name a dataset (e.g. utkface-photos, anime-faces) "
                              f"or folder:<path>")
    as_hw(config.data.resolution)
    _check_range(f"{where}: data.holdout_fraction", config.data.holdout_fraction, 0.0, 1.0, high_open=True)
    objective = config.objective
    for key in ("adversarial_weight", "cycle_weight", "identity_weight", "content_weight", "style_weight",
                "feature_matching_weight"):
        _check_range(f"{where}: objective.{key}", getattr(objective, key), 0.0)
    if objective.backbone not in FUSION_BACKBONES:
        raise ConfigError(f"{where}: objective.backbone {objective.backbone!r} is not one of {list(FUSION_BACKBONES)}")
    schedule = config.schedule
    if schedule.name not in SCHEDULES:
        raise ConfigError(f"{where}: schedule.name {schedule.name!r} is not one of {list(SCHEDULES)}")
    if schedule.step not in SCHEDULE_STEPS:
        raise ConfigError(f"{where}: schedule.step {schedule.step!r} is not one of {list(SCHEDULE_STEPS)}")
    _check_range(f"{where}: schedule.decay_start", schedule.decay_start, 0.0, 1.0, high_open=True)
    train = config.train
    if train.epochs <= 0 or train.epoch_scale <= 0:
        raise ConfigError(f"{where}: train.epochs and train.epoch_scale must be positive, got {train.epochs} and "
                          f"{train.epoch_scale}")
    if train.batch_size < 1:
        raise ConfigError(f"{where}: train.batch_size must be at least 1, got {train.batch_size}")
    if isinstance(train.n_critic, bool) or train.n_critic < 1:
        raise ConfigError(f"{where}: train.n_critic must be at least 1 (discriminator steps per generator step), got "
                          f"{train.n_critic}")
    if train.pool_size < 0:
        raise ConfigError(f"{where}: train.pool_size must be 0 (off) or more (CycleGAN: 50), got {train.pool_size}")
    _check_range(f"{where}: train.weight_clip", train.weight_clip, 0.0)
    if train.weight_clip > 0 and config.loss.get("name") != "wgan":
        raise ConfigError(f"{where}: train.weight_clip {train.weight_clip} keeps a WGAN critic Lipschitz; with loss "
                          f"{config.loss.get('name')!r} set train.weight_clip=0")
    _check_range(f"{where}: train.ema_decay", train.ema_decay, 0.0, 1.0, high_open=True)
    if config.log.every < 1 or config.log.grid_size < 1:
        raise ConfigError(f"{where}: log.every and log.grid_size must be at least 1, got {config.log.every} and "
                          f"{config.log.grid_size}")
    return config


def translation_from_dict(data: dict[str, Any], where: str = "config") -> TranslationConfig:
    """A TranslationConfig from a mapping, strictly; components keep their default name when only their
    arguments are given."""
    data = dict(data)
    defaults = to_dict(TranslationConfig())
    for component in COMPONENTS:
        given = data.get(component) or {}
        if not isinstance(given, dict):
            raise ConfigError(f"{where}.{component}: expected a mapping, got {type(given).__name__}")
        data[component] = {**defaults[component], **given}
    return check_translation(from_dict(TranslationConfig, data, where=where), where)


def load_translation(path: str | Path | None = None,
                     overrides: dict[str, Any] | list[str] | None = None) -> TranslationConfig:
    """Load a translation YAML (or the defaults) and apply dotted overrides (``train.epochs=3``), strictly."""
    data = load_yaml(path) if path is not None else {}
    if isinstance(overrides, list):
        overrides = dict(parse_override(o) for o in overrides)
    data = apply_overrides(data, overrides or {})
    return translation_from_dict(data, where=str(path) if path else "config")


save_translation = save_yaml  # config.yaml of a run folder, as for GAN experiments
