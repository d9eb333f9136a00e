"""Networks by name. A config names a network and gives its arguments; unknown arguments are errors.

    G = build_generator({"name": "dcgan", "width": 64, "latent_dim": 100}, resolution=64)
    D = build_discriminator({"name": "sagan", "width": 64}, resolution=(128, 160))

Generators map z of shape (N, G.latent_dim) to images (N, 3, H, W) in [-1, 1];
discriminators map images to logits of shape (N,).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from torch import nn

from anime_gan.errors import ConfigError
from anime_gan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from anime_gan.models.layers import Resolution
from anime_gan.models.sagan import SAGANDiscriminator, SAGANGenerator, SelfAttention

GENERATORS: dict[str, Callable[..., nn.Module]] = {
    "dcgan": DCGANGenerator,
    "sagan": SAGANGenerator,
}
DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = {
    "dcgan": DCGANDiscriminator,
    "sagan": SAGANDiscriminator,
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


__all__ = [
    "GENERATORS",
    "DISCRIMINATORS",
    "build_generator",
    "build_discriminator",
    "component_keys",
    "DCGANGenerator",
    "DCGANDiscriminator",
    "SAGANGenerator",
    "SAGANDiscriminator",
    "SelfAttention",
]
