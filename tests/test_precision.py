"""Precision as a tested axis: every training path runs a few steps with bfloat16 autocast forced on.

``auto`` picks bf16 only where the device runs it fast (CPUs with AVX512-BF16 or AMX, GPUs), so a path that breaks
under bf16 would pass unnoticed on an AVX2-only host. These tests set ``train.bf16: true`` instead, which runs on
any CPU (through PyTorch's reference kernels where there are no native ones, 5-25x slower: hence 16x16 images,
widths of 4 and 1-3 iterations). Each run must end with finite losses, every logged loss in float32, weights and
optimiser states in float32 in the written checkpoint, and a forward hook must have seen bfloat16 activations in
every trained network, so a test cannot pass by silently running in float32. ``pytest -k bf16`` runs the axis.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import torch
from torch import nn

from anime_gan.config import load_experiment, load_translation
from anime_gan.experiment import build_cycle_trainer, build_trainer
from anime_gan.training import checkpoint as ckpt
from test_train import synthetic_images

pytestmark = pytest.mark.bf16

ROOT = Path(__file__).resolve().parents[1]
# The GPU check (benchmarks/gpu_check.py) runs this axis on CUDA by setting ANIME_GAN_TEST_DEVICE.
DEVICE = os.environ.get("ANIME_GAN_TEST_DEVICE", "cpu")
BF16 = ["train.bf16=true", "train.channels_last=true", "train.compile=false", f"train.device={DEVICE}"]
# 8 images of 16x16 in batches of 4: an epoch is 2 iterations, 1.5 epochs are 3. The memory bank stores after
# epoch 1 and replays from there, so the third iteration shows D a replayed batch.
GAN_TINY = [
    "data.resolution=16", "generator.width=4", "generator.latent_dim=8", "discriminator.width=4",
    "train.batch_size=4", "train.epochs=1.5", "log.every=1", "log.checkpoint_every=0", "log.sample_every=0",
    "log.epoch_samples=0", "log.grid_epochs=[]", "log.grid_size=4", "log.progress=false", "blur.fraction=0.5",
    "blur.batch_size=2",
    "memory.capacity=8", "memory.per_epoch=4", "memory.batch_size=2", "memory.store_from_epoch=1",
    "memory.replay_from_epoch=1", *BF16,
]
GAN_ROWS = {
    # id: (config in configs/, extra overrides)
    "dcgan": ("s001_dcgan", []),
    "lsgan": ("s001_lsgan", []),
    "wgan-clip-warmup": ("s000_wgan", []),  # Arjovsky's warm-up: 100 critic steps before the first G step
    "wgan-gp": ("s003_wgan_gp", ["train.n_critic=2"]),
    "sagan": ("s003_sagan", []),
    "sagan-reg": ("s003_sagan_reg", []),
    "sagan-reg-blur": ("s003_sagan_reg_blur", []),
    "sagan-reg-memory": ("s003_sagan_reg_memory", []),
    "bamsgan-one-d-forward": ("s003_bamsgan", ["train.concat_d_batches=true"]),  # real, fake, blur, memory at once
    "feature-matching-ema": ("s003_dcgan", ["train.feature_matching=1", "train.ema_decay=0.9"]),
}


@pytest.fixture(autouse=True)
def one_thread():
    """Networks of width 4 are all overhead: one thread runs them faster and does not stall on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- what every bf16 run must show


class ActivationDtypes:
    """Forward hooks on every module of some networks: the dtypes of the floating outputs each network produced."""

    def __init__(self, **networks: nn.Module) -> None:
        self.seen: dict[str, set[torch.dtype]] = {name: set() for name in networks}
        self.handles = [module.register_forward_hook(self._recorder(name))
                        for name, network in networks.items() for module in network.modules()]

    def _recorder(self, name: str):
        def record(module: nn.Module, inputs: Any, output: Any) -> None:
            for tensor in output if isinstance(output, (tuple, list)) else [output]:
                if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
                    self.seen[name].add(tensor.dtype)
        return record

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def record_logged_dtypes(trainer) -> set[torch.dtype]:
    """The dtypes of every value the trainer logs (its losses), before the log buffer converts them."""
    dtypes: set[torch.dtype] = set()
    add = trainer.log.add

    def recorded(values):
        dtypes.update(value.dtype for value in values)
        add(values)

    trainer.log.add = recorded
    return dtypes


