"""Using and scoring a trained translator (seed 000's photo-to-anime model and its CycleGAN baseline).

    translator = load_translator("data/runs/s000_translator/checkpoint.pt")   # anime_gan.experiment
    anime = translate(translator.g, photos_uint8)                            # uint8 (N, 3, H, W)
    grid = translation_grid(translator, photos_uint8[:8])                    # uint8 (3, H', W')
    scores = evaluate_translation("data/runs/s000_translator/checkpoint.pt", n=1000)
    result = translate_photo(translator, photo_pixels, size=128)             # one's own photo: face found, framed

- ``evaluate``: translating tensors, grids, scores;
- ``faces``: finding, levelling and framing the face of an arbitrary photograph (OpenCV's Haar cascades);
- ``photos``: photographs and photo files through G (the ``translate`` command).

Training a translator is ``anime_gan.experiment.run_translation``; its loop is
``anime_gan.training.cycle_trainer``.
"""

from anime_gan.translation.evaluate import (evaluate_translation, holdout_images, score_translation, translate,
                                            translation_grid, translation_rows)
from anime_gan.translation.faces import FaceCrop, find_face
from anime_gan.translation.photos import (NoFaceFound, PhotoTranslation, comparison_sheet, holdout_photographs,
                                          translate_photo, translate_photo_files)

__all__ = ["FaceCrop", "NoFaceFound", "PhotoTranslation", "comparison_sheet", "evaluate_translation", "find_face",
           "holdout_images", "holdout_photographs", "score_translation", "translate", "translate_photo",
           "translate_photo_files", "translation_grid", "translation_rows"]
