"""Exponential moving average (EMA) of a generator's weights, and BatchNorm statistics that belong to it.

The EMA copy averages parameters only. Its BatchNorm running statistics cannot be
averaged the same way: the live generator's statistics describe the live weights'
activations, not the averaged weights', and sampling the EMA copy in eval mode with
them shifts every normalised layer. ``recompute_batchnorm_stats`` measures the EMA
copy's own statistics on fresh noise ("precise BN"), from a fixed seed so that the
result is a function of the weights alone and a resumed run stays exact.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
BATCHNORM_MODES = ("recompute", "copy")


def ema_decay_at(decay: float, updates: int) -> float:
    """The decay after ``updates`` updates, warmed up as min(decay, (1 + t) / (10 + t)): early on the average
    follows the model closely, so a short run is not dominated by the random initialisation."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


def ema_record(decay: float, updates: int) -> dict[str, Any]:
    """How an EMA copy was averaged, for a run's summary: the set decay, the warm-up, the decay its last update
    used, and the first update at which the warm-up reaches the set decay (0.999: update 8,990)."""
    if decay <= 0:
        return {"decay": 0.0}
    reached = max(0, math.ceil((10.0 * decay - 1.0) / (1.0 - decay)))  # (1 + t) / (10 + t) >= decay, solved for t
    while reached > 0 and ema_decay_at(decay, reached - 1) >= decay:  # guard the closed form against rounding
        reached -= 1
    while ema_decay_at(decay, reached) < decay:
        reached += 1
    return {"decay": decay, "warmup": "min(decay, (1 + t) / (10 + t)) at update t (0-based)", "updates": updates,
            "last_update_decay": ema_decay_at(decay, updates - 1) if updates > 0 else None,
            "decay_reached_at_update": reached}


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model for parameters; buffers (BatchNorm statistics, spectral-norm
    vectors, StyleGAN's tracked mean w) are copied, because averaging power-iteration vectors would break them."""
    torch._foreach_lerp_(list(ema.parameters()), [p.detach() for p in model.parameters()], 1.0 - decay)
    for ema_buffer, buffer in zip(ema.buffers(), model.buffers()):
        ema_buffer.copy_(buffer)


def has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, _BATCHNORMS) for m in module.modules())


@torch.no_grad()
def recompute_batchnorm_stats(generator: nn.Module, latent_dim: int, batches: int = 8, batch_size: int = 256,
                              seed: int = 0, device: torch.device | None = None) -> None:
    """Replace every BatchNorm's running mean and variance by their exact averages over ``batches`` batches of
    the generator's own training-mode activations on seeded noise (momentum None = cumulative average)."""
    norms = [m for m in generator.modules() if isinstance(m, _BATCHNORMS)]
    if not norms:
        return
    device = device or next(generator.parameters()).device
    momenta = [m.momentum for m in norms]
    was_training = generator.training
    rng = torch.Generator().manual_seed(seed)
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
        generator.train()
        for _ in range(batches):
            generator(torch.randn(batch_size, latent_dim, generator=rng).to(device))
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        generator.train(was_training)
