"""StyleGAN and progressive growing: known answers for every piece (shapes per stage, fade-in identities, AdaIN
statistics, style mixing, truncation, equalised learning rate, R1, the growth plan) and the bad-input errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from anime_gan.config import from_dict
from anime_gan.errors import ConfigError
from anime_gan.training.growth import GrowthConfig, GrowthSchedule, fade_real
from anime_gan.losses import build_loss, r1_penalty
from anime_gan.models import build_discriminator, build_generator
from anime_gan.models.stylegan import (
    EqualizedConv2d,
    EqualizedLinear,
    StyleGANDiscriminator,
    StyleGANGenerator,
    adain,
    minibatch_stddev,
    mix_styles,
    style_mixing_images,
    truncation_strip,
)

SMALL = dict(width=8, max_channels=16, latent_dim=16, w_dim=16, mapping_layers=2)


def small_pair(resolution: int = 16) -> tuple[StyleGANGenerator, StyleGANDiscriminator]:
    torch.manual_seed(0)
    return StyleGANGenerator(resolution, **SMALL), StyleGANDiscriminator(resolution, width=8, max_channels=16)


def randomise_(module: nn.Module) -> nn.Module:
    """Non-trivial values for parameters that start at 0 or 1 (noise strengths, biases), so identities are tested."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    return module


# ---------------------------------------------------------------- shapes and growth


def test_output_has_the_stage_resolution_at_every_stage_and_fresh_networks_are_full_size():
    generator, discriminator = small_pair(32)
    z = torch.randn(4, 16)
    assert generator(z).shape == (4, 3, 32, 32)  # a new network is at its final stage, alpha 1
    for stage, side in enumerate([4, 8, 16, 32]):
        for alpha in (0.0, 0.5, 1.0):
            generator.set_growth(stage, alpha)
            discriminator.set_growth(stage, alpha)
            images = generator(z)
            assert images.shape == (4, 3, side, side)
            assert discriminator(images).shape == (4,)
    with pytest.raises(ValueError, match="16x16"):
        discriminator.set_growth(2, 1.0)
        discriminator(torch.randn(4, 3, 32, 32))  # full-size reals at a 16x16 stage are a loop error


def test_faded_generator_at_alpha_0_is_the_upsampled_previous_stage_and_linear_in_alpha():
    generator = randomise_(small_pair(16)[0]).eval()
    z = torch.randn(3, 16)
    for stage in (1, 2):
        generator.set_growth(stage - 1, 1.0)
        previous = generator(z, noise="const")
        generator.set_growth(stage, 0.0)
        assert torch.equal(generator(z, noise="const"), F.interpolate(previous, scale_factor=2, mode="nearest"))
        # Random noise too: the earlier layers draw their noise first, so the same seed gives the same maps.
        generator.set_growth(stage - 1, 1.0)
        torch.manual_seed(5)
        previous = generator(z)
        generator.set_growth(stage, 0.0)
        torch.manual_seed(5)
        assert torch.equal(generator(z), F.interpolate(previous, scale_factor=2, mode="nearest"))
        generator.set_growth(stage, 0.0)
        start = generator(z, noise="const")
        generator.set_growth(stage, 1.0)
        full = generator(z, noise="const")
        generator.set_growth(stage, 0.25)
        assert torch.allclose(generator(z, noise="const"), 0.75 * start + 0.25 * full, atol=1e-6)
        assert not torch.allclose(start, full)


