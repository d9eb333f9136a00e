"""Networks: output shapes at every supported resolution, parameter counts, spectral norm, attention."""

from __future__ import annotations

import pytest
import torch

from anime_gan.errors import ConfigError
from anime_gan.models import build_discriminator, build_generator
from anime_gan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from anime_gan.models.layers import is_spectral_normalised
from anime_gan.models.sagan import SAGANDiscriminator, SAGANGenerator, SelfAttention

RESOLUTIONS = [32, 64, 96, (128, 160)]


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("resolution", RESOLUTIONS)
@pytest.mark.parametrize("name", ["dcgan", "sagan"])
def test_generator_and_discriminator_shapes(name, resolution):
    height, width = resolution if isinstance(resolution, tuple) else (resolution, resolution)
    generator = build_generator({"name": name, "width": 8, "latent_dim": 16}, resolution)
    discriminator = build_discriminator({"name": name, "width": 8}, resolution)
    images = generator(torch.randn(3, 16))
    assert images.shape == (3, 3, height, width)
    assert images.min() >= -1 and images.max() <= 1  # tanh range, the range of the real images
    assert discriminator(images).shape == (3,)  # one logit per image


def test_dcgan_64_has_the_reference_parameter_counts():
    # The PyTorch DCGAN example (ngf = ndf = 64, nz = 100) at 64x64: 3,576,704 and 2,765,568 parameters.
    assert count(DCGANGenerator(64, 64, 100)) == 3_576_704
    assert count(DCGANDiscriminator(64, 64)) == 2_765_568


def test_sagan_spectral_norm_bounds_the_largest_singular_value():
    discriminator = SAGANDiscriminator(32, 8)
    convs = [m for m in discriminator.modules() if is_spectral_normalised(m)]
    assert convs, "SAGAN's discriminator must be spectrally normalised"
    discriminator.train()
    for _ in range(30):  # power iterations run in training-mode forwards
        discriminator(torch.randn(2, 3, 32, 32))
    for conv in convs:
        sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2).item()
        assert sigma == pytest.approx(1.0, abs=0.05)


def test_self_attention_starts_as_identity_and_mixes_positions_once_gamma_moves():
    attention = SelfAttention(16)
    x = torch.randn(2, 16, 4, 4)
    assert torch.equal(attention(x), x)
    with torch.no_grad():
        attention.gamma.fill_(1.0)
    out = attention(x)
    changed = x.clone()
    changed[:, :, 0, 0] += 1.0  # one position changes ...
    assert not torch.allclose(attention(changed)[:, :, 3, 3], out[:, :, 3, 3])  # ... and a far one sees it


def test_sagan_generator_places_attention_at_the_two_largest_hidden_maps():
    generator = SAGANGenerator(64, 8, 16)
    assert sum(isinstance(m, SelfAttention) for m in generator.modules()) == 2


def test_bad_component_keys_and_resolutions_are_config_errors():
    with pytest.raises(ConfigError, match="widht"):
        build_generator({"name": "dcgan", "widht": 8}, 32)
    with pytest.raises(ConfigError):
        build_generator({"name": "stylegan9"}, 32)
    with pytest.raises((ConfigError, ValueError)):
        build_generator({"name": "dcgan"}, 30)
