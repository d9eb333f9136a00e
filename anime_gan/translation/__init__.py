"""Unpaired image-to-image translation (seed 000's photo-to-anime model and its CycleGAN baseline).

    config = load_translation("configs/s000_translator.yaml", ["train.epochs=2"])
    summary = run_translation(config, "data/runs/s000_translator")           # trains, or resumes
    translator = load_translator("data/runs/s000_translator/checkpoint.pt")   # G, F, config
    grid = translation_grid(translator, photos_uint8[:8])                    # uint8 (3, H', W')
    scores = evaluate_translation("data/runs/s000_translator/checkpoint.pt", n=1000)

``config`` (the strict config, ``kind: translation``), ``trainer`` (the cycle
training loop and its builder), ``evaluate`` (loading, translating, grids and
scores).
"""

from anime_gan.translation.config import KIND, TranslationConfig, load_translation, translation_from_dict
from anime_gan.translation.evaluate import (Translator, evaluate_translation, is_translation_checkpoint,
                                            load_translator, score_translation, translate, translation_grid,
                                            translation_rows)
from anime_gan.translation.trainer import CycleTrainer, build_cycle_trainer, run_translation

__all__ = ["KIND", "CycleTrainer", "TranslationConfig", "Translator", "build_cycle_trainer", "evaluate_translation",
           "is_translation_checkpoint", "load_translation", "load_translator", "run_translation",
           "score_translation", "translate", "translation_from_dict", "translation_grid", "translation_rows"]
