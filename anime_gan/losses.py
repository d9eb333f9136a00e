"""Adversarial losses as small pure functions of discriminator logits, and a name -> loss table.

Each loss is split into the discriminator's term on real logits, its term on fake
logits, and the generator's term. Splitting the fake term out is what lets
BaMSGAN's extra fakes (edge-blurred images, replayed memories) join any loss:

    loss.d(real, fake, extras) = d_scale * (d_real(real) + d_fake(fake) + sum(w * d_fake(x) for x, w in extras))
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from anime_gan.errors import ConfigError

Term = Callable[[torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------- terms (pure functions of logits)


def bce_term(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Mean cross-entropy of sigmoid(logits) against a constant (possibly smoothed) label."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def least_squares_term(logits: torch.Tensor, target: float) -> torch.Tensor:
    """LSGAN with seed 001's factor: 1/2 E[(D - target)^2]."""
    return 0.5 * (logits - target).pow(2).mean()


def wasserstein_real(logits: torch.Tensor) -> torch.Tensor:
    return -logits.mean()


def wasserstein_fake(logits: torch.Tensor) -> torch.Tensor:
    return logits.mean()


def hinge_real(logits: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - logits).mean()


def hinge_fake(logits: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 + logits).mean()


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class AdversarialLoss:
    d_real: Term  # discriminator's loss on real logits
    d_fake: Term  # discriminator's loss on fake logits (generated, blurred or replayed)
    g_fake: Term  # generator's loss on the logits of its samples
    d_scale: float = 1.0  # 0.5 where the paper averages the real and fake terms

    def d(self, real: torch.Tensor, fake: torch.Tensor,
          extras: Sequence[tuple[torch.Tensor, float]] = ()) -> torch.Tensor:
        total = self.d_real(real) + self.d_fake(fake)
        for logits, weight in extras:
            total = total + weight * self.d_fake(logits)
        return self.d_scale * total

    def g(self, fake: torch.Tensor) -> torch.Tensor:
        return self.g_fake(fake)


def bce(real_label: float = 1.0, fake_label: float = 0.0) -> AdversarialLoss:
    """Non-saturating GAN loss; seed 001 smooths labels to 0.9 / 0.1 and averages D's two terms."""
    return AdversarialLoss(
        d_real=functools.partial(bce_term, target=real_label),
        d_fake=functools.partial(bce_term, target=fake_label),
        g_fake=functools.partial(bce_term, target=1.0),
        d_scale=0.5,
    )


def lsgan() -> AdversarialLoss:
    """Seed 001's LSGAN: D 1/2 E[(D(x)-1)^2] + 1/2 E[D(G(z))^2]; G 1/2 E[(D(G(z))-1)^2]."""
    return AdversarialLoss(
        d_real=functools.partial(least_squares_term, target=1.0),
        d_fake=functools.partial(least_squares_term, target=0.0),
        g_fake=functools.partial(least_squares_term, target=1.0),
    )


def wasserstein_real_with_drift(logits: torch.Tensor, drift: float) -> torch.Tensor:
    """-E[D(x)] + drift * E[D(x)^2]: ProGAN's drift term keeps the critic's scores near 0."""
    return -logits.mean() + drift * logits.pow(2).mean()


def wgan(drift: float = 0.0) -> AdversarialLoss:
    """Wasserstein critic E[D(G(z))] - E[D(x)], generator -E[D(G(z))]; pair with weight clipping or a gradient penalty.

    ``drift`` adds drift * E[D(x)^2] to the critic's real term (ProGAN and StyleGAN's WGAN-GP: 0.001).
    """
    d_real = functools.partial(wasserstein_real_with_drift, drift=drift) if drift else wasserstein_real
    return AdversarialLoss(d_real=d_real, d_fake=wasserstein_fake, g_fake=wasserstein_real)


def hinge() -> AdversarialLoss:
    """SAGAN's hinge loss (also BaMSGAN's code): relu(1 - D(x)) + relu(1 + D(G(z))); G -E[D(G(z))]."""
    return AdversarialLoss(d_real=hinge_real, d_fake=hinge_fake, g_fake=wasserstein_real)


def bamsgan() -> AdversarialLoss:
    """BaMSGAN's paper form: -[log D(x) + log(1-D(G(z))) + log(1-D(blur)) + log(1-D(memory))], a plain sum
    of batch means (the extra fakes come in as ``extras``); G non-saturating."""
    return AdversarialLoss(
        d_real=functools.partial(bce_term, target=1.0),
        d_fake=functools.partial(bce_term, target=0.0),
        g_fake=functools.partial(bce_term, target=1.0),
    )


