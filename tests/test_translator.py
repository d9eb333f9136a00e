"""Seed 000's translator parts: generator geometry, the PatchGAN's receptive field and patch maps, parameter counts,
gradient flow, the cycle and identity losses on hand-computed values, the pool of past fakes, the photo dataset."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from anime_gan.data.datasets import get_spec, locate
from anime_gan.errors import ConfigError, DataError
from anime_gan.training.image_pool import ImagePool
from anime_gan.losses import cycle_l1_loss, identity_l1_loss
from anime_gan.models import TRANSLATORS, build_discriminator, build_translator, component_keys
from anime_gan.models.translator import (
    CycleGANResNetGenerator,
    FPNResNetGenerator,
    PatchGANDiscriminator,
    ResidualBlock,
    receptive_field,
)
from test_translate import inert_biases  # the one definition of "biases a following InstanceNorm cancels"

SIZES = [(64, 64), (96, 96), (128, 160)]  # the project's size, seed 000's anime avatars, seed 000's CelebA


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------- generators


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", ["fpn_resnet18", "cyclegan_resnet"])
def test_translators_return_images_of_the_input_shape(name, size):
    torch.manual_seed(0)
    generator = build_translator({"name": name, "width": 8}, resolution=size)
    images = torch.rand(2, 3, *size) * 2 - 1
    out = generator(images)
    assert out.shape == (2, 3, *size)
    assert out.min() >= -1 and out.max() <= 1  # tanh: the range of the real images


def test_fpn_encoder_halves_four_times_and_ends_at_one_sixteenth():
    generator = FPNResNetGenerator((128, 160), width=8)
    maps = generator.encode(torch.randn(1, 3, 128, 160))
    # reslayer-1..4 at 1/2, 1/4, 1/8, 1/16 with ResNet-18's widths w, 2w, 4w, 8w
    assert [tuple(m.shape) for m in maps] == [(1, 8, 64, 80), (1, 16, 32, 40), (1, 32, 16, 20), (1, 64, 8, 10)]


def test_fpn_decoder_adds_the_encoder_maps_back():
    # Zeroing reslayer-1's contribution through its last fusion conv changes the output: the skip reaches it.
    torch.manual_seed(0)
    generator = FPNResNetGenerator(64, width=8)
    images = torch.randn(1, 3, 64, 64)
    before = generator(images)
    with torch.no_grad():
        generator.layers[0].blocks[1].fuse[0].weight.zero_()
        generator.layers[0].blocks[1].fuse[0].bias.zero_()
    assert not torch.allclose(generator(images), before)


@pytest.mark.parametrize("name, rule", [("fpn_resnet18", "multiples of 16"), ("cyclegan_resnet", "multiples of 4")])
def test_sides_off_the_grid_are_one_clear_error(name, rule):
    with pytest.raises(ConfigError, match=rule):
        build_translator({"name": name, "width": 8}, resolution=100 if name == "fpn_resnet18" else 66)
    generator = build_translator({"name": name, "width": 8}, resolution=64)
    with pytest.raises(DataError, match=rule):
        generator(torch.randn(1, 3, 72, 66))


def test_registry_names_and_config_keys():
    assert {"fpn_resnet18", "cyclegan_resnet"} <= set(TRANSLATORS)
    assert component_keys(TRANSLATORS["fpn_resnet18"]) == ["width", "weight_init"]
    assert component_keys(TRANSLATORS["cyclegan_resnet"]) == ["width", "n_blocks", "weight_init"]
    with pytest.raises(ConfigError, match="n_blcks"):
        build_translator({"name": "cyclegan_resnet", "n_blcks": 6}, resolution=64)
    with pytest.raises(ConfigError, match="fpn_resnet18"):
        build_translator({"name": "fpn"}, resolution=64)
    baseline = build_translator({"name": "cyclegan_resnet", "width": 8, "n_blocks": 6}, resolution=64)
    assert sum(isinstance(m, ResidualBlock) for m in baseline.modules()) == 6


def test_parameter_counts_at_width_64():
    # CycleGAN's published counts (its code prints them): resnet_9blocks G 11.378 M, n_layers=3 D 2.765 M.
    assert count(CycleGANResNetGenerator(128, 64, n_blocks=9)) == 11_378_179
    assert count(CycleGANResNetGenerator(128, 64, n_blocks=6)) == 7_837_699  # 3 x R256 = 3 x 1,180,160 fewer
    assert count(PatchGANDiscriminator(96, 64)) == 2_764_737
    # Seed 000's generator, counted by hand: stem 9,536; reslayers 295,552 + 959,744 + 3,836,416 + 15,340,544;
    # top-down convs 1,549,184; head 17,859. E.g. reslayer-1, per block: 2 x 36,864 branch convs + 2 x 128 norms +
    # the 3x3 fusion conv (64 + 64) x 64 x 9 + 64 bias = 73,792.
    assert count(FPNResNetGenerator(96, 64)) == 22_008_835
    # Section 4.2: "in the downsampling part, each convolution layer uses a 3x3 convolution kernel", the fusion
    # convs included (3 per block, 2 blocks per layer, 4 layers), each with padding 1.
    encoder_convs = [m for m in FPNResNetGenerator(96, 8).layers.modules() if isinstance(m, nn.Conv2d)]
    assert len(encoder_convs) == 4 * 2 * 3
    assert {(m.kernel_size, m.padding) for m in encoder_convs} == {((3, 3), (1, 1))}


@pytest.mark.parametrize("network", [
    lambda: FPNResNetGenerator(64, 8),
    lambda: CycleGANResNetGenerator(64, 8, n_blocks=2),
    lambda: PatchGANDiscriminator(64, 8),
], ids=["fpn_resnet18", "cyclegan_resnet", "patchgan"])
def test_gradients_reach_every_parameter(network):
    torch.manual_seed(0)
    net = network()
    out = net(torch.randn(2, 3, 64, 64))
    (out * torch.randn_like(out)).sum().backward()
    inert = inert_biases(net)
    live = [p.grad.abs().max().item() for p in net.parameters() if id(p) not in inert]
    assert all(p.grad is not None for p in net.parameters())
    assert min(live) > 0
    if isinstance(net, FPNResNetGenerator):
        assert not inert  # the paper's generator has no parameter a norm cancels
    else:  # CycleGAN's conventions keep a bias before each norm (in the published counts); it gets ~0 gradient
        assert inert
        assert max(p.grad.abs().max().item() for p in net.parameters() if id(p) in inert) < 1e-4 * min(live)


# ---------------------------------------------------------------- PatchGAN


def test_patchgan_receptive_field_read_from_its_layers_is_70():
    assert receptive_field(PatchGANDiscriminator(96, 8)) == 70
    # pix2pix's other PatchGANs: 16x16 with one stride-2 layer, 286x286 with five
    assert receptive_field(PatchGANDiscriminator(96, 8, n_layers=1)) == 16
    assert receptive_field(PatchGANDiscriminator(512, 8, n_layers=5)) == 286


def test_one_logit_depends_on_a_70x70_window():
    # Independent of receptive_field(): with the norms taken out (InstanceNorm couples every pixel of a channel),
    # the gradient of one interior logit is non-zero on exactly a 70x70 window of the image.
    torch.manual_seed(0)
    network = PatchGANDiscriminator(128, 8)
    network.net = nn.Sequential(*[nn.Identity() if isinstance(m, nn.InstanceNorm2d) else m for m in network.net])
    images = torch.randn(1, 3, 128, 128, requires_grad=True)
    network(images)[0, 0, 7, 7].backward()
    seen = images.grad[0].abs().sum(0) > 0
    rows, cols = seen.any(1).nonzero().flatten(), seen.any(0).nonzero().flatten()
    assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (70, 70)
    assert seen.sum() == 70 * 70


@pytest.mark.parametrize("side", [32, 64])
def test_each_logit_depends_on_exactly_its_window_and_at_32_px_every_window_is_the_whole_image(side):
    # Independent of windows(): with the norms taken out, the gradient of logit (i, i) is non-zero on exactly its
    # window, cut to the image (the rest of the window is padding).
    torch.manual_seed(0)
    network = PatchGANDiscriminator(side, 8)
    windows = network.windows(side)
    assert len(windows) == network.patch_map_size(side, side)[0]
    assert all(end - start == 70 for start, end in windows)
    network.net = nn.Sequential(*[nn.Identity() if isinstance(m, nn.InstanceNorm2d) else m for m in network.net])
    for i, (start, end) in enumerate(windows):
        images = torch.randn(1, 3, side, side, requires_grad=True)
        network(images)[0, 0, i, i].backward()
        rows = (images.grad[0].abs().sum((0, 2)) > 0).nonzero().flatten()
        assert (rows.min().item(), rows.max().item() + 1) == (max(start, 0), min(end, side))
    assert network.sees_whole_images(side, side) == (side == 32)  # 2x2 logits at 32 px; 6x6 patches at 64 px


@pytest.mark.parametrize("size, patches", [((64, 64), (6, 6)), ((96, 96), (10, 10)), ((128, 160), (14, 18)),
                                           ((256, 256), (30, 30)), ((24, 24), (1, 1)), ((50, 37), (4, 2))])
def test_patchgan_returns_a_patch_map_for_any_size(size, patches):
    network = build_discriminator({"name": "patchgan", "width": 8}, resolution=96)
    assert network(torch.randn(2, 3, *size)).shape == (2, 1, *patches)
    assert network.patch_map_size(*size) == patches


def test_patchgan_refuses_images_below_one_patch():
    network = PatchGANDiscriminator(96, 8)
    assert network.min_side == 24
    with pytest.raises(DataError, match="at least 24x24"):
        network(torch.randn(1, 3, 23, 64))
    with pytest.raises(ConfigError, match="at least 24x24"):
        PatchGANDiscriminator(16, 8)


# ---------------------------------------------------------------- losses


def test_cycle_loss_on_hand_computed_values():
    x = torch.tensor([0.0, 1.0, 2.0, 3.0])
    f_g_x = torch.tensor([0.5, 1.0, 1.0, 3.0])  # |diff| 0.5, 0, 1, 0 -> mean 0.375
    y = torch.tensor([1.0, -1.0])
    g_f_y = torch.tensor([0.0, 0.0])  # |diff| 1, 1 -> mean 1
    assert cycle_l1_loss(x, f_g_x, y, g_f_y).item() == pytest.approx(1.375)
    # The backward cycle is compared with y, not with x's reconstruction (seed 000's eq. 9 typo).
    assert cycle_l1_loss(x, x, y, y).item() == 0


def test_identity_loss_on_hand_computed_values():
    y = torch.tensor([[-1.0, 0.5], [1.0, 0.0]])
    g_y = torch.tensor([[-0.5, 0.5], [0.0, 0.0]])  # |diff| 0.5, 0, 1, 0 -> mean 0.375
    assert identity_l1_loss(y, g_y).item() == pytest.approx(0.375)
    assert identity_l1_loss(y, y).item() == 0
    g_y = g_y.clone().requires_grad_(True)
    identity_l1_loss(y, g_y).backward()
    assert g_y.grad.tolist() == [[0.25, 0.0], [-0.25, 0.0]]  # sign(G(y) - y) / 4; |x|'s gradient at 0 is 0


# ---------------------------------------------------------------- image pool


def tagged(*tags: int) -> torch.Tensor:
    """A batch of (3, 2, 2) images, image i filled with the number tags[i]."""
    return torch.tensor(tags, dtype=torch.float32).reshape(-1, 1, 1, 1).expand(-1, 3, 2, 2).clone()


def tags_of(images: torch.Tensor) -> list[int]:
    return [int(t) for t in images[:, 0, 0, 0].tolist()]


def test_pool_passes_images_through_until_full_and_never_holds_more_than_its_size():
    pool = ImagePool(4, generator=torch.Generator().manual_seed(0))
    assert tags_of(pool.query(tagged(0, 1, 2))) == [0, 1, 2]
    assert tags_of(pool.query(tagged(3))) == [3]
    assert sorted(tags_of(torch.stack(pool.images))) == [0, 1, 2, 3]
    for start in range(10, 200, 5):
        pool.query(tagged(*range(start, start + 5)))
        assert len(pool) == 4
    assert len(pool.state_dict()["images"]) == 4


def test_pool_of_size_zero_passes_through_and_stores_nothing():
    pool = ImagePool(0, generator=torch.Generator().manual_seed(0))
    batch = tagged(5, 6, 7).requires_grad_(True)
    out = pool.query(batch)
    assert torch.equal(out, batch) and not out.requires_grad
    assert len(pool) == 0


def test_full_pool_returns_a_stored_past_image_half_the_time():
    size, queries = 10, 4000
    pool = ImagePool(size, generator=torch.Generator().manual_seed(1234))
    pool.query(tagged(*range(size)))  # fill
    past = 0
    for new in range(size, size + queries):
        stored = set(tags_of(torch.stack(pool.images)))
        (returned,) = tags_of(pool.query(tagged(new)))
        now = tags_of(torch.stack(pool.images))
        if returned != new:
            past += 1
            assert returned in stored  # really a stored past image ...
            assert returned not in now and new in now  # ... swapped out for the new one
        else:
            assert set(now) == stored  # the pool is unchanged
        assert len(now) == size
    # Binomial(4000, 0.5): standard deviation of the share 0.0079; tolerance 0.03 is 3.8 of them.
    assert past / queries == pytest.approx(0.5, abs=0.03)


def test_pool_resumes_exactly_from_its_state_dict():
    batches = [tagged(*range(k * 3, k * 3 + 3)) for k in range(40)]
    pool = ImagePool(5, generator=torch.Generator().manual_seed(7))
    for batch in batches[:20]:
        pool.query(batch)
    buffer = io.BytesIO()
    torch.save(pool.state_dict(), buffer)  # as a checkpoint would
    uninterrupted = [pool.query(batch) for batch in batches[20:]]

    buffer.seek(0)
    resumed = ImagePool(5, generator=torch.Generator().manual_seed(99))  # another seed: the state must override it
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert [tags_of(resumed.query(batch)) for batch in batches[20:]] == [tags_of(out) for out in uninterrupted]
    assert any(tags_of(out) != tags_of(batch) for out, batch in zip(uninterrupted, batches[20:]))  # swaps happened

    with pytest.raises(ConfigError, match="size"):
        ImagePool(6, generator=torch.Generator()).load_state_dict(pool.state_dict())


def test_pool_rejects_bad_sizes():
    with pytest.raises(ConfigError, match="non-negative"):
        ImagePool(-1, generator=torch.Generator())


# ---------------------------------------------------------------- the photo domain


def test_utkface_photos_is_registered_with_its_licence_and_sources(monkeypatch, tmp_path):
    spec = get_spec("utkface-photos")
    assert spec.env_var == "ANIME_GAN_DATA_UTKFACE_PHOTOS"
    assert "non-commercial research" in spec.licence
    monkeypatch.delenv("ANIME_GAN_MIRROR", raising=False)
    monkeypatch.delenv(spec.env_var, raising=False)
    with pytest.raises(DataError, match="ANIME_GAN_DATA_UTKFACE_PHOTOS"):
        locate("utkface-photos", root=tmp_path)


def test_utkface_photos_is_found_in_the_mirror(mirror_dir, monkeypatch, tmp_path):
    monkeypatch.delenv("ANIME_GAN_DATA_UTKFACE_PHOTOS", raising=False)
    source = locate("utkface-photos", root=tmp_path, fetch=False)
    assert source.describe()["kind"] == "mirror" and source.path.name == "utkface-photos-5k.tar"
