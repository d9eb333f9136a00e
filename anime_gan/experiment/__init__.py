"""The composition root: the only place that turns configs into networks, losses, optimisers and trainers.

    config = load_config("configs/s003_bamsgan.yaml", ["train.epochs=3"])  # a GAN experiment or a translator
    summary = run(config, "data/runs/s003_bamsgan")                        # trains, or resumes
    generator, config = load_generator("data/runs/s003_bamsgan/checkpoint.pt")
    images = generate_images(generator, 1000, seed=2024)                    # uint8 (N, 3, H, W)

- ``gan``: GAN experiments (``build_trainer``, ``run_gan``, ``load_generator``, ``generate_images``);
- ``translation``: translators (``build_cycle_trainer``, ``run_translation``, ``load_translator``);
- ``builders``: what both build (optimisers, schedules, the run folder).

Everything below this package (``training``, ``models``, ``losses``, ``data``)
receives built objects and knows no config file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from anime_gan.config import ExperimentConfig, TranslationConfig, load_config, resolution_of
from anime_gan.config.translation import KIND as TRANSLATION_KIND
from anime_gan.experiment.builders import build_optimizer, build_scheduler
from anime_gan.experiment.gan import (build_trainer, check_truncation, generate_images, load_generator, run_gan,
                                      sampled_description, training_images)
from anime_gan.experiment.translation import (Translator, build_cycle_trainer, domain_split, is_translation_checkpoint,
                                              load_translator, run_translation)

__all__ = [
    "Translator", "build_cycle_trainer", "build_optimizer", "build_scheduler", "build_trainer", "check_truncation",
    "domain_split", "generate_images", "is_translation_checkpoint", "load_config", "load_generator",
    "load_translator", "resolution_of", "run", "run_gan", "run_translation", "sampled_description",
    "training_images",
]


def run(config: ExperimentConfig | TranslationConfig, out_dir: str | Path, fresh: bool = False,
        time_limit: float | None = None) -> dict[str, Any]:
    """Train ``config`` into ``out_dir`` (a GAN experiment, or a translator when ``kind: translation``), resuming
    its checkpoint when it was made by the same config; ``time_limit`` (seconds) stops this session early, with
    a checkpoint to resume from."""
    if getattr(config, "kind", "gan") == TRANSLATION_KIND:
        return run_translation(config, out_dir, fresh=fresh, time_limit=time_limit)
    return run_gan(config, out_dir, fresh=fresh, time_limit=time_limit)
