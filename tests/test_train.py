"""The training loop: exact resumption, atomic checkpoints, NaN stops, logs and samples."""

from __future__ import annotations

import csv
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from anime_gan.training import checkpoint as ckpt
from anime_gan.config import load_experiment, save_experiment
from anime_gan.errors import TrainingError
from anime_gan.experiment import build_trainer, generate_images, load_generator, run

ROOT = Path(__file__).resolve().parents[1]
# Speed options of every test run whose numbers are compared (resumed against unbroken runs, processes against one,
# samples against the networks): "auto" turns bf16 on only on hosts with native bfloat16 kernels, so inheriting it
# would make those numbers depend on the host. float32, with the layout auto picks on CPUs; bf16 has its own axis,
# tests/test_precision.py.
PINNED_SPEED = ["train.bf16=false", "train.channels_last=true", "train.compile=false"]


def synthetic_images(n: int = 96, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Smooth random blobs: cheap stand-ins for faces when only the mechanics are tested."""
    rng = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 4, 4, generator=rng)
    return (torch.nn.functional.interpolate(low, size=size, mode="bilinear") * 255).round().to(torch.uint8)


def tiny(*overrides: str):
    base = [
        "data.resolution=32", "generator.width=8", "generator.latent_dim=16", "discriminator.width=8",
        "train.batch_size=16", "train.epochs=3", "train.device=cpu", "log.every=3", "log.checkpoint_every=4",
        "log.sample_every=6", "log.grid_size=16", "log.epoch_samples=8", "log.keep_epoch_samples=2", "log.progress=false",
        *PINNED_SPEED,
    ]
    return load_experiment(None, base + list(overrides))


# Every piece of state the loop must carry across a restart: EMA, schedulers, memory bank, blur source,
# RMSprop with weight decay, several critic steps and the gradient penalty's random interpolates.
RICH = (
    "generator.name=sagan", "discriminator.name=sagan", "loss.name=hinge", "train.n_critic=2", "train.gp_weight=1.0",
    "train.ema_decay=0.9", "schedule.name=cosine", "schedule.t_max=1", "g_optimizer.name=rmsprop",
    "d_optimizer.name=rmsprop", "g_optimizer.weight_decay=1e-4", "d_optimizer.weight_decay=1e-4",
    "blur.enabled=true", "blur.fraction=0.5", "memory.enabled=true", "memory.capacity=20", "memory.per_epoch=8",
    "memory.store_from_epoch=1", "memory.replay_from_epoch=1.5", "train.epochs=4", "data.hflip=true",
)


def final_state(trainer) -> dict[str, torch.Tensor]:
    state = {f"G.{k}": v for k, v in trainer.G.state_dict().items()}
    state.update({f"D.{k}": v for k, v in trainer.D.state_dict().items()})
    if trainer.ema is not None:
        state.update({f"EMA.{k}": v for k, v in trainer.ema.state_dict().items()})
    return state


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"tensors differ after resuming: {different[:5]}"


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("overrides", [(), RICH], ids=["dcgan-bce", "sagan-hinge-blur-memory-ema-gp"])
def test_interrupted_run_resumes_to_identical_weights(tmp_path, overrides):
    images = synthetic_images()
    config = tiny(*overrides)
    unbroken = build_trainer(config, tmp_path / "unbroken", images=images)
    unbroken.fit()

    def stop_at_10(trainer):
        if trainer.iteration == 10:  # after the checkpoint at iteration 8, mid log window
            raise Interrupt

    first = build_trainer(config, tmp_path / "broken", images=images)
    with pytest.raises(Interrupt):
        first.fit(on_iteration=stop_at_10)
    assert ckpt.load(tmp_path / "broken" / "checkpoint.pt")["iteration"] == 8

    resumed = build_trainer(config, tmp_path / "broken", images=images)
    summary = resumed.fit()
    assert summary["resumed"] is True
    assert resumed.iteration == unbroken.iteration and resumed.images_drawn == unbroken.images_drawn >= unbroken.total_images
    assert_same_state(final_state(unbroken), final_state(resumed))
    # The loss log of the resumed run has no duplicated stretch and matches the unbroken one.
    read = lambda p: [(r["step"], r["loss_d"], r["loss_g"]) for r in csv.DictReader(p.open())]
    assert read(tmp_path / "broken" / "losses.csv") == read(tmp_path / "unbroken" / "losses.csv")


def test_killed_process_resumes_to_identical_weights(tmp_path):
    """SIGKILL a real training process at an arbitrary moment; the rerun must end where an unbroken run ends."""
    config_path = tmp_path / "cfg.yaml"
    config = tiny("train.epochs=40", "log.checkpoint_every=5", "data.dataset=folder:" + str(tmp_path / "imgs"))
    save_experiment(config, config_path)
    images = synthetic_images(64)
    from PIL import Image

    (tmp_path / "imgs").mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(tmp_path / "imgs" / f"{i:03d}.png")
    command = [sys.executable, "-m", "anime_gan", "train", "--config", str(config_path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    subprocess.run(command + ["--out", str(tmp_path / "unbroken")], check=True, cwd=tmp_path, env=env,
                   capture_output=True)

    process = subprocess.Popen(command + ["--out", str(tmp_path / "killed")], cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = tmp_path / "killed" / "checkpoint.pt"
    deadline = time.time() + 120
    while time.time() < deadline and not checkpoint.exists():
        time.sleep(0.05)
    time.sleep(0.3)  # let it run on past the first checkpoint, then kill it wherever it is
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert checkpoint.exists(), "the run never wrote a checkpoint"
    total = ckpt.load(tmp_path / "unbroken" / "checkpoint.pt")["iteration"]
    assert ckpt.load(checkpoint)["iteration"] < total, "the run finished before it was killed; the test proves nothing"
    subprocess.run(command + ["--out", str(tmp_path / "killed")], check=True, cwd=tmp_path, env=env, capture_output=True)

    a, b = ckpt.load(tmp_path / "unbroken" / "checkpoint.pt"), ckpt.load(checkpoint)
    assert a["iteration"] == b["iteration"] == total
    for part in ("generator", "discriminator"):
        assert_same_state(a[part], b[part])


def test_nan_loss_stops_with_step_and_keeps_last_checkpoint(tmp_path, monkeypatch):
    trainer = build_trainer(tiny(), tmp_path, images=synthetic_images())
    real_batch = trainer._real_batch

    def poisoned(size):
        batch = real_batch(size)
        if trainer.iteration == 9:  # the 10th iteration sees a NaN pixel
            batch[0, 0, 0, 0] = float("nan")
        return batch

    monkeypatch.setattr(trainer, "_real_batch", poisoned)
    with pytest.raises(TrainingError) as err:
        trainer.fit()
    message = str(err.value)
    assert "non-finite loss_d (nan) at iteration 10" in message
    assert "last good checkpoint (iteration 8)" in message and str(tmp_path / "checkpoint.pt") in message
    state = ckpt.load(tmp_path / "checkpoint.pt")
    assert state["iteration"] == 8
    assert all(torch.isfinite(v).all() for v in state["generator"].values() if v.is_floating_point())
    rows = list(csv.DictReader((tmp_path / "losses.csv").open()))
    assert all(math.isfinite(float(r["loss_d"])) for r in rows) and int(rows[-1]["step"]) <= 9


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    ckpt.save_atomic({"format": ckpt.CHECKPOINT_FORMAT, "value": 1}, path)

    def broken_save(obj, handle):
        handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save_atomic({"format": ckpt.CHECKPOINT_FORMAT, "value": 2}, path)
    monkeypatch.undo()
    assert ckpt.load(path)["value"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_unreadable_checkpoint_is_named(tmp_path):
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError, match=f"checkpoint {bad} could not be read"):
        ckpt.load(bad)
    with pytest.raises(TrainingError, match="checkpoint not found"):
        ckpt.load(tmp_path / "missing.pt")


def test_logs_samples_and_counters(tmp_path):
    config = tiny("train.n_critic=2", "train.gp_weight=10", "discriminator.norm=instance", "log.grid_epochs=[1, 3]")
    trainer = build_trainer(config, tmp_path, images=synthetic_images())
    summary = trainer.fit()
    # 96 images / batch 16 = 6 D steps per epoch; 3 epochs = 18 D steps = 9 iterations of 2 critic steps.
    assert (summary["d_steps"], summary["iterations"], summary["epochs"]) == (18, 9, 3.0)
    rows = list(csv.DictReader((tmp_path / "losses.csv").open()))
    # a window closes every 3 iterations and at each checkpoint (4, 8) and at the end
    assert [int(r["step"]) for r in rows] == [3, 4, 7, 8, 9]
    assert all(float(r["gp"]) >= 0 for r in rows)
    samples = sorted(p.name for p in (tmp_path / "samples").iterdir())
    assert samples == ["epoch_0001.png", "epoch_0002.pt", "epoch_0003.png", "epoch_0003.pt", "final.png", "iter_0000006.png"]
    tensor = torch.load(tmp_path / "samples" / "epoch_0003.pt")
    assert tensor.dtype == torch.uint8 and tensor.shape == (8, 3, 32, 32)


def test_epoch_scale_shrinks_every_epoch_count(tmp_path):
    config = tiny("train.epochs=10", "train.epoch_scale=0.5", "log.checkpoint_every=0")
    trainer = build_trainer(config, tmp_path, images=synthetic_images())
    assert trainer.total_images == 480  # 10 epochs of half a pass (48 images, 3 batches) each
    trainer.fit()
    assert trainer.epochs_done == 10


def test_weight_clipping_bounds_every_critic_weight(tmp_path):
    config = tiny("loss.name=wgan", "train.weight_clip=0.01", "discriminator.norm=none", "train.epochs=1")
    trainer = build_trainer(config, tmp_path, images=synthetic_images())
    trainer.fit()
    assert max(p.abs().max().item() for p in trainer.D.parameters()) <= 0.01 + 1e-9


def test_run_restarts_when_config_changed_and_resumes_longer_training(tmp_path, capsys):
    images_dir = tmp_path / "imgs"
    images_dir.mkdir()
    from PIL import Image

    for i, image in enumerate(synthetic_images(48)):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(images_dir / f"{i:02d}.png")
    config = tiny("train.epochs=1", f"data.dataset=folder:{images_dir}", f"data.root={tmp_path / 'data'}")
    # 48 images, 20% held out: 38 training images, so an epoch takes ceil(38 / 16) = 3 batches of 16.
    assert run(config, tmp_path / "run")["iterations"] == 3
    longer = tiny("train.epochs=2", f"data.dataset=folder:{images_dir}", f"data.root={tmp_path / 'data'}")
    summary = run(longer, tmp_path / "run")
    assert summary["resumed"] and summary["iterations"] == 5  # ceil(76 / 16)
    changed = tiny("train.epochs=2", "g_optimizer.lr=0.001", f"data.dataset=folder:{images_dir}",
                   f"data.root={tmp_path / 'data'}")
    summary = run(changed, tmp_path / "run")
    assert not summary["resumed"] and "g_optimizer.lr" in capsys.readouterr().out

    generator, loaded = load_generator(tmp_path / "run" / "checkpoint.pt", device="cpu")
    assert loaded.g_optimizer.lr == 0.001
    first, again = generate_images(generator, 5, seed=3), generate_images(generator, 5, seed=3)
    assert first.dtype == torch.uint8 and first.shape == (5, 3, 32, 32) and torch.equal(first, again)


def test_a_time_limited_run_stops_with_a_checkpoint_and_resumes_to_the_unbroken_weights(tmp_path, monkeypatch):
    """`train --minutes`: the session stops after the iteration in which the limit passed, leaves a checkpoint and a
    summary saying it is incomplete; the same command later finishes it with exactly the unbroken run's weights."""
    images = synthetic_images()
    config = tiny("train.bf16=false", "train.channels_last=false", "train.compile=false")
    monkeypatch.setattr("anime_gan.experiment.gan.training_images", lambda _config: images)
    unbroken = run(config, tmp_path / "unbroken")
    stopped = run(config, tmp_path / "limited", time_limit=1e-9)  # passes during the first iteration
    assert stopped["iterations"] == 1 and stopped["complete"] is False
    assert stopped["time_limit_seconds"] == 1e-9
    assert ckpt.load(tmp_path / "limited" / "checkpoint.pt")["iteration"] == 1
    finished = run(config, tmp_path / "limited")
    assert finished["resumed"] is True and finished["complete"] is True
    assert finished["iterations"] == unbroken["iterations"]
    a = ckpt.load(tmp_path / "unbroken" / "checkpoint.pt")
    b = ckpt.load(tmp_path / "limited" / "checkpoint.pt")
    assert_same_state({k: v for k, v in a["generator"].items()}, {k: v for k, v in b["generator"].items()})
    with pytest.raises(Exception, match="time limit must be positive"):
        build_trainer(config, tmp_path / "zero", images=images).fit(time_limit=0)


def test_grid_epochs_without_epoch_samples_still_write_their_grid(tmp_path):
    """A grid epoch with log.epoch_samples 0 draws the grid from the fixed grid noise (it once divided by zero)."""
    trainer = build_trainer(tiny("log.epoch_samples=0", "log.grid_epochs=[1, 2]"), tmp_path,
                            images=synthetic_images())
    trainer.fit()
    assert (tmp_path / "samples" / "epoch_0001.png").stat().st_size > 0
    assert (tmp_path / "samples" / "epoch_0002.png").stat().st_size > 0
