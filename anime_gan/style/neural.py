"""Neural style transfer (Gatys, Ecker & Bethge 2016), optimising the pixels of one image.

    loss = content_weight * content_loss(F_content(x), F_content(content))
         + style_weight * style_loss([F_l(x)], [Gram(F_l(style))])      # equal layer weights 1 / L
         + tv_weight * total_variation_loss(x)

on the feature maps of a frozen backbone (:mod:`anime_gan.style.backbones`:
VGG-19 when present, else EfficientNet-Lite0; the record names which). The image
starts as the content (``init="content"``) or as seeded uniform noise
(``init="noise"``, Gatys' choice) and is optimised with Adam for a fixed number
of steps, clamped to [0, 1] after each step. Adam rather than L-BFGS: every step
costs exactly one forward and backward pass, so the number of steps bounds the
time on a CPU (L-BFGS makes a variable number of evaluations per step), and the
clamp to the valid pixel range fits between steps. Gradients are taken with
respect to the pixels only, so the shared backbone is never changed.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch
from tqdm.auto import tqdm

from anime_gan.device import pick_device
from anime_gan.errors import ConfigError
from anime_gan.losses import content_loss, gram_matrix, style_loss, total_variation_loss
from anime_gan.style.backbones import Backbone, load_backbone
from anime_gan.style.pixels import Image, from_unit_tensor, like, to_hwc, to_unit_tensor

INITS = ("content", "noise")


@dataclass
class NSTRecord:
    """What one neural style transfer did, to store beside its image."""

    backbone: str  # "vgg19" | "effnet"
    content_layers: list[str]
    style_layers: list[str]
    steps: int
    seconds: float
    optimiser: str
    weights: dict[str, float]  # content, style, tv
    init: str
    seed: int
    size: tuple[int, int]  # (height, width) of the result
    losses_start: dict[str, float]  # unweighted content, style and tv terms, and the weighted total
    losses_end: dict[str, float]
    backbone_details: dict = field(default_factory=dict)  # weights file, preprocessing, fallback note
    note: str | None = None  # set when VGG-19 was absent and EfficientNet-Lite0 was used

    def as_dict(self) -> dict:
        return asdict(self)


def _terms(backbone: Backbone, image: torch.Tensor, content_targets: list[torch.Tensor],
           style_grams: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    maps = backbone.features(image)
    content = sum(content_loss(maps[name], target) for name, target in zip(backbone.content_layers, content_targets))
    n_style = len(backbone.style_layers)
    style = style_loss([maps[name] for name in backbone.style_layers], style_grams, [1.0 / n_style] * n_style)
    return {"content": content, "style": style, "tv": total_variation_loss(image)}


def _weighted(terms: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    return sum(weights[name] * value for name, value in terms.items())


def _as_floats(terms: dict[str, torch.Tensor], weights: dict[str, float]) -> dict[str, float]:
    values = {name: float(value.detach()) for name, value in terms.items()}
    values["total"] = float(_weighted(terms, weights).detach())
    return values


def neural_style_transfer(
    content: Image,
    style: Image,
    steps: int = 300,  # Adam steps over the pixels
    lr: float = 0.02,  # Adam step size on pixels in [0, 1]
    content_weight: float = 1.0,
    style_weight: float = 1e3,  # Gram matrices are divided by C*H*W, so their squared errors are small
    tv_weight: float = 1.0,  # anisotropic L1 total variation, in [0, 1] pixel units
    backbone: str | Backbone = "auto",  # auto | vgg19 | effnet, or a loaded Backbone (reuse it over many images)
    init: str = "content",  # content | noise
    seed: int = 0,  # seeds the noise start; the rest is deterministic
    device: str | torch.device = "auto",  # auto: cuda > mps > cpu; a loaded ``backbone`` must live on it
    progress: bool = True,
) -> tuple[Image, NSTRecord]:
    """Gatys' style transfer of ``style`` onto ``content``: (the image, a record of the run).

    The result has the content's size and type (see :mod:`anime_gan.style.pixels`). The style image may
    have any size: only its Gram matrices are used.
    """
    if steps < 1:
        raise ConfigError(f"neural_style_transfer: steps must be at least 1, got {steps}")
    if init not in INITS:
        raise ConfigError(f"neural_style_transfer: init {init!r} is not one of {list(INITS)}")
    for name, value in (("lr", lr), ("content_weight", content_weight), ("style_weight", style_weight),
                        ("tv_weight", tv_weight)):
        if not value >= 0:
            raise ConfigError(f"neural_style_transfer: {name} must be >= 0, got {value}")
    if isinstance(backbone, Backbone) and device == "auto":
        device = backbone.device  # a loaded backbone decides where the pixels are optimised
    device = pick_device(device) if isinstance(device, str) else torch.device(device)
    net = backbone if isinstance(backbone, Backbone) else load_backbone(backbone, device)
    if net.device.type != device.type:
        raise ConfigError(f"neural_style_transfer: the backbone lives on {net.device} but device is {device}; "
                          f"load it on {device} or pass device='auto'")
    if net.note and progress and not isinstance(backbone, Backbone):  # a caller passing a Backbone says it once
        print(f"note: {net.note}")
    weights = {"content": content_weight, "style": style_weight, "tv": tv_weight}
    content_t = to_unit_tensor(to_hwc(content, "content")).to(device)  # (1, 3, H, W)
    style_t = to_unit_tensor(to_hwc(style, "style")).to(device)  # (1, 3, Hs, Ws)

    with torch.no_grad():
        content_maps = net.features(content_t)
        style_maps = net.features(style_t)
        content_targets = [content_maps[name] for name in net.content_layers]
        style_grams = [gram_matrix(style_maps[name]) for name in net.style_layers]  # (1, C, C) each

    generator = torch.Generator().manual_seed(seed)
    start = content_t.clone() if init == "content" else torch.rand(content_t.shape, generator=generator).to(device)
    image = start.requires_grad_(True)
    optimiser = torch.optim.Adam([image], lr=lr)

    began = time.perf_counter()
    losses_start: dict[str, float] = {}
    bar = tqdm(range(steps), desc=f"style transfer ({net.name})", unit="step", disable=not progress)
    for step in bar:
        terms = _terms(net, image, content_targets, style_grams)
        total = _weighted(terms, weights)
        if step == 0:
            losses_start = _as_floats(terms, weights)
        (grad,) = torch.autograd.grad(total, [image])  # the pixels only: the backbone's weights get no gradient
        image.grad = grad
        optimiser.step()
        with torch.no_grad():
            image.clamp_(0.0, 1.0)
        if progress and (step % 25 == 0 or step == steps - 1):
            bar.set_postfix(style=f"{float(terms['style']):.3g}", content=f"{float(terms['content']):.3g}")
    with torch.no_grad():
        losses_end = _as_floats(_terms(net, image, content_targets, style_grams), weights)
    seconds = time.perf_counter() - began

    result = from_unit_tensor(image)
    details = net.record()
    record = NSTRecord(
        backbone=net.name,
        content_layers=list(net.content_layers),
        style_layers=list(net.style_layers),
        steps=steps,
        seconds=round(seconds, 3),
        optimiser=f"Adam(lr={lr}), pixels clamped to [0, 1] after each step",
        weights=weights,
        init=init,
        seed=seed,
        size=(int(result.shape[0]), int(result.shape[1])),
        losses_start=losses_start,
        losses_end=losses_end,
        backbone_details=details,
        note=net.note,
    )
    return like(result, content), record
