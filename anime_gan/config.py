"""Typed experiment configs.

An experiment is one YAML file in ``configs/``. Loading is strict: an unknown
key anywhere is an error that lists the valid keys, so a typo never silently
falls back to a default. Networks and losses are "components": a mapping with a
``name`` (a key of a registry) plus that component's own arguments, which the
registry checks against the builder's signature.

Overrides use dotted keys (``train.epochs=3``); values are parsed as YAML.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from anime_gan.errors import ConfigError
from anime_gan.growth import GrowthConfig

_YAML11_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def check_range(section: str, key: str, value: float, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False) -> None:
    """One clear error naming ``section.key`` when ``value`` is outside [low, high] (or the open ends)."""
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        bounds = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        raise ConfigError(f"{section}.{key} must be in {bounds}, got {value}")


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
class ExperimentConfig:
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


# ---------------------------------------------------------------------------
# strict loading


def _check_value(value: Any, annotation: Any, where: str) -> Any:
    """Coerce ints to floats where a float is expected; reject other type mismatches."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(annotation):
            try:
                return _check_value(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} is not a valid {annotation}")
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str) and _YAML11_FLOAT.fullmatch(value.strip()):
        return float(value)  # PyYAML reads "1e-4" (no dot) as a string; it is a number to everyone else
    if annotation is Any:
        return value
    base = origin or annotation
    if base is list and isinstance(value, (list, tuple)):
        (item_type,) = typing.get_args(annotation) or (Any,)
        return [_check_value(v, item_type, f"{where}[{i}]") for i, v in enumerate(value)]
    if base is dict and isinstance(value, dict):
        key_type, item_type = typing.get_args(annotation) or (Any, Any)
        if dataclasses.is_dataclass(item_type):
            return {k: from_dict(item_type, v, f"{where}.{k}") for k, v in value.items()}
        return dict(value)
    if isinstance(base, type) and isinstance(value, base) and not (isinstance(value, bool) and base is not bool):
        return value
    raise ConfigError(f"{where}: expected {getattr(base, '__name__', base)}, got {type(value).__name__} {value!r}")


def from_dict(cls: type, data: dict[str, Any] | None, where: str = "config") -> Any:
    """Build dataclass ``cls`` from ``data``; unknown keys raise ConfigError listing the valid ones."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(fields)}")
    kwargs = {}
    for name, value in data.items():
        annotation = hints[name]
        if dataclasses.is_dataclass(annotation):
            kwargs[name] = from_dict(annotation, value, f"{where}.{name}")
        else:
            kwargs[name] = _check_value(value, annotation, f"{where}.{name}")
    for name in ("generator", "discriminator", "loss"):
        component = kwargs.get(name)
        if component is not None and "name" not in component:
            raise ConfigError(f"{where}.{name}: needs a 'name' key")
    return cls(**kwargs)


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def parse_override(text: str) -> tuple[str, Any]:
    """``"train.epochs=3"`` -> ``("train.epochs", 3)``; the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key=value (for example train.epochs=3)")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {text!r} has an empty key")
    return key, yaml.safe_load(raw) if raw.strip() else ""


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set dotted keys in a nested mapping (a copy); creates intermediate mappings as needed."""
    result = _deep_copy(data)
    for dotted, value in overrides.items():
        node = result
        parts = dotted.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {dotted!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return result


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``override`` merged in, recursing into nested mappings."""
    result = _deep_copy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = _deep_copy(value)
    return result


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data


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


def save_experiment(config: ExperimentConfig, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
