"""Seed 004's comparison of style-transfer families on the same content/style pairs, with the same yardsticks.

For every method, each content photograph is stylised with its paired anime face, and these numbers say how:

- seconds per image;
- content distance: Gatys' content loss between the result and the photograph on the backbone's content layer
  (lower: the photo's layout survives). OPTIMISED BY NST: it is NST's own content term on the same network;
- style distance: Gatys' Gram-matrix style loss between the result and its style image on the backbone's style
  layers, equal weights (lower: the anime face's textures and colours were taken over). OPTIMISED BY NST: its
  own style term;
- content SSIM (independent): structural similarity of the result and the photograph in grey
  (:mod:`anime_gan.metrics.classical`; higher: structure kept);
- colour distance (independent): Bhattacharyya distance of the result's and the style image's hue-saturation
  histograms (lower: the style's colours taken over);

plus ``fd_effnet`` of the whole stylised set against held-out anime faces (how anime-like the results are as a
set). Two reference rows give the scale: the photographs themselves (no stylisation: content distance 0, SSIM 1)
and the style images themselves (style distance 0, colour distance 0); what each reference scores on the other
axis is what an unrelated image scores.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from tqdm.auto import tqdm

from anime_gan.device import pick_device
from anime_gan.errors import ConfigError
from anime_gan.losses import content_loss, gram_matrix, style_loss
from anime_gan.metrics.classical import hue_saturation_distance, structural_similarity_grey
from anime_gan.style import METHODS, stylize
from anime_gan.style.backbones import Backbone, load_backbone


PHOTOS_ROW, STYLES_ROW = "photographs (no stylisation)", "style images themselves"  # the two reference rows
# The numbers of a row, what each measures, and which method optimises it (None: no method does).
MEASURES = {
    "content_distance": {"what": "content loss to the photograph on the backbone's content layer (lower: kept)",
                         "optimised_by": "nst"},
    "style_distance": {"what": "Gram-matrix style loss to the style image on the backbone's style layers "
                               "(lower: taken)", "optimised_by": "nst"},
    "content_ssim": {"what": "SSIM of the grey result and the grey photograph (higher: kept)", "optimised_by": None},
    "colour_distance": {"what": "Bhattacharyya distance of the hue-saturation histograms of the result and the "
                                "style image (lower: taken)", "optimised_by": None},
}


@dataclass
class MethodResult:
    method: str
    images: torch.Tensor  # uint8 (N, 3, H, W)
    seconds_per_image: float
    records: list[dict] = field(default_factory=list)


def stylize_all(method: str, contents: torch.Tensor, styles: torch.Tensor, nst_steps: int = 100,
                backbone: Backbone | None = None, progress: bool = True,
                device: str | torch.device = "auto") -> MethodResult:
    """``method`` on every (content i, style i) pair of two uint8 (N, 3, H, W) batches; NST runs on ``device``
    (auto: cuda > mps > cpu; a given ``backbone`` must live there)."""
    if len(contents) != len(styles):
        raise ConfigError(f"{len(contents)} content images but {len(styles)} style images: they are used in pairs")
    options: dict[str, Any] = {}
    if method == "nst":
        options = {"steps": nst_steps, "backbone": backbone or "auto", "progress": False,
                   "device": backbone.device if backbone is not None else device}
    results, records = [], []
    began = time.perf_counter()
    for content, style in tqdm(list(zip(contents, styles)), desc=f"stylise ({method})", unit="img",
                               disable=not progress):
        image, record = stylize(method, content, style, **options)
        results.append(image)
        records.append(record)
    seconds = (time.perf_counter() - began) / max(1, len(contents))
    return MethodResult(method, torch.stack(results), round(seconds, 4), records)


@torch.no_grad()
def style_distances(results: torch.Tensor, contents: torch.Tensor, styles: torch.Tensor,
                    backbone: Backbone, batch_size: int = 16) -> dict[str, float]:
    """Mean content and style distances of uint8 results to their contents and styles (see the module doc), on
    the backbone's device."""
    content_total = style_total = 0.0
    n_style = len(backbone.style_layers)
    for start in range(0, len(results), batch_size):
        chunk = slice(start, start + batch_size)
        as_unit = [x[chunk].to(backbone.device).float().div(255) for x in (results, contents, styles)]  # -> [0, 1]
        result_maps, content_maps, style_maps = (backbone.features(x) for x in as_unit)
        n = len(as_unit[0])
        for i in range(n):
            content_total += sum(content_loss(result_maps[k][i : i + 1], content_maps[k][i : i + 1]).item()
                                 for k in backbone.content_layers)
            style_total += style_loss([result_maps[k][i : i + 1] for k in backbone.style_layers],
                                      [gram_matrix(style_maps[k][i : i + 1]) for k in backbone.style_layers],
                                      [1.0 / n_style] * n_style).item()
    return {"content_distance": content_total / len(results), "style_distance": style_total / len(results)}


def independent_distances(results: torch.Tensor, contents: torch.Tensor, styles: torch.Tensor) -> dict[str, float]:
    """Mean content SSIM (grey) of uint8 results to their contents and mean hue-saturation histogram distance to
    their styles: measures that no method optimises (see the module doc)."""
    return {"content_ssim": float(structural_similarity_grey(results, contents).mean()),
            "colour_distance": float(hue_saturation_distance(results, styles).mean())}


def compare_methods(contents: torch.Tensor, styles: torch.Tensor, reference: torch.Tensor,
                    methods: Sequence[str] = METHODS, nst_steps: int = 100, device: str | torch.device = "auto",
                    progress: bool = True, cache_dir=None, reference_name: str = "anime faces (held out)"
                    ) -> tuple[dict[str, MethodResult], list[dict]]:
    """Every method on the same pairs; returns the stylised sets and one table row per method (plus the two
    reference rows), with ``fd_effnet`` of each set against ``reference`` (held-out anime faces, uint8). The backbone,
    NST and the metrics run on ``device`` (auto: cuda > mps > cpu)."""
    import warnings

    from anime_gan.metrics import evaluate_images

    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ConfigError(f"unknown style method(s) {unknown}; choose from {list(METHODS)}")
    device = pick_device(device) if isinstance(device, str) else torch.device(device)
    backbone = load_backbone("auto", device)
    outcomes = {m: stylize_all(m, contents, styles, nst_steps, backbone, progress, device) for m in methods}
    rows = []
    sets = [(PHOTOS_ROW, contents, 0.0), (STYLES_ROW, styles, 0.0)]
    sets += [(m, r.images, r.seconds_per_image) for m, r in outcomes.items()]
    for label, images, seconds in sets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # small N (tens of pairs): the covariance is singular by construction
            fd = evaluate_images(images, reference, ["fd_effnet"], reference_name=reference_name,
                                 device=device, progress=False, cache_dir=cache_dir)["fd_effnet"]
        rows.append({"method": label, "seconds_per_image": seconds,
                     **style_distances(images, contents, styles, backbone),
                     **independent_distances(images, contents, styles), "fd_effnet": fd, "n": len(images),
                     "backbone": backbone.name})
    return outcomes, rows
