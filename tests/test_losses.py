"""Losses against hand-computed values, the gradient penalty against its closed form, weight clipping."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from anime_gan.errors import ConfigError
from anime_gan.losses import bamsgan_d_loss, build_loss, clip_weights_, cycle_l1_loss, gradient_penalty


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.5, -3.0])


def test_bce_with_seed001_fuzzy_labels_matches_hand_value():
    loss = build_loss({"name": "bce", "real_label": 0.9, "fake_label": 0.1})

    def ce(x: float, t: float) -> float:
        return -(t * math.log(sigmoid(x)) + (1 - t) * math.log(1 - sigmoid(x)))

    real = sum(ce(x, 0.9) for x in REAL.tolist()) / 2
    fake = sum(ce(x, 0.1) for x in FAKE.tolist()) / 2
    assert loss.d(REAL, FAKE).item() == pytest.approx(0.5 * (real + fake), rel=1e-6)
    assert loss.g(FAKE).item() == pytest.approx(sum(ce(x, 1.0) for x in FAKE.tolist()) / 2, rel=1e-6)


def test_lsgan_matches_seed001_formula():
    loss = build_loss({"name": "lsgan"})
    expected_d = 0.5 * ((2 - 1) ** 2 + (-1 - 1) ** 2) / 2 + 0.5 * (0.5**2 + 3.0**2) / 2
    assert loss.d(REAL, FAKE).item() == pytest.approx(expected_d)
    assert loss.g(FAKE).item() == pytest.approx(0.5 * ((0.5 - 1) ** 2 + (-3 - 1) ** 2) / 2)


def test_wasserstein_and_hinge():
    wgan = build_loss({"name": "wgan"})
    assert wgan.d(REAL, FAKE).item() == pytest.approx(FAKE.mean().item() - REAL.mean().item())
    assert wgan.g(FAKE).item() == pytest.approx(-FAKE.mean().item())
    hinge = build_loss({"name": "hinge"})
    # relu(1 - [2, -1]) = [0, 2]; relu(1 + [0.5, -3]) = [1.5, 0]
    assert hinge.d(REAL, FAKE).item() == pytest.approx(1.0 + 0.75)


def test_bamsgan_paper_form_sums_the_four_terms():
    blur, memory = torch.tensor([1.0, 0.0]), torch.tensor([-2.0, 4.0])
    loss = build_loss({"name": "bamsgan"})
    by_table = loss.d(REAL, FAKE, [(blur, 1.0), (memory, 1.0)]).item()

    def neg_log(p: float) -> float:
        return -math.log(p)

    hand = (sum(neg_log(sigmoid(x)) for x in REAL.tolist()) / 2
            + sum(neg_log(1 - sigmoid(x)) for x in FAKE.tolist()) / 2
            + sum(neg_log(1 - sigmoid(x)) for x in blur.tolist()) / 2
            + sum(neg_log(1 - sigmoid(x)) for x in memory.tolist()) / 2)
    assert by_table == pytest.approx(hand, rel=1e-6)
    assert bamsgan_d_loss(REAL, FAKE, blur, memory).item() == pytest.approx(hand, rel=1e-6)
    # The authors' code: hinge terms.
    hinge = bamsgan_d_loss(REAL, FAKE, blur, memory, form="hinge").item()
    assert hinge == pytest.approx(1.0 + 0.75 + (2 + 1) / 2 + (0 + 5) / 2)


def test_unknown_loss_and_bad_option_are_config_errors():
    with pytest.raises(ConfigError, match="not one of"):
        build_loss({"name": "softmax"})
    with pytest.raises(ConfigError):
        build_loss({"name": "lsgan", "real_label": 0.9})


def test_gradient_penalty_of_a_linear_critic_is_closed_form():
    # D(x) = w . x has gradient w everywhere, so the penalty is (||w|| - 1)^2 for every interpolate.
    critic = nn.Sequential(nn.Flatten(), nn.Linear(12, 1, bias=False))
    with torch.no_grad():
        critic[1].weight.copy_(torch.arange(12.0).reshape(1, 12) / 10)
    real, fake = torch.randn(5, 3, 2, 2), torch.randn(5, 3, 2, 2)
    norm = critic[1].weight.norm().item()
    assert gradient_penalty(critic, real, fake).item() == pytest.approx((norm - 1) ** 2, rel=1e-5)


def test_gradient_penalty_matches_finite_differences_of_a_nonlinear_critic():
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.Tanh(), nn.Linear(6, 1)).double()
    real, fake = torch.randn(3, 3, 2, 2, dtype=torch.float64), torch.randn(3, 3, 2, 2, dtype=torch.float64)
    gp = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(5)).item()
    # The same interpolates, then central differences of D along every input coordinate.
    alpha = torch.rand(3, 1, 1, 1, generator=torch.Generator().manual_seed(5), dtype=torch.float32).double()
    mixed = alpha * real + (1 - alpha) * fake
    eps, penalties = 1e-6, []
    with torch.no_grad():
        for x in mixed:
            grad = torch.zeros(12, dtype=torch.float64)
            for i in range(12):
                step = torch.zeros(12, dtype=torch.float64)
                step[i] = eps
                grad[i] = (critic((x.flatten() + step).reshape(1, 3, 2, 2)) -
                           critic((x.flatten() - step).reshape(1, 3, 2, 2))).item() / (2 * eps)
            penalties.append((grad.norm().item() - 1) ** 2)
    assert gp == pytest.approx(sum(penalties) / 3, rel=1e-5)


def test_gradient_penalty_is_differentiable_in_the_critic():
    critic = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 1))
    gp = gradient_penalty(critic, torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2))
    gp.backward()
    weights = [p for p in critic.parameters() if p.ndim == 2]  # an output bias cannot change grad_x D
    assert all(p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0 for p in weights)


def test_clip_weights_bounds_every_parameter():
    critic = nn.Linear(10, 10)
    with torch.no_grad():
        critic.weight.mul_(100)
    clip_weights_(critic, 0.01)
    assert max(p.abs().max().item() for p in critic.parameters()) <= 0.01 + 1e-9


def test_cycle_loss_is_zero_for_perfect_reconstruction_and_l1_otherwise():
    x, y = torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)
    assert cycle_l1_loss(x, x, y, y).item() == 0
    assert cycle_l1_loss(x, x + 0.5, y, y - 0.25).item() == pytest.approx(0.75)
