"""Seed 004's image style transfer, by family: traditional methods and neural style transfer.

    from anime_gan.style import stylize
    result, record = stylize("histogram", content, style)   # uint8 (H, W, 3) arrays, or (3, H, W) tensors
    result, record = stylize("nst", content, style, steps=300)
    record["backbone"]                                      # "vgg19", or "effnet" when VGG-19 is absent

Images are uint8 RGB (H, W, 3) numpy arrays; uint8 (3, H, W) tensors are accepted
too and returned as tensors (:mod:`anime_gan.style.pixels`). The loss terms
(Gram matrix, content, style, total variation, feature matching) live with the
other losses in :mod:`anime_gan.losses`.
"""

from __future__ import annotations

import inspect
import time
from typing import Any, Callable

from anime_gan.errors import ConfigError
from anime_gan.style.pixels import Image
from anime_gan.style.traditional import cartoon, histogram_match, patch_synthesis

METHODS = ("histogram", "cartoon", "patch", "nst")


def _neural(content: Image, style: Image, **options: Any) -> tuple[Image, dict]:
    from anime_gan.style.neural import neural_style_transfer

    result, record = neural_style_transfer(content, style, **options)
    return result, record.as_dict()


TRADITIONAL: dict[str, Callable[..., Image]] = {
    "histogram": histogram_match,
    "cartoon": cartoon,
    "patch": patch_synthesis,
}


def stylize(method: str, content: Image, style: Image, **options: Any) -> tuple[Image, dict]:
    """``method`` (histogram | cartoon | patch | nst) applied to ``content`` with ``style``: (image, record).

    ``options`` go to the method's function; the record names the method, its options and the seconds taken
    (for nst, the full :class:`anime_gan.style.neural.NSTRecord`, backbone included).
    """
    if method not in METHODS:
        raise ConfigError(f"style method {method!r} is not one of {list(METHODS)}")
    if method == "nst":
        result, record = _neural(content, style, **options)
        return result, {"method": method, **record}
    function = TRADITIONAL[method]
    valid = [name for name in inspect.signature(function).parameters if name not in ("content", "style")]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(f"style method {method!r}: unknown option(s) {unknown}; valid: {valid}")
    began = time.perf_counter()
    result = function(content, style, **options)
    return result, {"method": method, "options": options, "seconds": round(time.perf_counter() - began, 4)}


__all__ = ["METHODS", "cartoon", "histogram_match", "patch_synthesis", "stylize"]