def nonsaturating() -> AdversarialLoss:
    """The logistic loss of StyleGAN (Karras et al. 2019): D softplus(-D(x)) + softplus(D(G(z))) (a sum, not
    averaged as seed 001's BCE), G softplus(-D(G(z))); pair with the R1 penalty (train.r1_gamma)."""
    return AdversarialLoss(
        d_real=functools.partial(bce_term, target=1.0),
        d_fake=functools.partial(bce_term, target=0.0),
        g_fake=functools.partial(bce_term, target=1.0),
    )


LOSSES: dict[str, Callable[..., AdversarialLoss]] = {
    "bce": bce,
    "lsgan": lsgan,
    "wgan": wgan,
    "hinge": hinge,
    "bamsgan": bamsgan,
    "nonsaturating": nonsaturating,
}


def build_loss(component: dict[str, Any]) -> AdversarialLoss:
    args = dict(component)
    name = args.pop("name", None)
    if name not in LOSSES:
        raise ConfigError(f"loss.name {name!r} is not one of {sorted(LOSSES)}")
    valid = list(inspect.signature(LOSSES[name]).parameters)
    unknown = sorted(set(args) - set(valid))
    if unknown:
        raise ConfigError(f"loss {name!r}: unknown key(s) {unknown}; valid keys: {['name'] + valid}")
    return LOSSES[name](**args)


# ---------------------------------------------------------------- explicit forms and regularisers


def bamsgan_d_loss(
    real: torch.Tensor,
    fake: torch.Tensor,
    blur: torch.Tensor | None = None,
    memory: torch.Tensor | None = None,
    form: str = "bce",
    weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
) -> torch.Tensor:
    """BaMSGAN's discriminator loss written out term by term.

    form="bce" is the paper's equation (softplus keeps log-sigmoid stable: -log D(x) = softplus(-x),
    -log(1 - D(x)) = softplus(x)); form="hinge" is the authors' code.
    """
    if form == "bce":
        real_term, fake_term = (lambda x: F.softplus(-x).mean()), (lambda x: F.softplus(x).mean())
    elif form == "hinge":
        real_term, fake_term = hinge_real, hinge_fake
    else:
        raise ConfigError(f"bamsgan_d_loss form {form!r} is not 'bce' or 'hinge'")
    w_real, w_fake, w_blur, w_memory = weights
    total = w_real * real_term(real) + w_fake * fake_term(fake)
    if blur is not None:
        total = total + w_blur * fake_term(blur)
    if memory is not None:
        total = total + w_memory * fake_term(memory)
    return total


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None, alpha: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP: E[(||grad_x D(x_hat)||_2 - 1)^2] at random interpolates x_hat = a x + (1 - a) G(z).

    ``alpha`` (N,) gives the interpolation weights; otherwise they are drawn uniformly from ``generator``.
    """
    if alpha is None:
        alpha = torch.rand(real.shape[0], device=real.device, generator=generator, dtype=torch.float32)
    alpha = alpha.float().reshape(-1, 1, 1, 1)
    mixed = (alpha * real.float() + (1 - alpha) * fake.float()).to(real.dtype).requires_grad_(True)
    scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return (grad.flatten(1).float().norm(2, dim=1) - 1).pow(2).mean()


def r1_penalty(discriminator: nn.Module, real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): E_x[||grad_x D(x)||_2^2] on real images only.

    The caller adds (gamma / 2) * r1_penalty(D, real) to D's loss (StyleGAN: gamma = 10 with the
    non-saturating loss). The graph is kept so that the penalty can be differentiated.
    """
    real = real.detach().requires_grad_(True)
    scores = discriminator(real)
    (grad,) = torch.autograd.grad(scores.float().sum(), real, create_graph=True)
    return grad.flatten(1).float().pow(2).sum(1).mean()


@torch.no_grad()
def clip_weights_(module: nn.Module, c: float = 0.01) -> None:
    """WGAN weight clipping: every parameter of the critic into [-c, c], in place."""
    for parameter in module.parameters():
        parameter.clamp_(-c, c)


