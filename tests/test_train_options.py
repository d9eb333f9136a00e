"""Training-loop options with a known answer: critic batches, Arjovsky's warm-up, per-iteration schedules, extra
fake batch sizes, the EMA's BatchNorm statistics, what the memory bank stores, and the speed options."""

from __future__ import annotations

import math

import pytest
import torch

from anime_gan.config import load_experiment
from anime_gan.training.ema import has_batchnorm, recompute_batchnorm_stats
from anime_gan.errors import ConfigError
from anime_gan.experiment import build_trainer
from anime_gan.training.speed import resolve_speed
from anime_gan.training.gan_trainer import critic_steps
from test_train import synthetic_images, tiny


def count_real_batches(trainer) -> list[int]:
    """Wrap the trainer's real-batch draw; the returned list grows by one batch size per draw."""
    draws = []
    original = trainer._real_batch

    def counted(size):
        draws.append(size)
        return original(size)

    trainer._real_batch = counted
    return draws


@pytest.mark.parametrize("mode, g_steps", [("fresh", 6), ("reuse", 30)])
def test_critic_batches_decide_generator_steps_per_epoch(tmp_path, mode, g_steps):
    # 96 images, batch 16: an epoch is 6 real batches. With 5 critic steps per G step, "fresh" draws a batch per
    # critic step (6 epochs -> 36 batches -> ceil(36 / 5) = 8 G steps... see below); "reuse" draws one per G step.
    config = tiny("train.n_critic=5", f"train.critic_batches={mode}", "train.epochs=5", "loss.name=wgan",
                  "log.checkpoint_every=0", "log.sample_every=0", "log.epoch_samples=0")
    trainer = build_trainer(config, tmp_path, images=synthetic_images())
    draws = count_real_batches(trainer)
    trainer.fit()
    assert trainer.iteration == g_steps  # 5 epochs * 6 batches = 30 batches: fresh 30 / 5 = 6, reuse 30
    assert trainer.d_steps == 5 * g_steps
    assert len(draws) == 30 and trainer.images_drawn == 480
    assert trainer.epochs_done == 5


def test_reused_batch_is_the_same_for_every_critic_step(tmp_path):
    config = tiny("train.n_critic=3", "train.critic_batches=reuse", "train.epochs=1", "loss.name=wgan")
    trainer = build_trainer(config, tmp_path, images=synthetic_images())
    seen = []
    hook = trainer.d_net.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    trainer.step()
    hook.remove()
    # Per D step: real, fake; then the G step's fake. The three real batches are one and the same.
    reals = [seen[0], seen[2], seen[4]]
    assert all(torch.equal(reals[0], r) for r in reals[1:])
    assert not torch.equal(seen[1], seen[3])  # each critic step still gets fresh noise


def test_arjovsky_warmup_gives_100_critic_steps_early_and_every_500th():
    assert [critic_steps(5, g, warmup=True) for g in (0, 1, 24, 25, 26, 499, 500, 501, 1000)] == \
        [100, 100, 100, 5, 5, 5, 100, 5, 100]
    assert all(critic_steps(5, g, warmup=False) == 5 for g in (0, 24, 500))


def test_warmup_run_takes_100_critic_steps_per_generator_step(tmp_path):
    config = tiny("train.n_critic=5", "train.critic_warmup=true", "train.epochs=1000", "loss.name=wgan",
                  "train.weight_clip=0.01", "log.checkpoint_every=0", "log.sample_every=0", "log.epoch_samples=0")
    trainer = build_trainer(config, tmp_path, images=synthetic_images())
    for _ in range(3):
        trainer.step()
    assert trainer.d_steps == 300 and trainer.images_drawn == 300 * 16


def test_cosine_schedule_stepped_per_iteration_follows_the_closed_form(tmp_path):
    config = tiny("schedule.name=cosine", "schedule.t_max=5", "schedule.eta_min=5e-5", "schedule.step=iteration",
                  "g_optimizer.lr=2e-4", "d_optimizer.lr=2e-4", "train.epochs=1", "log.every=10")
    trainer = build_trainer(config, tmp_path, images=synthetic_images())
    for k in range(1, 5):
        trainer.step()
        expected = 5e-5 + (2e-4 - 5e-5) * (1 + math.cos(math.pi * k / 5)) / 2
        assert trainer.g_optimizer.param_groups[0]["lr"] == pytest.approx(expected)
        assert trainer.d_optimizer.param_groups[0]["lr"] == pytest.approx(expected)
    with pytest.raises(ConfigError, match="schedule.step"):
        build_trainer(tiny("schedule.step=batch"), tmp_path / "bad", images=synthetic_images())


def test_blur_and_memory_batches_have_their_own_size(tmp_path):
    config = tiny("blur.enabled=true", "blur.fraction=0.5", "blur.batch_size=5", "memory.enabled=true",
                  "memory.batch_size=3", "memory.store_from_epoch=0", "memory.replay_from_epoch=0",
                  "memory.per_epoch=8", "memory.capacity=16", "train.epochs=3")
    trainer = build_trainer(config, tmp_path, images=synthetic_images())
    trainer.fit()
    sizes = []
    hook = trainer.d_net.register_forward_pre_hook(lambda module, args: sizes.append(len(args[0])))
    trainer.step()
    hook.remove()
    assert sizes == [16, 16, 5, 3, 16]  # real, fake, blurred, replayed, then the G step's fake


