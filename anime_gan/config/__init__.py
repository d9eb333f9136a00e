"""Typed, strict configs: what a run is, as data.

- ``loading``: the strict YAML loader every config uses (unknown keys are
  errors), dotted overrides, and which changes keep a run resumable
  (``config_changes``, ``config_fingerprint``);
- ``gan``: GAN experiments (``ExperimentConfig``: data, networks, loss,
  optimisers, schedule, training, blur, memory, growth, logging);
- ``translation``: unpaired translators (``TranslationConfig``, ``kind: translation``).

``load_config`` reads either kind from a file. Turning a config into networks,
optimisers and trainers is ``anime_gan.experiment``'s job, not this package's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from anime_gan.config.gan import (BlurConfig, DataConfig, ExperimentConfig, GrowthConfig, LogConfig, MemoryConfig,
                                  OptimizerConfig, ScheduleConfig, TrainConfig, load_experiment, resolution_of,
                                  save_experiment)
from anime_gan.config.loading import (apply_overrides, check_range, config_changes, config_fingerprint, deep_merge,
                                      from_dict, load_yaml, parse_override, save_yaml, to_dict)
from anime_gan.config.translation import KIND as TRANSLATION_KIND
from anime_gan.config.translation import TranslationConfig, load_translation, translation_from_dict
from anime_gan.errors import ConfigError

__all__ = [
    "BlurConfig", "DataConfig", "ExperimentConfig", "GrowthConfig", "LogConfig", "MemoryConfig", "OptimizerConfig",
    "ScheduleConfig", "TrainConfig", "TranslationConfig", "apply_overrides", "check_range", "config_changes",
    "config_fingerprint", "deep_merge", "from_dict", "load_config", "load_experiment", "load_translation", "load_yaml",
    "parse_override", "resolution_of", "save_experiment", "save_yaml", "to_dict", "translation_from_dict",
]


def load_config(path: str | Path | None = None,
                overrides: dict[str, Any] | list[str] | None = None) -> ExperimentConfig | TranslationConfig:
    """A GAN experiment (``ExperimentConfig``) or a translation config (``TranslationConfig``), by the file's
    top-level ``kind``: absent for GAN experiments, ``translation`` for seed 000's translators."""
    kind = load_yaml(path).get("kind", "gan") if path is not None else "gan"
    if kind == TRANSLATION_KIND:
        return load_translation(path, overrides)
    if kind == "gan":
        return load_experiment(path, overrides)  # a GAN config that writes kind: gan is refused as an unknown key
    raise ConfigError(f"{path}: kind {kind!r} is not one of ['translation'] (GAN experiments have no kind key)")
