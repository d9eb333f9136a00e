"""Networks by name. A config names a network and gives its arguments; unknown arguments are errors.

    build_generator({"name": "dcgan", "width": 64, "latent_dim": 100}, resolution=64)
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from torch import nn

from anime_gan.errors import ConfigError
from anime_gan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from anime_gan.models.sagan import SAGANDiscriminator, SAGANGenerator

GENERATORS: dict[str, Callable[..., nn.Module]] = {
    "dcgan": DCGANGenerator,
    "sagan": SAGANGenerator,
}
DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = {
    "dcgan": DCGANDiscriminator,
    "sagan": SAGANDiscriminator,
}


def _build(registry: dict[str, Callable[..., nn.Module]], kind: str, component: dict[str, Any], resolution) -> nn.Module:
    args = dict(component)
    name = args.pop("name", None)
    if name not in registry:
        raise ConfigError(f"{kind}.name {name!r} is not one of {sorted(registry)}")
    valid = [p for p in inspect.signature(registry[name]).parameters if p != "resolution"]
    unknown = sorted(set(args) - set(valid))
    if unknown:
        raise ConfigError(f"{kind} {name!r}: unknown key(s) {unknown}; valid keys: {['name'] + valid}")
    return registry[name](resolution=resolution, **args)


def build_generator(component: dict[str, Any], resolution) -> nn.Module:
    """A generator mapping z of shape (N, latent_dim) to images (N, 3, H, W) in [-1, 1]."""
    return _build(GENERATORS, "generator", component, resolution)


def build_discriminator(component: dict[str, Any], resolution) -> nn.Module:
    """A discriminator mapping images (N, 3, H, W) to logits (N,)."""
    return _build(DISCRIMINATORS, "discriminator", component, resolution)


__all__ = ["GENERATORS", "DISCRIMINATORS", "build_generator", "build_discriminator"]