def test_memory_bank_stores_the_generator_not_its_ema(tmp_path):
    config = tiny("memory.enabled=true", "memory.store_from_epoch=1", "memory.replay_from_epoch=100",
                  "memory.per_epoch=4", "memory.capacity=8", "train.ema_decay=0.5", "train.epochs=2",
                  "log.epoch_samples=0")
    trainer = build_trainer(config, tmp_path, images=synthetic_images())
    bank = trainer.fake_sources[0]
    added = []
    original_add = bank.add
    bank.add = lambda images: (added.append(images.clone()), original_add(images))
    trainer.fit()
    assert len(added) == 2  # epochs 1 and 2
    # The function the bank received draws from the live generator: same noise, same images as G, not as EMA.
    state = trainer.noise_rng.get_state()
    stored = trainer._generator_samples(4)
    trainer.noise_rng.set_state(state)
    z = torch.randn(4, trainer.latent_dim, generator=trainer.noise_rng)
    with torch.no_grad():
        live = trainer.g_net.eval()(z)
        averaged = trainer.sampling_generator()(z)
    assert torch.allclose(stored, live) and not torch.allclose(stored, averaged, atol=1e-3)


def test_ema_batchnorm_statistics_are_recomputed_for_the_averaged_weights(tmp_path):
    config = tiny("train.ema_decay=0.9", "train.epochs=2", "log.epoch_samples=0")
    trainer = build_trainer(config, tmp_path, images=synthetic_images())
    trainer.fit()
    assert has_batchnorm(trainer.ema)
    ema = trainer.sampling_generator()
    norm = next(m for m in ema.modules() if isinstance(m, torch.nn.BatchNorm2d))
    recomputed = norm.running_mean.clone()
    # Known answer: the mean over 8 batches of 256 seeded samples of the layer's own input, in training mode.
    inputs = []
    hook = norm.register_forward_pre_hook(lambda module, args: inputs.append(args[0].detach()))
    rng = torch.Generator().manual_seed(trainer.seed + 2)
    with torch.no_grad():
        ema.train()
        for _ in range(8):
            ema(torch.randn(256, trainer.latent_dim, generator=rng))
        ema.eval()
    hook.remove()
    expected_mean = torch.stack([x.mean((0, 2, 3)) for x in inputs]).mean(0)
    assert torch.allclose(recomputed, expected_mean, atol=1e-6)
    live_norm = next(m for m in trainer.g_net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert not torch.allclose(recomputed, live_norm.running_mean, atol=1e-4)
    assert "recomputed" in trainer.sampling_description()
    copied = build_trainer(tiny("train.ema_decay=0.9", "train.epochs=2", "train.ema_batchnorm=copy"),
                           tmp_path / "copy", images=synthetic_images())
    copied.fit()
    copy_norm = next(m for m in copied.sampling_generator().modules() if isinstance(m, torch.nn.BatchNorm2d))
    live = next(m for m in copied.g_net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert torch.equal(copy_norm.running_mean, live.running_mean)


def test_recompute_leaves_networks_without_batchnorm_alone():
    from anime_gan.models import build_generator

    generator = build_generator({"name": "dcgan", "width": 8, "latent_dim": 4, "norm": "none"}, 32)
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    recompute_batchnorm_stats(generator, 4)
    assert all(torch.equal(before[k], v) for k, v in generator.state_dict().items())


def test_speed_options_resolve_per_device():
    cpu = torch.device("cpu")
    auto = resolve_speed("auto", "auto", "auto", cpu)
    assert auto.channels_last is True and auto.compile is False
    assert auto.bf16 == bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert any("bf16 auto" in note for note in auto.notes)
    explicit = resolve_speed(True, False, True, cpu, double_backward=True)
    assert explicit.bf16 is True and explicit.channels_last is False
    assert explicit.compile is False and any("double backward" in n for n in explicit.notes)
    with pytest.raises(ConfigError, match="train.bf16 must be true, false or auto"):
        resolve_speed("fast", "auto", "auto", cpu)


def test_channels_last_changes_layout_not_results(tmp_path):
    images = synthetic_images()
    runs = {}
    for layout in ("false", "true"):
        config = tiny(f"train.channels_last={layout}", "train.bf16=false", "train.epochs=2", "log.checkpoint_every=0")
        trainer = build_trainer(config, tmp_path / layout, images=images)
        trainer.fit()
        runs[layout] = trainer
    # Same losses and weights up to float rounding of the different convolution kernels.
    for a, b in zip(runs["false"].g_net.parameters(), runs["true"].g_net.parameters()):
        assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()


def test_feature_matching_adds_its_weighted_term_to_the_generator_loss(tmp_path):
    images = synthetic_images()
    losses = {}
    for weight in (0.0, 2.0):
        trainer = build_trainer(tiny(f"train.feature_matching={weight}", "log.every=1"), tmp_path / str(weight),
                                images=images)
        captured = {}
        original = trainer.loss.g
        trainer.loss = type(trainer.loss)(trainer.loss.d_real, trainer.loss.d_fake,
                                          lambda logits: captured.setdefault("adv", original(logits)),
                                          trainer.loss.d_scale)
        trainer.step()
        row = trainer.log._rows[0]
        losses[weight] = (row[1].item(), captured["adv"].item(), row[6].item())
    plain_total, plain_adv, plain_fm = losses[0.0]
    total, adversarial, matching = losses[2.0]
    assert plain_fm == 0.0 and plain_total == pytest.approx(plain_adv)
    assert matching > 0 and total == pytest.approx(adversarial + 2.0 * matching, rel=1e-5)
    with pytest.raises(ConfigError, match="features"):
        build_trainer(tiny("train.feature_matching=1", "generator.name=stylegan", "discriminator.name=stylegan",
                           "data.resolution=16", "generator.latent_dim=8", "generator.w_dim=8",
                           "generator.mapping_layers=1", "generator.max_channels=16", "discriminator.max_channels=16"),
                      tmp_path / "sg", images=synthetic_images(size=16))
