"""The paper profile has no GPU here, so nothing would catch a shape error at the papers' settings until a user with
a GPU met it. Each shipped GAN config is built at its paper setting (its own resolution, widths and batch
layout: 64x64, 96x96, 128x160) and runs one full training iteration on the CPU with a batch of 4; the parameter
count of every network is printed (run with -s) and checked where an independent reference exists."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from anime_gan.config import load_experiment
from anime_gan.config import resolution_of
from anime_gan.experiment import build_trainer

ROOT = Path(__file__).resolve().parents[1]
GAN_CONFIGS = sorted(p for p in (ROOT / "configs").glob("*.yaml") if "kind: translation" not in p.read_text())

# Counts from the reference code, computed by hand from its layer list (not from this package):
REFERENCE_COUNTS = {
    # PyTorch's DCGAN example (ngf = ndf = 64, nz = 100) at 64x64.
    "s001_dcgan": (3_576_704, 2_765_568),
    "s001_lsgan": (3_576_704, 2_765_568),
    # ANI717's WGAN-GP: G 100->1024->512->256->128->3 (bias on the last layer only) = 12,654,595;
    # critic 3->64 (bias), 128, 256, 512 with affine InstanceNorm, 512->1 (bias) = 2,765,633.
    "s003_wgan_gp": (12_654_595, 2_765_633),
}


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("path", GAN_CONFIGS, ids=[p.stem for p in GAN_CONFIGS])
def test_every_config_trains_one_iteration_at_its_paper_setting(path, tmp_path):
    config = load_experiment(path, ["train.batch_size=4", "train.device=cpu", "log.progress=false",
                                    "log.sample_every=0", "log.checkpoint_every=0", "log.epoch_samples=0",
                                    "memory.store_from_epoch=0", "memory.replay_from_epoch=0",
                                    "train.critic_warmup=false", "train.n_critic=1"])  # shapes, not the critic schedule
    if config.growth.enabled:  # every stage's batch comes from the growth plan: keep it tiny too, and let the
        config.growth.batch_sizes = {r: 4 for r in config.growth.batch_sizes}  # 8 images' budget reach the end
        config.growth.stable_images = config.growth.fade_images = 1
    height, width = resolution_of(config)
    images = torch.randint(0, 256, (8, 3, height, width), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    trainer = build_trainer(config, tmp_path, images=images)
    if config.memory.enabled:  # let the bank replay from the first step, so that its path runs too
        trainer.fake_sources[-1].add(torch.rand(4, 3, height, width) * 2 - 1)
    if trainer.step_plan is not None:  # the final stage, where the networks are largest
        trainer.images_drawn = trainer.step_plan.images_until_final()
    trainer.step()
    rows = trainer.log._rows[:1]
    assert torch.isfinite(rows).all(), f"{path.stem}: non-finite losses {rows}"
    with torch.no_grad():
        sample = trainer.g_net.eval()(torch.randn(2, trainer.latent_dim))
    assert sample.shape == (2, 3, height, width)
    g, d = count(trainer.g_net), count(trainer.d_net)
    print(f"\n{path.stem}: {height}x{width}, G {g:,} parameters, D {d:,} parameters")
    if path.stem in REFERENCE_COUNTS:
        assert (g, d) == REFERENCE_COUNTS[path.stem]
    assert math.isfinite(float(rows.sum()))


def test_a_profile_asking_for_fid_without_the_weights_gets_the_offline_metrics_and_the_reason(monkeypatch):
    import anime_gan.metrics as metrics
    from anime_gan.errors import MetricError

    def absent():
        raise MetricError("FID, IS and KID need the standard FID Inception weights, which are absent.")

    monkeypatch.setattr(metrics, "inception_weights", absent)
    kept, skipped = metrics.computable_here(["fid", "kid", "is", "fd_effnet", "dr"])
    assert kept == ["fd_effnet", "dr"] and sorted(skipped) == ["fid", "is", "kid"]
    assert all("Inception weights" in reason for reason in skipped.values())
    monkeypatch.setattr(metrics, "inception_weights", lambda: Path("weights.pth"))
    assert metrics.computable_here(["fid", "fd_effnet"]) == (["fid", "fd_effnet"], {})


@pytest.mark.parametrize("profile", ["paper", "gpu"])
def test_every_row_of_the_gpu_and_paper_profiles_resolves_and_growth_fits_its_budget(profile):
    """At the mirror's sizes (10,000 anime faces, 2,229 emoji, 5,000 photographs), every row's config resolves under
    the profile at the paper's resolution, and StyleGAN's growth reaches 64x64 before training ends (else
    build_trainer refuses the run after the data is loaded)."""
    from anime_gan.params import load_params
    from anime_gan.pipeline import Pipeline
    from anime_gan.training.growth import GrowthSchedule

    params = load_params(ROOT / "params.yaml")
    params.profile, params.data, params.second_data = profile, "anime-faces", "emoji-faces"
    pipeline = Pipeline(params, root=ROOT, progress=False)
    sizes = {"anime-faces": 10_000, "emoji-faces": 2_229}
    for name in pipeline.experiments():
        config = pipeline.config(name)
        if pipeline.is_translation(config):
            assert resolution_of(config) == (96, 96), name
            continue
        assert resolution_of(config) in {(64, 64), (96, 96), (128, 160)}, name
        if config.growth.enabled:
            n = sizes[config.data.dataset] * (1 - config.data.holdout_fraction)
            drawn = config.train.epochs * config.train.epoch_scale * n
            plan = GrowthSchedule(config.growth, resolution_of(config), default_batch_size=config.train.batch_size)
            assert plan.images_until_final() < drawn, (name, plan.images_until_final(), drawn)