def floating_tensors(obj: Any, name: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point():
            yield name, obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from floating_tensors(value, f"{name}.{key}")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from floating_tensors(value, f"{name}.{i}")


def fit_in_bf16(trainer, **networks: nn.Module) -> tuple[dict, ActivationDtypes, set[torch.dtype]]:
    activations = ActivationDtypes(**networks)
    logged = record_logged_dtypes(trainer)
    try:
        summary = trainer.fit()
    finally:
        activations.remove()
    return summary, activations, logged


def assert_bf16_run(out_dir: Path, summary: dict, activations: ActivationDtypes, logged: set[torch.dtype],
                    weights: tuple[str, ...]) -> list[dict[str, str]]:
    """The run used bf16 autocast in every network, kept its losses, weights (the checkpoint's ``weights`` parts)
    and optimiser states in float32 and finite, and wrote its checkpoint; returns the rows of losses.csv."""
    assert summary["speed"]["bf16"] is True
    for network, dtypes in activations.seen.items():
        assert torch.bfloat16 in dtypes, f"{network} never produced a bfloat16 activation: {dtypes}"
    assert logged == {torch.float32}, f"logged losses in {logged}"
    rows = list(csv.DictReader((out_dir / "losses.csv").open()))
    assert rows and all(math.isfinite(float(value)) for row in rows for key, value in row.items() if
                        key.startswith(("loss", "gan", "cycle", "d_", "gp", "r1", "feature", "content", "style")))
    state = ckpt.load(out_dir / "checkpoint.pt")
    assert state["iteration"] == summary["iterations"] and state["metadata"]["speed"]["bf16"] is True
    for part in (*weights, "g_optimizer", "d_optimizer"):
        assert state[part] is not None, f"the checkpoint has no {part}"
        # _extra_state is StyleGAN's (stage, alpha) record in float64, not a weight.
        tensors = [(n, t) for n, t in floating_tensors(state[part], part) if not n.endswith("_extra_state")]
        assert tensors or part.endswith("optimizer"), part  # plain SGD keeps no state
        wrong = [n for n, t in tensors if t.dtype != torch.float32]
        assert not wrong, f"not float32 in the checkpoint: {wrong[:5]}"
        assert all(torch.isfinite(t).all() for _, t in tensors), f"non-finite values in {part}"
    return rows


def gan_config(name: str, *overrides: str):
    return load_experiment(ROOT / "configs" / f"{name}.yaml", [*GAN_TINY, *overrides])


def count_batches(source) -> list[int]:
    """Wrap a fake source's ``sample``; the list grows by the size of each batch it actually delivered."""
    delivered: list[int] = []
    sample = source.sample

    def counted(n, epoch, device):
        images = sample(n, epoch, device)
        if images is not None:
            delivered.append(len(images))
        return images

    source.sample = counted
    return delivered


# ---------------------------------------------------------------- the fade of growing networks


def test_bf16_fade_blends_a_bfloat16_and_a_float32_side_in_float32():
    """Under autocast the two sides of a fade-in can come out in different dtypes (the discriminator's on CPUs and
    GPUs, the generator's on CUDA); torch.lerp refuses such a pair, ``fade`` computes in the wider dtype."""
    from anime_gan.models.layers import fade

    generator = torch.Generator().manual_seed(0)
    old, new = torch.randn(2, 3, 4, 4, generator=generator), torch.randn(2, 3, 4, 4, generator=generator)
    with pytest.raises(RuntimeError, match="expected dtype"):
        torch.lerp(old.bfloat16(), new, 0.25)
    for a, b in ((old.bfloat16(), new), (old, new.bfloat16())):
        blended = fade(a, b, 0.25)
        assert blended.dtype == torch.float32
        assert torch.equal(blended, torch.lerp(a.float(), b.float(), 0.25))
    assert torch.equal(fade(old, new, 0.25), torch.lerp(old, new, 0.25))  # float32 alone: exactly torch.lerp
    assert fade(old.bfloat16(), new.bfloat16(), 0.25).dtype == torch.bfloat16  # bf16 alone stays bf16


# ---------------------------------------------------------------- the unconditional GANs


@pytest.mark.parametrize("row", GAN_ROWS)
def test_bf16_gan_family_trains_with_float32_weights_and_losses(row, tmp_path):
    name, overrides = GAN_ROWS[row]
    config = gan_config(name, *overrides)
    trainer = build_trainer(config, tmp_path, images=synthetic_images(8, size=16))
    assert trainer.speed.bf16
    delivered = {source.name: count_batches(source) for source in trainer.fake_sources}
    summary, activations, logged = fit_in_bf16(trainer, G=trainer.g_net, D=trainer.d_net)
    weights = ("generator", "discriminator") + (("ema",) if trainer.ema else ())
    rows = assert_bf16_run(tmp_path, summary, activations, logged, weights)
    # Each configured extra fake source really reached D, the memory bank included.
    assert set(delivered) == {s for s, on in (("blur", config.blur.enabled), ("memory", config.memory.enabled)) if on}
    assert all(delivered.values()), delivered
    if config.train.critic_warmup:
        assert summary["d_steps"] == 100
    if config.train.weight_clip > 0:
        assert max(p.abs().max().item() for p in trainer.d_net.parameters()) <= config.train.weight_clip
    if config.train.gp_weight > 0:
        assert all(float(r["gp"]) > 0 for r in rows)
    if config.train.feature_matching > 0:
        assert all(float(r["feature_matching"]) > 0 for r in rows)


def test_bf16_stylegan_grows_through_a_fade_in_with_r1_style_mixing_and_ema(tmp_path):
    # 8x8 faces: stage 0 (4x4) for one batch, then the fade to 8x8 over two batches (alpha 0 and 0.5).
    config = load_experiment(ROOT / "configs" / "s001_stylegan.yaml", [
        "data.resolution=8", "generator.width=4", "generator.max_channels=8", "generator.latent_dim=8",
        "generator.w_dim=8", "generator.mapping_layers=2", "generator.style_mixing_prob=1.0",
        "discriminator.width=4", "discriminator.max_channels=8", "train.ema_decay=0.9", "train.batch_size=4",
        "train.epochs=1.5", "growth.stable_images=4", "growth.fade_images=8", "growth.batch_sizes={4: 4, 8: 4}",
        "log.every=1", "log.checkpoint_every=0", "log.sample_every=0", "log.epoch_samples=0", "log.grid_size=4",
        "log.progress=false", *BF16,
    ])
    assert config.train.r1_gamma > 0 and config.loss["name"] == "nonsaturating"
    trainer = build_trainer(config, tmp_path, images=synthetic_images(8, size=8))
    growth = []  # (stage, alpha) of every D forward
    hook = trainer.d_net.register_forward_pre_hook(lambda d, args: growth.append((d.stage, d.alpha)))
    mixed = []  # the generator's training forwards that mixed two styles
    mix = trainer.g_net._mixed_styles
    trainer.g_net._mixed_styles = lambda z, ws: (mixed.append(len(z)), mix(z, ws))[1]
    summary, activations, logged = fit_in_bf16(trainer, G=trainer.g_net, D=trainer.d_net)
    hook.remove()
    rows = assert_bf16_run(tmp_path, summary, activations, logged,
                           ("generator", "discriminator", "ema"))
    assert any(stage == 1 and 0.0 < alpha < 1.0 for stage, alpha in growth), growth  # D ran mid-fade in bf16
    assert mixed and all(float(r["r1"]) > 0 for r in rows)
    assert trainer.ema.synthesis.stage == 1 and trainer.ema(torch.randn(2, 8, device=trainer.device)).shape == (2, 3, 8, 8)


# ---------------------------------------------------------------- the translators


TRANSLATOR_ROWS = {
    # id: (config in configs/, extra overrides)
    "fpn-resnet18-patchgan-wgan-clip": ("s000_translator", []),
    "cyclegan-lsgan-identity-pool-ema": ("s000_translator_cyclegan", ["generator.n_blocks=1", "train.ema_decay=0.9"]),
    "fusion-effnet-feature-matching": ("s000_translator_fusion", ["generator.n_blocks=1",
                                                                  "objective.feature_matching_weight=0.1"]),
}


@pytest.mark.parametrize("row", TRANSLATOR_ROWS)
def test_bf16_translator_trains_with_float32_weights_and_losses(row, tmp_path):
    name, overrides = TRANSLATOR_ROWS[row]
    # 4 source images of 32x32 (the smallest side fpn_resnet18 and the 70x70 PatchGAN take) in batches of 2:
    # an epoch is 2 iterations: the first fills the pools of 2, the second already draws on them.
    config = load_translation(ROOT / "configs" / f"{name}.yaml", [
        "data.resolution=32", "generator.width=4", "discriminator.width=4", "train.batch_size=2",
        "train.epochs=1", "train.pool_size=2", "log.every=1", "log.checkpoint_every=0", "log.sample_every=0",
        "log.grid_size=2", "log.progress=false", *BF16, *overrides,
    ])
    trainer = build_cycle_trainer(config, tmp_path, source_images=synthetic_images(4, size=32, seed=1),
                                  target_images=synthetic_images(4, size=32, seed=2))
    networks = {"G": trainer.g, "F": trainer.f, "D_X": trainer.d_x, "D_Y": trainer.d_y}
    backbone = None
    if trainer.backbone is not None:  # the fusion terms run in float32 inside the bf16 region (fusion_terms says why)
        backbone = ActivationDtypes(backbone=nn.ModuleList(stage for _, stage in trainer.backbone.stages))
    try:
        summary, activations, logged = fit_in_bf16(trainer, **networks)
    finally:
        if backbone is not None:
            backbone.remove()
    if backbone is not None:
        assert backbone.seen["backbone"] == {torch.float32}, backbone.seen
    weights = ("generator_g", "generator_f", "discriminator_x", "discriminator_y")
    rows = assert_bf16_run(tmp_path, summary, activations, logged,
                           weights + (("ema_g", "ema_f") if config.train.ema_decay > 0 else ()))
    assert len(trainer.pool_x) == len(trainer.pool_y) == 2
    objective = config.objective
    for term, weight in (("identity", objective.identity_weight), ("content", objective.content_weight),
                         ("style", objective.style_weight), ("feature_matching", objective.feature_matching_weight)):
        assert all((float(r[term]) > 0) == (weight > 0) for r in rows), (term, rows)
    if config.train.weight_clip > 0:
        assert max(p.abs().max().item() for p in trainer.d_x.parameters()) <= config.train.weight_clip


def test_bf16_autocast_leaves_the_fusion_terms_and_their_gradients_in_float32():
    """Inside the trainer's bf16 region the content and style terms are still the float32 ones, value and gradient."""
    from anime_gan.style.backbones import load_backbone
    from anime_gan.training.cycle_trainer import fusion_terms

    backbone = load_backbone("effnet", torch.device(DEVICE))
    rng = torch.Generator().manual_seed(0)
    source, target, start = (torch.rand(2, 3, 32, 32, generator=rng).mul(2).sub(1).to(DEVICE) for _ in range(3))
    results = []
    for bf16 in (False, True):
        translated = start.clone().requires_grad_(True)
        with torch.autocast(torch.device(DEVICE).type, dtype=torch.bfloat16, enabled=bf16):
            content, style = fusion_terms(backbone, source, translated, target)
        (grad,) = torch.autograd.grad(content + style, translated)
        results.append((content.detach(), style.detach(), grad))
    for plain, autocast in zip(*results):
        assert autocast.dtype == torch.float32
        torch.testing.assert_close(autocast, plain, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------- neural style transfer


def test_bf16_host_runs_neural_style_transfer_in_float32(monkeypatch):
    """Neural style transfer has no autocast path: it optimises pixels in float32 whatever the host. Where ``auto``
    would pick bf16 (simulated here, so any host checks it) it must run, in float32, and lower its loss."""
    import anime_gan.device
    from anime_gan.style.backbones import load_backbone
    from anime_gan.style.neural import neural_style_transfer
    from anime_gan.training.speed import resolve_speed

    monkeypatch.setattr(anime_gan.device, "cpu_has_fast_bf16", lambda: True)
    assert resolve_speed("auto", "auto", "auto", torch.device("cpu")).bf16  # a bf16 host, as far as auto can tell
    backbone = load_backbone("effnet", torch.device("cpu"))
    activations = ActivationDtypes(backbone=nn.ModuleList(stage for _, stage in backbone.stages))
    yy, xx = np.mgrid[0:16, 0:16]
    content = np.where(((yy - 8) ** 2 + (xx - 8) ** 2 < 25)[..., None], (210, 170, 140), (90, 110, 130)).astype(np.uint8)
    style = np.where(((xx + yy) // 4 % 2)[..., None], (240, 120, 200), (60, 30, 110)).astype(np.uint8)
    try:
        result, record = neural_style_transfer(content, style, steps=3, backbone=backbone, progress=False)
    finally:
        activations.remove()
    assert activations.seen["backbone"] == {torch.float32}
    assert result.shape == content.shape and result.dtype == np.uint8
    assert all(math.isfinite(v) for v in [*record.losses_start.values(), *record.losses_end.values()])
    assert record.losses_end["total"] < record.losses_start["total"]
