"""One adversarial training loop for every GAN in the package.

The loop receives built objects (networks, a loss, optimisers, schedulers and
extra fake sources) and knows no model by name; ``anime_gan.experiment`` builds
those objects from a config.

Vocabulary:
- a *D step* shows the discriminator one real batch, one generated batch and
  one batch from each active extra fake source, then updates D;
- an *iteration* is ``n_critic`` D steps followed by one G step;
- an *epoch* is ``epoch_scale * (len(real_images) // batch_size)`` D steps: every real image once when
  ``epoch_scale`` is 1; a budget profile shrinks it so that every epoch-based setting (length, memory
  start, cosine period, per-epoch samples) scales together.

Speed: the step never waits for the device. Losses are written into a device
buffer and read back every ``log.every`` iterations, where they are also checked
for NaN/Inf; checkpoints are only written right after such a check, so the last
checkpoint on disk always comes from finite losses.

Resuming: a checkpoint holds networks, optimisers, schedulers, the EMA
generator, the extra sources' states (memory bank), every RNG state and the
step counters. Data order is a function of (seed, epoch), so a resumed run on
the CPU ends with exactly the weights of an unbroken one.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import json
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn
from torchvision.utils import save_image
from tqdm.auto import tqdm

from anime_gan import checkpoint as ckpt
from anime_gan.config import LogConfig, TrainConfig
from anime_gan.device import pick_device
from anime_gan.errors import DataError, TrainingError
from anime_gan.losses import AdversarialLoss, clip_weights_, gradient_penalty
from anime_gan.sources import FakeSource, to_uint8, to_unit_range

LOG_COLUMNS = ("loss_d", "loss_g", "d_real", "d_fake", "gp")
CHECKPOINT_NAME = "checkpoint.pt"
LOSSES_NAME = "losses.csv"


@torch.no_grad()
def ema_decay_at(decay: float, updates: int) -> float:
    """The decay after ``updates`` updates, warmed up as min(decay, (1 + t) / (10 + t)): early on the average
    follows the model closely, so a short run is not dominated by the random initialisation."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model for parameters; buffers (BatchNorm stats, spectral-norm
    vectors) are copied, because averaging power-iteration vectors would break them."""
    ema_params = [p for p in ema.parameters()]
    torch._foreach_lerp_(ema_params, [p.detach() for p in model.parameters()], 1.0 - decay)
    for ema_buffer, buffer in zip(ema.buffers(), model.buffers()):
        ema_buffer.copy_(buffer)


class Trainer:
    """Adversarial training with checkpoints, sample grids, loss logs and exact resumption."""

    def __init__(
        self,
        generator: nn.Module,  # maps z of shape (N, generator.latent_dim) to images in [-1, 1]
        discriminator: nn.Module,  # maps images to logits of shape (N,)
        loss: AdversarialLoss,
        g_optimizer: torch.optim.Optimizer,
        d_optimizer: torch.optim.Optimizer,
        real_images: torch.Tensor,  # uint8 (N, 3, H, W), the training set
        out_dir: str | Path,  # checkpoint, losses.csv, samples/
        *,
        train: TrainConfig,
        log: LogConfig,
        seed: int = 0,
        hflip: bool = False,
        fake_sources: Sequence[FakeSource] = (),
        g_scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        d_scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        metadata: dict[str, Any] | None = None,  # saved in every checkpoint (the resolved config)
    ) -> None:
        if real_images.dtype != torch.uint8 or real_images.ndim != 4:
            raise DataError(f"real images must be uint8 (N, 3, H, W), got {real_images.dtype} {tuple(real_images.shape)}")
        if len(real_images) < train.batch_size:
            raise DataError(f"{len(real_images)} training images are fewer than one batch of {train.batch_size}")
        self.device = pick_device(train.device)
        self.train_cfg, self.log_cfg = train, log
        self.seed, self.hflip = seed, hflip
        self.memory_format = torch.channels_last if train.channels_last else torch.contiguous_format
        self.G = generator.to(self.device, memory_format=self.memory_format)
        self.D = discriminator.to(self.device, memory_format=self.memory_format)
        self.loss = loss
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.g_scheduler, self.d_scheduler = g_scheduler, d_scheduler
        self.fake_sources = list(fake_sources)
        self.metadata = metadata or {}
        self.out_dir = Path(out_dir)
        self.images = real_images.to(self.device)
        self.latent_dim = int(generator.latent_dim)

        self.batches_per_epoch = len(real_images) // train.batch_size  # one pass over the real images
        self.epoch_length = train.epoch_scale * self.batches_per_epoch  # D steps per (possibly scaled) epoch
        self.total_d_steps = max(1, round(train.epochs * self.epoch_length))
        self.total_epochs = math.floor(self.total_d_steps / self.epoch_length + 1e-9)
        self.total_iterations = math.ceil(self.total_d_steps / train.n_critic)

        self.ema = copy.deepcopy(self.G).eval().requires_grad_(False) if train.ema_decay > 0 else None
        # Noise, interpolation weights and flips come from one device generator whose state is checkpointed.
        self.noise_rng = torch.Generator(device=self.device).manual_seed(seed)
        cpu_rng = torch.Generator().manual_seed(seed + 1)
        # Fixed noise is drawn on the CPU so grids look the same on every device.
        self.grid_z = torch.randn(log.grid_size, self.latent_dim, generator=cpu_rng).to(self.device)
        self.epoch_z = torch.randn(log.epoch_samples, self.latent_dim, generator=cpu_rng).to(self.device)

        self.iteration = 0
        self.d_steps = 0
        self.epochs_done = 0
        self.last_checkpoint_iteration: int | None = None
        self._epoch_order: tuple[int, torch.Tensor] | None = None
        self._log_rows = torch.zeros(max(1, log.every), len(LOG_COLUMNS), device=self.device)
        self._log_fill = 0
        self._log_start = 0
        self._elapsed = 0.0  # training seconds over all sessions of this run

    # ------------------------------------------------------------------ paths

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / CHECKPOINT_NAME

    @property
    def losses_path(self) -> Path:
        return self.out_dir / LOSSES_NAME

    @property
    def epoch(self) -> float:
        """Fractional epoch: D steps taken / D steps per epoch."""
        return self.d_steps / self.epoch_length

    # ------------------------------------------------------------------ data

    def _real_batch(self) -> torch.Tensor:
        """The next real batch in [-1, 1]; order is a permutation seeded by (seed, epoch), so it is resumable."""
        batch = self.train_cfg.batch_size
        epoch, position = divmod(self.d_steps, self.batches_per_epoch)
        if self._epoch_order is None or self._epoch_order[0] != epoch:
            rng = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch_order = (epoch, torch.randperm(len(self.images), generator=rng).to(self.device))
        index = self._epoch_order[1][position * batch : (position + 1) * batch]
        real = to_unit_range(self.images[index])
        if self.hflip:
            flip = torch.rand(batch, 1, 1, 1, device=self.device, generator=self.noise_rng) < 0.5
            real = torch.where(flip, real.flip(3), real)
        return real.contiguous(memory_format=self.memory_format)

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, device=self.device, generator=self.noise_rng)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if not self.train_cfg.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    # ------------------------------------------------------------------ one iteration

    def _iteration(self) -> None:
        cfg = self.train_cfg
        batch = cfg.batch_size
        for critic_step in range(cfg.n_critic):
            real = self._real_batch()
            # Keep G's graph only for the last D step: the G step reuses that batch instead of generating again.
            keep_graph = critic_step == cfg.n_critic - 1
            with torch.set_grad_enabled(keep_graph), self._autocast():
                fake = self.G(self._noise(batch))
            with self._autocast():
                real_logits = self.D(real)
                fake_logits = self.D(fake.detach())
                extras = []
                for source in self.fake_sources:
                    extra = source.sample(batch, self.epoch, self.device)
                    if extra is not None:
                        extras.append((self.D(extra.contiguous(memory_format=self.memory_format)), source.weight))
                d_loss = self.loss.d(real_logits.float(), fake_logits.float(), [(x.float(), w) for x, w in extras])
            if cfg.gp_weight > 0:
                with self._autocast():
                    gp = gradient_penalty(self.D, real, fake.detach(), generator=self.noise_rng)
                d_loss = d_loss + cfg.gp_weight * gp.float()
            else:
                gp = torch.zeros((), device=self.device)
            self.d_optimizer.zero_grad(set_to_none=True)
            d_loss.backward()
            self.d_optimizer.step()
            if cfg.weight_clip > 0:
                clip_weights_(self.D, cfg.weight_clip)
            self.d_steps += 1

        self.D.requires_grad_(False)  # the G step needs gradients through D, not for D
        with self._autocast():
            g_loss = self.loss.g(self.D(fake).float())
        self.g_optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        self.g_optimizer.step()
        self.D.requires_grad_(True)
        if self.ema is not None:
            update_ema(self.ema, self.G, ema_decay_at(cfg.ema_decay, self.iteration))

        row = torch.stack([d_loss.detach(), g_loss.detach(), real_logits.detach().float().mean(),
                           fake_logits.detach().float().mean(), gp.detach().float()])
        self._log_rows[self._log_fill] = row
        self._log_fill += 1
        self.iteration += 1

    # ------------------------------------------------------------------ logging

    def _flush_log(self, bar: tqdm | None = None) -> None:
        """Read the buffered losses back (one device sync), stop on NaN/Inf, append their mean to losses.csv."""
        if self._log_fill == 0:
            return
        rows = self._log_rows[: self._log_fill].cpu()
        finite = torch.isfinite(rows)
        if not bool(finite.all()):
            row, column = (~finite).nonzero()[0].tolist()
            iteration = self._log_start + row + 1
            kept = (f"the last good checkpoint (iteration {self.last_checkpoint_iteration}) is kept at {self.checkpoint_path}"
                    if self.last_checkpoint_iteration is not None else "no checkpoint had been written yet")
            raise TrainingError(
                f"non-finite {LOG_COLUMNS[column]} ({rows[row, column].item()}) at iteration {iteration} "
                f"(epoch {iteration * self.train_cfg.n_critic / self.epoch_length:.2f}); training stopped and {kept}"
            )
        means = rows.mean(0).tolist()
        record = {"step": self.iteration, "epoch": round(self.epoch, 4), "d_steps": self.d_steps}
        record.update({name: round(value, 6) for name, value in zip(LOG_COLUMNS, means)})
        record["lr_g"] = self.g_optimizer.param_groups[0]["lr"]
        record["lr_d"] = self.d_optimizer.param_groups[0]["lr"]
        new_file = not self.losses_path.exists()
        with self.losses_path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(record))
            if new_file:
                writer.writeheader()
            writer.writerow(record)
        if bar is not None:
            bar.set_postfix(loss_d=f"{means[0]:.3f}", loss_g=f"{means[1]:.3f}", epoch=f"{self.epoch:.2f}", refresh=False)
        self._log_fill = 0
        self._log_start = self.iteration

    def _truncate_losses(self) -> None:
        """On resume, drop log rows written after the checkpoint so the curve has no duplicated stretch."""
        if not self.losses_path.exists():
            return
        with self.losses_path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        kept = [r for r in rows if int(r["step"]) <= self.iteration]
        if len(kept) == len(rows):
            return
        tmp = self.losses_path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as handle:
            if kept:
                writer = csv.DictWriter(handle, fieldnames=list(kept[0]))
                writer.writeheader()
                writer.writerows(kept)
        tmp.replace(self.losses_path)

    # ------------------------------------------------------------------ samples

    def sampling_generator(self) -> nn.Module:
        """The network used for samples and evaluation: the EMA copy when there is one."""
        return self.ema if self.ema is not None else self.G

    @torch.no_grad()
    def _generate(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] from ``z`` in eval mode (no BatchNorm statistics are updated)."""
        network = self.sampling_generator()
        was_training = network.training
        network.eval()
        try:
            with self._autocast():
                return torch.cat([network(chunk).float() for chunk in z.split(256)])
        finally:
            network.train(was_training)

    def _random_samples(self, n: int) -> torch.Tensor:
        return self._generate(self._noise(n))

    def _save_grid(self, name: str, images: torch.Tensor) -> None:
        path = self.out_dir / "samples" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        nrow = max(1, int(math.sqrt(len(images))))
        save_image(images.float().cpu(), path, nrow=nrow, normalize=True, value_range=(-1, 1))

    def _on_epoch_end(self, epoch: int) -> None:
        for scheduler in (self.g_scheduler, self.d_scheduler):
            if scheduler is not None:
                scheduler.step()
        for source in self.fake_sources:
            source.on_epoch_end(epoch, self._random_samples)
        keep_tensor = self.log_cfg.epoch_samples > 0 and epoch > self.total_epochs - self.log_cfg.keep_epoch_samples
        keep_grid = any(abs(epoch - e) < 1e-9 for e in self.log_cfg.grid_epochs)
        if keep_tensor or keep_grid:
            (self.out_dir / "samples").mkdir(parents=True, exist_ok=True)
            images = self._generate(self.epoch_z)
            if keep_grid:
                self._save_grid(f"epoch_{epoch:04d}.png", images[: self.log_cfg.grid_size])
            if keep_tensor:
                torch.save(to_uint8(images), self.out_dir / "samples" / f"epoch_{epoch:04d}.pt")

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": ckpt.CHECKPOINT_FORMAT,
            "metadata": self.metadata,
            "iteration": self.iteration,
            "d_steps": self.d_steps,
            "epochs_done": self.epochs_done,
            "elapsed_seconds": self._elapsed,
            "generator": self.G.state_dict(),
            "discriminator": self.D.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "g_optimizer": self.g_optimizer.state_dict(),
            "d_optimizer": self.d_optimizer.state_dict(),
            "g_scheduler": self.g_scheduler.state_dict() if self.g_scheduler is not None else None,
            "d_scheduler": self.d_scheduler.state_dict() if self.d_scheduler is not None else None,
            "fake_sources": {source.name: source.state_dict() for source in self.fake_sources},
            "rng": {
                "noise": self.noise_rng.get_state(),
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["generator"])
        self.D.load_state_dict(state["discriminator"])
        if self.ema is not None:
            if state["ema"] is None:
                raise TrainingError("the checkpoint has no EMA generator but this run asks for one (train.ema_decay > 0)")
            self.ema.load_state_dict(state["ema"])
        self.g_optimizer.load_state_dict(state["g_optimizer"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])
        for scheduler, key in ((self.g_scheduler, "g_scheduler"), (self.d_scheduler, "d_scheduler")):
            if scheduler is not None and state[key] is not None:
                scheduler.load_state_dict(state[key])
        for source in self.fake_sources:
            if source.name in state["fake_sources"]:
                source.load_state_dict(state["fake_sources"][source.name])
        self.noise_rng.set_state(state["rng"]["noise"])
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.iteration = state["iteration"]
        self.d_steps = state["d_steps"]
        self.epochs_done = state["epochs_done"]
        self._elapsed = state.get("elapsed_seconds", 0.0)
        self._log_start = self.iteration
        self.last_checkpoint_iteration = self.iteration

    def save_checkpoint(self, bar: tqdm | None = None) -> Path:
        self._flush_log(bar)  # never write a checkpoint before its losses were checked for NaN/Inf
        ckpt.save_atomic(self.state_dict(), self.checkpoint_path)
        self.last_checkpoint_iteration = self.iteration
        return self.checkpoint_path

    def resume(self) -> bool:
        """Load ``out_dir/checkpoint.pt`` when it exists; True if a run was resumed."""
        if not self.checkpoint_path.exists():
            return False
        self.load_state_dict(ckpt.load(self.checkpoint_path, map_location=self.device))
        self._truncate_losses()
        return True

    # ------------------------------------------------------------------ the loop

    def fit(self, resume: bool = True, on_iteration: Callable[["Trainer"], None] | None = None) -> dict[str, Any]:
        """Train to the configured number of epochs; returns a summary that is also written to summary.json."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        resumed = self.resume() if resume else False
        if not resumed:
            self.losses_path.unlink(missing_ok=True)
        log = self.log_cfg
        start_iteration, elapsed_before = self.iteration, self._elapsed
        started = time.perf_counter()
        self.G.train()
        self.D.train()
        bar = tqdm(total=self.total_iterations, initial=self.iteration, desc=self.out_dir.name, unit="it",
                   disable=not log.progress, dynamic_ncols=True)
        try:
            while self.iteration < self.total_iterations:
                self._iteration()
                bar.update(1)
                while self.d_steps >= (self.epochs_done + 1) * self.epoch_length - 1e-9:
                    self.epochs_done += 1
                    self._on_epoch_end(self.epochs_done)
                if self._log_fill == len(self._log_rows):
                    self._flush_log(bar)
                if log.sample_every > 0 and self.iteration % log.sample_every == 0:
                    self._save_grid(f"iter_{self.iteration:07d}.png", self._generate(self.grid_z))
                if log.checkpoint_every > 0 and self.iteration % log.checkpoint_every == 0:
                    self._elapsed += time.perf_counter() - started
                    started = time.perf_counter()
                    self.save_checkpoint(bar)
                if on_iteration is not None:
                    on_iteration(self)
            self._elapsed += time.perf_counter() - started
            self.save_checkpoint(bar)
        finally:
            bar.close()
        self._save_grid("final.png", self._generate(self.grid_z))
        trained = self.iteration - start_iteration
        session_seconds = self._elapsed - elapsed_before
        summary = {
            "iterations": self.iteration,
            "d_steps": self.d_steps,
            "epochs": round(self.epoch, 4),
            "batch_size": self.train_cfg.batch_size,
            "train_images": len(self.images),
            "device": str(self.device),
            "bf16": self.train_cfg.bf16,
            "resumed": resumed,
            "seconds": round(self._elapsed, 2),
            # real images shown to D per second, this session only (a resumed run may mix machines)
            "images_per_second": round(trained * self.train_cfg.n_critic * self.train_cfg.batch_size / session_seconds, 1)
            if trained and session_seconds > 0 else None,
            "train": asdict(self.train_cfg),
        }
        (self.out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return summary