def cycle_l1_loss(x: torch.Tensor, reconstructed_x: torch.Tensor, y: torch.Tensor,
                  reconstructed_y: torch.Tensor) -> torch.Tensor:
    """CycleGAN's cycle consistency: ||F(G(x)) - x||_1 + ||G(F(y)) - y||_1 (means over pixels).

    Seed 000's eq. 9 prints the second term as ||F(G(x)) - y||_1, a typo: the backward cycle
    y -> F(y) -> G(F(y)) must return to y, as its own text and CycleGAN's eq. 2 say, so the term is
    ||G(F(y)) - y||_1 with ``reconstructed_y`` = G(F(y)).
    """
    return (reconstructed_x - x).abs().mean() + (reconstructed_y - y).abs().mean()


def identity_l1_loss(y: torch.Tensor, mapped_y: torch.Tensor) -> torch.Tensor:
    """CycleGAN's identity term for G: X -> Y: ||G(y) - y||_1 (mean over pixels), with ``mapped_y`` = G(y).

    A generator given an image already in its target domain should leave it alone; this keeps colours from
    drifting. CycleGAN adds it for both generators (||F(x) - x||_1 too), weighted by lambda_identity *
    lambda_cycle = 0.5 * 10.
    """
    return (mapped_y - y).abs().mean()


# ---------------------------------------------------------------- style transfer terms (seed 004)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix of feature maps (N, C, H, W) -> (N, C, C): G = F F^T / (C * H * W), F the maps flattened to (C, H*W).

    Dividing by C*H*W makes the value an average over positions (and channels), so images and layers of
    different sizes give Gram matrices of the same scale.
    """
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)  # (N, C, H*W)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)  # (N, C, C)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Gatys' content term as a mean squared error over all elements, mean((F - P)^2); ``target`` is a constant."""
    return F.mse_loss(features, target.detach().expand_as(features))


def style_loss(features: Sequence[torch.Tensor], targets: Sequence[torch.Tensor],
               weights: Sequence[float] | None = None) -> torch.Tensor:
    """Gatys' style term: sum over layers l of w_l * mean((G(F_l) - A_l)^2), with G = :func:`gram_matrix`.

    ``targets`` holds, per layer, either the style's Gram matrices (N or 1, C, C) or its feature maps
    (N or 1, C, H, W), whose Gram matrices are then taken; a batch of one is compared with every image.
    ``weights`` defaults to 1 per layer.
    """
    if len(features) != len(targets):
        raise ValueError(f"style_loss: {len(features)} feature maps but {len(targets)} targets")
    weights = [1.0] * len(features) if weights is None else list(weights)
    if len(weights) != len(features):
        raise ValueError(f"style_loss: {len(features)} feature maps but {len(weights)} weights")
    total = features[0].new_zeros(())
    for maps, target, weight in zip(features, targets, weights):
        gram = gram_matrix(maps)  # (N, C, C)
        target_gram = gram_matrix(target) if target.ndim == 4 else target  # (N or 1, C, C)
        total = total + weight * F.mse_loss(gram, target_gram.detach().expand_as(gram))
    return total


def total_variation_loss(images: torch.Tensor) -> torch.Tensor:
    """Anisotropic L1 total variation of (N, C, H, W) images: the mean absolute difference of vertical
    neighbours plus the mean absolute difference of horizontal neighbours."""
    vertical = (images[..., 1:, :] - images[..., :-1, :]).abs().mean()  # (N, C, H-1, W)
    horizontal = (images[..., :, 1:] - images[..., :, :-1]).abs().mean()  # (N, C, H, W-1)
    return vertical + horizontal


def feature_matching_loss(real_features: torch.Tensor | Sequence[torch.Tensor],
                          fake_features: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """Feature matching (Salimans et al. 2016), summed over D's intermediate layers l:

        sum_l || mean_i f_l(x_i) - mean_j f_l(G(z_j)) ||_2^2

    the squared L2 norm (a sum over feature dimensions, not a mean) of the difference between the batch
    means of each layer's features, flattened per image. Real features are detached: this is a generator
    term. Accepts one tensor or a list of tensors, one per layer, each (N, ...).
    """
    if isinstance(real_features, torch.Tensor):
        real_features, fake_features = [real_features], [fake_features]
    if len(real_features) != len(fake_features):
        raise ValueError(f"feature_matching_loss: {len(real_features)} real layers but {len(fake_features)} fake")
    total = fake_features[0].new_zeros(())
    for real, fake in zip(real_features, fake_features):
        real_mean = real.detach().flatten(1).mean(0)  # (N, D) -> (D,)
        fake_mean = fake.flatten(1).mean(0)  # (M, D) -> (D,)
        total = total + (real_mean - fake_mean).pow(2).sum()
    return total
