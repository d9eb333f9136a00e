"""Networks by name. A config names a network and gives its arguments; unknown arguments are errors.

    G = build_generator({"name": "dcgan", "width": 64, "latent_dim": 100}, resolution=64)
    D = build_discriminator({"name": "sagan", "width": 64}, resolution=(128, 160))

Generators map z of shape (N, G.latent_dim) to images (N, 3, H, W) in [-1, 1];
discriminators map images to logits of shape (N,), except ``patchgan``, which gives a patch map (N, 1, h, w)
(the losses average over all logits either way). Translators map images to images of the same shape:

    G = build_translator({"name": "fpn_resnet18", "width": 64}, resolution=(128, 160))
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from torch import nn

from anime_gan.errors import ConfigError
from anime_gan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from anime_gan.models.layers import Resolution
from anime_gan.models.sagan import SAGANDiscriminator, SAGANGenerator, SelfAttention
from anime_gan.models.stylegan import StyleGANDiscriminator, StyleGANGenerator
from anime_gan.models.translator import CycleGANResNetGenerator, FPNResNetGenerator, PatchGANDiscriminator

GENERATORS: dict[str, Callable[..., nn.Module]] = {
    "dcgan": DCGANGenerator,
    "sagan": SAGANGenerator,
    "stylegan": StyleGANGenerator,
}
DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = {
    "dcgan": DCGANDiscriminator,
    "sagan": SAGANDiscriminator,
    "patchgan": PatchGANDiscriminator,
    "stylegan": StyleGANDiscriminator,
}


def component_keys(builder: Callable[..., nn.Module]) -> list[str]:
    """The config keys a network accepts: its constructor's arguments, except the resolution (set by the data)."""
    return [name for name in inspect.signature(builder).parameters if name != "resolution"]


def _build(registry: dict[str, Callable[..., nn.Module]], kind: str, component: dict[str, Any],
           resolution: Resolution) -> nn.Module:
    args = dict(component)
    name = args.pop("name", None)
    if name not in registry:
        raise ConfigError(f"{kind}.name {name!r} is not one of {sorted(registry)}")
    valid = component_keys(registry[name])
    unknown = sorted(set(args) - set(valid))
    if unknown:
        hint = " (the resolution comes from data.resolution)" if "resolution" in unknown else ""
        raise ConfigError(f"{kind} {name!r}: unknown key(s) {unknown}{hint}; valid keys: {['name', *valid]}")
    return registry[name](resolution=resolution, **args)


def build_generator(component: dict[str, Any], resolution: Resolution) -> nn.Module:
    """The generator ``component["name"]`` with the component's other keys as arguments."""
    return _build(GENERATORS, "generator", component, resolution)


def build_discriminator(component: dict[str, Any], resolution: Resolution) -> nn.Module:
    """The discriminator ``component["name"]`` with the component's other keys as arguments."""
    return _build(DISCRIMINATORS, "discriminator", component, resolution)


TRANSLATORS: dict[str, Callable[..., nn.Module]] = {
    "fpn_resnet18": FPNResNetGenerator,  # seed 000's generator
    "cyclegan_resnet": CycleGANResNetGenerator,  # CycleGAN's, the baseline
}


def build_translator(component: dict[str, Any], resolution: Resolution) -> nn.Module:
    """The image-to-image generator ``component["name"]`` with the component's other keys as arguments."""
    return _build(TRANSLATORS, "translator", component, resolution)


__all__ = [
    "GENERATORS",
    "DISCRIMINATORS",
    "TRANSLATORS",
    "build_generator",
    "build_discriminator",
    "build_translator",
    "component_keys",
    "DCGANGenerator",
    "DCGANDiscriminator",
    "SAGANGenerator",
    "SAGANDiscriminator",
    "FPNResNetGenerator",
    "CycleGANResNetGenerator",
    "PatchGANDiscriminator",
    "SelfAttention",
    "StyleGANGenerator",
    "StyleGANDiscriminator",
]
