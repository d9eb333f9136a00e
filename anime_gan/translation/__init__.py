"""Using and scoring a trained translator (seed 000's photo-to-anime model and its CycleGAN baseline).

    translator = load_translator("data/runs/s000_translator/checkpoint.pt")   # anime_gan.experiment
    anime = translate(translator.g, photos_uint8)                            # uint8 (N, 3, H, W)
    grid = translation_grid(translator, photos_uint8[:8])                    # uint8 (3, H', W')
    scores = evaluate_translation("data/runs/s000_translator/checkpoint.pt", n=1000)

Training a translator is ``anime_gan.experiment.run_translation``; its loop is
``anime_gan.training.cycle_trainer``.
"""

from anime_gan.translation.evaluate import (evaluate_translation, holdout_images, score_translation, translate,
                                            translation_grid, translation_rows)

__all__ = ["evaluate_translation", "holdout_images", "score_translation", "translate", "translation_grid",
           "translation_rows"]