def test_faded_discriminator_at_alpha_0_scores_the_downsampled_input_at_the_previous_stage():
    discriminator = randomise_(small_pair(16)[1])
    images = torch.randn(8, 3, 16, 16)
    for stage, side in ((2, 16), (1, 8)):
        x = F.avg_pool2d(images, 16 // side)
        discriminator.set_growth(stage - 1, 1.0)
        previous = discriminator(F.avg_pool2d(x, 2))
        discriminator.set_growth(stage, 0.0)
        assert torch.equal(discriminator(x), previous)
        discriminator.set_growth(stage, 1.0)
        assert not torch.allclose(discriminator(x), previous)  # the new block does change the score once faded in


def test_only_the_active_blocks_get_gradients():
    generator, discriminator = small_pair(16)
    generator.set_growth(1, 1.0)
    discriminator.set_growth(1, 1.0)
    discriminator(generator(torch.randn(4, 16))).sum().backward()
    assert generator.synthesis.to_rgb[2].weight.grad is None and generator.synthesis.layers[4].style.weight.grad is None
    assert discriminator.from_rgb[2].weight.grad is None and discriminator.blocks[2].conv0.weight.grad is None
    assert generator.synthesis.to_rgb[1].weight.grad is not None and discriminator.from_rgb[1].weight.grad is not None
    assert generator.mapping.layers[0].weight.grad is not None


def test_growth_stage_is_saved_with_the_weights():
    generator = small_pair(16)[0]
    generator.set_growth(1, 0.25)
    restored = StyleGANGenerator(16, **SMALL)
    restored.load_state_dict(generator.state_dict())
    assert (restored.synthesis.stage, restored.synthesis.alpha) == (1, 0.25)


# ---------------------------------------------------------------- style pieces


def test_adain_output_has_the_style_bias_as_mean_and_the_style_scale_as_std():
    x = 3.0 * torch.randn(2, 5, 8, 8, dtype=torch.float64) + 7.0
    scale = torch.rand(2, 5, dtype=torch.float64) + 0.5
    bias = torch.randn(2, 5, dtype=torch.float64)
    out = adain(x, scale, bias)
    assert torch.allclose(out.mean(dim=(2, 3)), bias, atol=1e-10)
    assert torch.allclose(out.std(dim=(2, 3), unbiased=False), scale, atol=1e-7)


def record_styles(generator: StyleGANGenerator) -> tuple[list[torch.Tensor], list]:
    """The w each styled layer's affine receives, in layer order, for the next forward."""
    seen: list[torch.Tensor] = []
    hooks = [layer.style.register_forward_hook(lambda module, args, out: seen.append(args[0].detach().clone()))
             for layer in generator.synthesis.layers]
    return seen, hooks


def test_crossover_at_layer_k_feeds_the_first_w_below_k_and_the_second_from_k():
    generator = small_pair(16)[0].eval()  # 6 styled layers
    w1, w2 = generator.mapping(torch.randn(3, 16)), generator.mapping(torch.randn(3, 16))
    for k in range(generator.num_style_layers + 1):
        seen, hooks = record_styles(generator)
        generator.synthesis(mix_styles(w1, w2, k, generator.num_style_layers))
        for hook in hooks:
            hook.remove()
        assert len(seen) == 6
        for layer, w in enumerate(seen):
            assert torch.equal(w, w1 if layer < k else w2), (k, layer)


def test_training_forward_mixes_two_ws_at_one_random_crossover_per_batch():
    generator = StyleGANGenerator(16, **SMALL, style_mixing_prob=1.0).train()
    z = torch.randn(4, 16)
    w = generator.mapping(z).detach()
    crossovers = set()
    for seed in range(12):
        torch.manual_seed(seed)
        seen, hooks = record_styles(generator)
        generator(z)
        for hook in hooks:
            hook.remove()
        first = [torch.equal(s, w) for s in seen]
        k = first.index(False)
        assert 1 <= k < 6 and all(first[:k]) and not any(first[k:])  # one crossover, inside the active layers
        assert all(torch.equal(s, seen[k]) for s in seen[k:])  # a single second w for the fine layers
        crossovers.add(k)
    assert len(crossovers) > 1  # the crossover is random
    generator.style_mixing_prob = 0.0
    seen, hooks = record_styles(generator)
    generator(z)
    assert all(torch.equal(s, w) for s in seen)


def test_truncation_psi_0_gives_the_mean_w_image_for_every_z_and_psi_1_changes_nothing():
    generator = randomise_(small_pair(16)[0])
    generator.train()
    z_seen = torch.randn(64, 16)
    generator(z_seen)  # one training forward from w_avg = 0: w_avg = (1 - 0.995) * mean(w)
    assert torch.allclose(generator.w_avg, 0.005 * generator.mapping(z_seen).mean(0).detach(), atol=1e-6)
    generator.eval()
    z = torch.randn(5, 16)
    mean_image = generator.synthesis(generator.broadcast(generator.w_avg[None]), noise="const")
    out = generator(z, truncation_psi=0.0, noise="const")
    assert torch.allclose(out, mean_image.expand_as(out), atol=1e-5)  # batched convs round differently
    untouched = generator.synthesis(generator.broadcast(generator.mapping(z)), noise="const")
    assert torch.equal(generator(z, truncation_psi=1.0, noise="const"), untouched)
    half = generator(z, truncation_psi=0.5, noise="const")
    assert not torch.allclose(half, untouched) and not torch.allclose(half, out)


def test_truncation_cutoff_pulls_only_the_first_layers_to_the_mean_w():
    generator = randomise_(small_pair(16)[0])  # 3 resolutions, 6 style layers
    with torch.no_grad():
        generator.w_avg.normal_()
    ws = generator.broadcast(generator.mapping(torch.randn(5, 16))).detach()
    for cutoff in (1, 2, 4, 6):
        out = generator.truncate(ws, 0.3, cutoff)
        assert torch.allclose(out[:, :cutoff], generator.w_avg + 0.3 * (ws[:, :cutoff] - generator.w_avg))
        assert torch.equal(out[:, cutoff:], ws[:, cutoff:])  # the later (fine) layers keep their w exactly
    assert torch.equal(generator.truncate(ws, 0.3, 6), generator.truncate(ws, 0.3))  # cutoff at L: every layer
    assert torch.equal(generator.truncate(ws, 1.0, 2), ws)
    # Through the forward: psi 0 with cutoff 2 gives the mean w on the 4x4 layers and each z's own w above.
    generator.eval()
    z = torch.randn(3, 16)
    expected_ws = generator.broadcast(generator.mapping(z)).clone()
    expected_ws[:, :2] = generator.w_avg
    expected = generator.synthesis(expected_ws, noise="const")
    assert torch.allclose(generator(z, truncation_psi=0.0, noise="const", truncation_cutoff=2), expected, atol=1e-6)
    for bad in (0, 7, True, 2.5):
        with pytest.raises(ConfigError, match=r"truncation cutoff .* in \[1, 6\]"):
            generator(z, truncation_psi=0.5, truncation_cutoff=bad)


def test_sampling_checks_the_cutoff_against_the_generator():
    from anime_gan.experiment import check_truncation, generate_images

    generator = small_pair(16)[0].eval()
    a = generate_images(generator, 4, seed=3, truncation_psi=0.5, truncation_cutoff=2)
    b = generate_images(generator, 4, seed=3, truncation_psi=0.5)
    assert a.shape == (4, 3, 16, 16) and not torch.equal(a, b)
    with pytest.raises(ConfigError, match=r"in \[1, 6\] \(this generator has 6 style layers"):
        check_truncation(generator, 0.5, 9)
    dcgan = build_generator({"name": "dcgan", "latent_dim": 16, "width": 8}, 16)
    with pytest.raises(ConfigError, match="truncation cutoff 2 needs a generator with a mapping network"):
        check_truncation(dcgan, 1.0, 2)


def test_equalised_learning_rate_runtime_weight_is_stored_weight_times_he_constant():
    generator, discriminator = small_pair(16)
    linear_gain = {"style", "to_rgb", "out"}  # layers with a linear output use gain 1, the others sqrt(2)
    checked = 0
    for network in (generator, discriminator):
        for name, layer in network.named_modules():
            if not isinstance(layer, (EqualizedLinear, EqualizedConv2d)):
                continue
            gain = 1.0 if any(part in linear_gain for part in name.split(".")) else math.sqrt(2.0)
            fan_in = layer.weight[0].numel()
            lr_mul = 0.01 if name.startswith("mapping.") else 1.0
            expected = layer.weight * gain / math.sqrt(fan_in) * lr_mul
            if isinstance(layer, EqualizedLinear):
                x = torch.randn(3, layer.weight.shape[1])
                reference = F.linear(x, expected, layer.bias * lr_mul)
            else:
                x = torch.randn(2, layer.weight.shape[1], 4, 4)
                reference = F.conv2d(x, expected, layer.bias, padding=layer.weight.shape[-1] // 2)
            assert torch.allclose(layer(x), reference, rtol=1e-5, atol=1e-6), name
            checked += 1
    # G: 2 mapping layers, 6 affines, 5 convs (the first layer styles the constant), 3 toRGBs;
    # D: 3 fromRGBs, 2 convs per block x 2 blocks, the 4x4 conv and two FC layers.
    assert checked == (2 + 6 + 5 + 3) + (3 + 2 * 2 + 3)
    # Stored weights are N(0, 1/lr_mul): the mapping's are 100 times larger, its runtime weights are He-sized.
    mapping = generator.mapping.layers[1]
    assert mapping.weight.std().item() == pytest.approx(100.0, rel=0.15)
    assert mapping.runtime_weight().std().item() == pytest.approx(math.sqrt(2.0 / 16), rel=0.15)


def test_minibatch_stddev_appends_the_group_standard_deviation():
    x = torch.randn(8, 2, 4, 4)
    out = minibatch_stddev(x, group_size=4)
    assert out.shape == (8, 3, 4, 4) and torch.equal(out[:, :2], x)
    group = x[[1, 3, 5, 7]]  # strided groups: sample 1 is with 3, 5, 7
    expected = group.std(dim=0, unbiased=False).mean()
    assert torch.allclose(out[3, 2], expected.expand(4, 4), atol=1e-5)


# ---------------------------------------------------------------- figures


def test_style_mixing_grid_layout_and_extreme_crossovers():
    generator = randomise_(small_pair(16)[0])
    z_rows, z_cols = torch.randn(2, 16), torch.randn(3, 16)
    layers = generator.num_style_layers
    grid = style_mixing_images(generator, z_rows, z_cols, crossover_layer=2)
    assert grid.shape == (3 * 4, 3, 16, 16)
    assert torch.equal(grid[0], torch.ones(3, 16, 16))  # blank corner
    all_fine = style_mixing_images(generator, z_rows, z_cols, crossover_layer=0).reshape(3, 4, 3, 16, 16)
    all_coarse = style_mixing_images(generator, z_rows, z_cols, crossover_layer=layers).reshape(3, 4, 3, 16, 16)
    for i in range(2):
        for j in range(3):
            # (batched convs round differently, hence the tolerance)
            assert torch.allclose(all_fine[i + 1, j + 1], all_fine[0, j + 1], atol=1e-5)  # = column source j
            assert torch.allclose(all_coarse[i + 1, j + 1], all_coarse[i + 1, 0], atol=1e-5)  # = row source i
            assert not torch.allclose(grid[4 * (i + 1) + j + 1], all_fine[0, j + 1], atol=1e-3)  # a real mix
            assert not torch.allclose(grid[4 * (i + 1) + j + 1], all_coarse[i + 1, 0], atol=1e-3)
    assert generator.training  # the mode is restored


def test_truncation_strip_rows_meet_at_the_mean_image():
    generator = randomise_(small_pair(16)[0])
    generator.train()
    generator(torch.randn(32, 16))  # a non-zero mean w
    strip = truncation_strip(generator, torch.randn(3, 16), [0.0, 0.5, 1.0]).reshape(3, 3, 3, 16, 16)
    assert torch.allclose(strip[0, 0], strip[1, 0], atol=1e-6) and torch.allclose(strip[0, 0], strip[2, 0], atol=1e-6)
    assert not torch.allclose(strip[0, 2], strip[1, 2])


# ---------------------------------------------------------------- losses


def test_r1_penalty_equals_a_finite_difference_estimate():
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(3, 1), nn.Flatten(0)).double()
    real = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    eps = 1e-6
    squared_norms = []
    for i in range(len(real)):
        grad = torch.zeros_like(real[i])
        for index in range(real[i].numel()):
            step = torch.zeros(real[i].numel(), dtype=torch.float64)
            step[index] = eps
            step = step.reshape(real[i].shape)
            up, down = real.clone(), real.clone()
            up[i] += step
            down[i] -= step
            grad.view(-1)[index] = (critic(up)[i] - critic(down)[i]) / (2 * eps)
        squared_norms.append(grad.pow(2).sum())
    expected = torch.stack(squared_norms).mean()
    assert r1_penalty(critic, real).item() == pytest.approx(expected.item(), rel=1e-6)


def test_wgan_drift_adds_the_squared_real_score_and_defaults_to_off():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    plain = build_loss({"name": "wgan"})
    drifted = build_loss({"name": "wgan", "drift": 0.001})
    assert plain.d(real, fake).item() == pytest.approx(fake.mean().item() - real.mean().item())
    assert drifted.d(real, fake).item() == pytest.approx(plain.d(real, fake).item() + 0.001 * (4 + 1) / 2)
    assert drifted.g(fake).item() == plain.g(fake).item()


# ---------------------------------------------------------------- the growth plan


def test_growth_plan_with_known_numbers():
    config = GrowthConfig(enabled=True, stable_images=100, fade_images=50, batch_sizes={4: 64, 8: 32, 32: 8})
    schedule = GrowthSchedule(config, 32, default_batch_size=16)
    # 4x4 [0, 100) | 8: fade [100, 150), stable [150, 250) | 16: fade [250, 300), stable [300, 400)
    # | 32: fade [400, 450), then stable to the end
    expected = {0: (0, 1.0), 99: (0, 1.0), 100: (1, 0.0), 125: (1, 0.5), 150: (1, 1.0), 249: (1, 1.0),
                260: (2, 0.2), 300: (2, 1.0), 449: (3, 0.98), 450: (3, 1.0), 10**9: (3, 1.0)}
    for shown, (stage, alpha) in expected.items():
        got_stage, got_alpha = schedule.stage(shown)
        assert got_stage == stage and got_alpha == pytest.approx(alpha), shown
    assert schedule.describe(125) == {"stage": 1, "resolution": 8, "alpha": 0.5}
    assert [schedule.batch_size(n) for n in (0, 120, 300, 500)] == [64, 32, 16, 8]  # 16x16 falls back to the default
    assert schedule.images_until_final() == 450

    later = GrowthSchedule(GrowthConfig(enabled=True, start_resolution=8, stable_images=10, fade_images=0), 16, 4)
    assert [later.stage(n) for n in (0, 9, 10)] == [(1, 1.0), (1, 1.0), (2, 1.0)]
    # A dotted override (growth.batch_sizes.8=32) arrives with a string key.
    assert from_dict(GrowthConfig, {"batch_sizes": {"8": 32}}, "growth").batch_sizes == {8: 32}
    off = GrowthSchedule(GrowthConfig(), 32, default_batch_size=16)
    assert off.stage(0) == (3, 1.0) and off.batch_size(0) == 16
    # phases 0..6 as above; each phase's batch size goes into the run's summary
    assert [schedule.phase_index(n) for n in (0, 99, 100, 150, 260, 300, 449, 450, 10**9)] == [0, 0, 1, 2, 3, 4, 5, 6, 6]
    record = schedule.record()
    assert [(p["resolution"], p["fading"], p["batch_size"]) for p in record["phases"]] == [
        (4, False, 64), (8, True, 32), (8, False, 32), (16, True, 16), (16, False, 16), (32, True, 8), (32, False, 8)]
    assert record["phases"][-1]["images_to"] is None and record["reset_optimizer"] is False


def test_schedule_sets_every_network_and_fades_the_real_images_like_the_generator():
    config = GrowthConfig(enabled=True, stable_images=100, fade_images=50)
    schedule = GrowthSchedule(config, 16, default_batch_size=8)
    generator, discriminator = small_pair(16)
    schedule.apply(125, [generator, discriminator, None, nn.Linear(1, 1)])
    assert (generator.synthesis.stage, generator.synthesis.alpha) == (1, 0.5)
    assert (discriminator.stage, discriminator.alpha) == (1, 0.5)
    images = torch.rand(4, 3, 16, 16) * 2 - 1
    at8, at4 = F.avg_pool2d(images, 2), F.avg_pool2d(images, 4)
    assert torch.allclose(schedule.real(images, 125), 0.5 * at8 + 0.5 * F.interpolate(at4, scale_factor=2), atol=1e-6)
    assert torch.allclose(schedule.real(images, 100), F.interpolate(at4, scale_factor=2), atol=1e-6)  # alpha 0
    assert torch.allclose(schedule.real(images, 0), at4, atol=1e-6)
    assert schedule.real(images, 10**6) is images  # final stage: untouched
    assert torch.allclose(fade_real(images, 8, 1.0), at8)


# ---------------------------------------------------------------- registry, sizes and bad input


def test_registry_builds_stylegan_with_profile_width_and_counts_parameters_by_hand():
    generator = build_generator({"name": "stylegan", **SMALL}, (8, 8))
    discriminator = build_discriminator({"name": "stylegan", "width": 8, "max_channels": 16}, 8)
    # G at 8x8, width 8, max 16, z = w = 16, 2 mapping layers:
    #   mapping 2 x (16*16 + 16) = 544; constant 16*4*4 = 256; 4x4 styled layers (C = 16): epilogue
    #   16 noise + 16 bias + affine (16*32 + 32) = 576, conv 16*16*9 = 2304; 8x8 layers (C = 8): epilogue
    #   8 + 8 + (16*16 + 16) = 288, convs 16*8*9 = 1152 and 8*8*9 = 576; toRGB 16*3 + 3 and 8*3 + 3.
    assert sum(p.numel() for p in generator.parameters()) == (
        544 + 256 + 576 + (2304 + 576) + (1152 + 288) + (576 + 288) + 51 + 27)  # = 6638
    # D: fromRGB 3*8 + 8 and 3*16 + 16; block 8 -> 4: 8*8*9 + 8 and 8*16*9 + 16; 4x4: conv (16 + 1)*16*9 + 16,
    #   FC 256*16 + 16, FC 16 + 1.
    assert sum(p.numel() for p in discriminator.parameters()) == 32 + 64 + 584 + 1168 + 2464 + 4112 + 17  # = 8441
    assert generator.latent_dim == 16 and generator.num_style_layers == 4


def test_bad_input_gives_one_clear_error_naming_the_valid_values():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['fade_imgs'\]; valid keys: \['batch_sizes', 'enabled'"):
        from_dict(GrowthConfig, {"fade_imgs": 10}, "growth")
    with pytest.raises(ConfigError, match=r"key 48 is not a stage resolution; valid keys are \[4, 8, 16"):
        GrowthConfig(enabled=True, batch_sizes={48: 16})
    with pytest.raises(ConfigError, match=r"\[4\] are not stages of this run; valid keys: \[8, 16, 32\]"):
        GrowthSchedule(GrowthConfig(enabled=True, start_resolution=8, batch_sizes={"4": 16}), 32, 16)
    # Above the final resolution: ignored, so that a profile may lower the resolution of a 64x64 config.
    assert GrowthSchedule(GrowthConfig(enabled=True, batch_sizes={"64": 16}), 32, 16).batch_size(10**9) == 16
    for bad in (48, 4, (32, 64), 30):
        with pytest.raises(ConfigError, match=r"one of \[8, 16, 32, 64, 128"):
            build_generator({"name": "stylegan", **SMALL}, bad)
        with pytest.raises(ConfigError, match=r"one of \[8, 16, 32, 64, 128"):
            build_discriminator({"name": "stylegan", "width": 8}, bad)
    generator = small_pair(8)[0]
    for psi in (-0.1, 1.5):
        with pytest.raises(ConfigError, match=r"outside \[0, 1\]"):
            generator(torch.randn(2, 16), truncation_psi=psi)
        with pytest.raises(ConfigError, match=r"outside \[0, 1\]"):
            truncation_strip(generator, torch.randn(2, 16), [0.5, psi])
    with pytest.raises(ConfigError, match="valid keys"):
        build_generator({"name": "stylegan", "mixing_prob": 0.5}, 16)


# ---------------------------------------------------------------- in the training loop


def growing_config(*overrides: str):
    from anime_gan.config import load_experiment
    from test_train import PINNED_SPEED

    return load_experiment(None, [
        "data.resolution=16", "generator.name=stylegan", "discriminator.name=stylegan", "generator.width=8",
        "generator.max_channels=16", "generator.latent_dim=16", "generator.w_dim=16", "generator.mapping_layers=2",
        "discriminator.width=8", "discriminator.max_channels=16", "loss.name=wgan", "loss.drift=0.001",
        "train.gp_weight=10", "train.batch_size=8", "train.epochs=7", "train.ema_decay=0.9", "train.device=cpu",
        "growth.enabled=true", "growth.stable_images=64", "growth.fade_images=96", "growth.batch_sizes={4: 16, 8: 8}",
        "log.every=3", "log.checkpoint_every=4", "log.sample_every=0", "log.epoch_samples=4",
        "log.keep_epoch_samples=2", "log.progress=false", *PINNED_SPEED, *overrides,
    ])


def test_growing_run_passes_every_stage_and_logs_it(tmp_path):
    import csv

    from anime_gan.experiment import build_trainer
    from test_train import synthetic_images

    trainer = build_trainer(growing_config(), tmp_path, images=synthetic_images(48, size=16))
    summary = trainer.fit()
    # 7 epochs of 48 images = 336 images: 64 stable at 4 px, 96 fading to 8, 64 stable at 8, 96 fading to 16, then
    # 16 stable at 16.
    assert summary["images"] >= 336
    rows = list(csv.DictReader((tmp_path / "losses.csv").open()))
    assert {int(r["resolution"]) for r in rows} == {4, 8, 16}
    assert any(0.0 < float(r["alpha"]) < 1.0 for r in rows)
    assert trainer.ema(torch.randn(2, 16)).shape == (2, 3, 16, 16)  # the EMA copy grew with G
    # The summary says what train.batch_size does not: each phase's batch size, and the EMA's effective decay.
    assert [(p["resolution"], p["batch_size"]) for p in summary["growth"]["phases"]] == [(4, 16), (8, 8), (8, 8),
                                                                                         (16, 8), (16, 8)]
    assert summary["growth"]["optimizer_resets_at_images"] == []  # growth.reset_optimizer is off here
    # 38 G steps: the warm-up min(0.9, (1 + t) / (10 + t)) is still below 0.9 at the last update (t = 37)
    assert summary["ema"]["last_update_decay"] == pytest.approx(38 / 47)
    assert summary["ema"]["decay_reached_at_update"] == 80 and summary["iterations"] == 38


# 64 images at 4 px in batches of 16 (iterations 0-3), the fade to 8 px from image 64 (iterations 4-15), 8 px stable
# from 160 (16-23), the fade to 16 px from 224 (24-35), 16 px stable from 320 (36-37): in batches of 8.
NEW_PHASE_ITERATIONS = (4, 16, 24, 36)


def adam_steps(optimizer: torch.optim.Optimizer, parameter: torch.Tensor) -> int:
    return int(optimizer.state[parameter]["step"])


@pytest.mark.parametrize("reset", [True, False])
def test_optimiser_state_is_emptied_at_the_first_step_of_each_phase_only_when_asked(tmp_path, reset):
    from anime_gan.experiment import build_trainer
    from test_train import synthetic_images

    trainer = build_trainer(growing_config(f"growth.reset_optimizer={str(reset).lower()}", "train.bf16=false"),
                            tmp_path, images=synthetic_images(48, size=16))
    g_weight = trainer.g_net.mapping.layers[0].weight  # trained at every stage
    d_weight = trainer.d_net.out.weight
    steps = []  # Adam counts its steps per parameter: right after a reset the count starts again at 1
    trainer.fit(on_iteration=lambda t: steps.append((adam_steps(t.g_optimizer, g_weight),
                                                     adam_steps(t.d_optimizer, d_weight))))
    last_reset = [max([0] + [r for r in NEW_PHASE_ITERATIONS if reset and r <= i]) for i in range(38)]
    assert steps == [(i - last + 1, i - last + 1) for i, last in enumerate(last_reset)]
    assert trainer.optimizer_resets == ([64, 160, 224, 320] if reset else [])


def test_concatenated_discriminator_batches_are_refused_where_d_mixes_samples(tmp_path):
    from anime_gan.config import load_experiment
    from anime_gan.experiment import build_trainer
    from test_train import synthetic_images

    images = synthetic_images(48, size=16)
    with pytest.raises(ConfigError, match=r"train.concat_d_batches .* discriminator.mbstd_group_size 4 .* mix real "
                                          r"and fake"):
        build_trainer(growing_config("train.concat_d_batches=true"), tmp_path / "mbstd", images=images)
    build_trainer(growing_config("train.concat_d_batches=true", "discriminator.mbstd_group_size=1"),
                  tmp_path / "plain", images=images)  # no layer mixes samples: allowed
    dcgan = load_experiment(None, ["data.resolution=16", "generator.width=8", "discriminator.width=8",
                                   "train.batch_size=8", "train.device=cpu", "train.concat_d_batches=true"])
    with pytest.raises(ConfigError, match=r"train.concat_d_batches .* has BatchNorm"):
        build_trainer(dcgan, tmp_path / "dcgan", images=images)


def test_a_budget_that_ends_before_the_final_stage_is_refused_with_both_numbers(tmp_path):
    from anime_gan.errors import ConfigError
    from anime_gan.experiment import build_trainer
    from test_train import synthetic_images

    # 6 epochs of 48 images = 288 images; the 16 px stage is fully in only after 64 + 96 + 64 + 96 = 320.
    with pytest.raises(ConfigError, match=r"after 320 images, but training draws 288"):
        build_trainer(growing_config("train.epochs=6"), tmp_path, images=synthetic_images(48, size=16))


@pytest.mark.parametrize("stop, reset", [(10, "false"), (10, "true"), (6, "true")],
                         ids=["mid-fade", "mid-fade-with-resets", "at-a-phase-start-with-resets"])
def test_growing_run_killed_mid_fade_resumes_to_identical_weights(tmp_path, stop, reset):
    from anime_gan.training import checkpoint as ckpt
    from anime_gan.experiment import build_trainer
    from test_train import Interrupt, assert_same_state, final_state, synthetic_images

    images = synthetic_images(48, size=16)
    config = growing_config(f"growth.reset_optimizer={reset}", "train.bf16=false")  # fp32: exact on every host
    unbroken = build_trainer(config, tmp_path / "unbroken", images=images)
    unbroken.fit()

    def stop_early(trainer):
        if trainer.iteration == stop:  # after the checkpoint at iteration 8 (inside the fade to 8 px) or 4
            raise Interrupt

    first = build_trainer(config, tmp_path / "broken", images=images)
    with pytest.raises(Interrupt):
        first.fit(on_iteration=stop_early)
    state = ckpt.load(tmp_path / "broken" / "checkpoint.pt")
    assert state["iteration"] == stop - 2
    stage, alpha = first.step_plan.stage(state["images_drawn"])
    if stop == 10:
        assert stage == 1 and 0 < alpha < 1, "the checkpoint must fall inside a fade for this test to mean anything"
    else:  # the next iteration is the first of the fade: the resumed run must reset there, as the unbroken one did
        assert first.step_plan.phase(state["images_drawn"]).start == state["images_drawn"] == 64
    resumed = build_trainer(config, tmp_path / "broken", images=images)
    resumed.fit()
    assert resumed.images_drawn == unbroken.images_drawn
    assert resumed.optimizer_resets == unbroken.optimizer_resets == ([64, 160, 224, 320] if reset == "true" else [])
    assert_same_state(final_state(unbroken), final_state(resumed))
