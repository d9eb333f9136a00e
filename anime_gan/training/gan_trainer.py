"""One adversarial training loop for every unconditional GAN in the package.

The loop receives built objects (networks, a loss, optimisers, schedulers, extra
fake sources and, for progressive growing, a step plan) and knows no model by
name; ``anime_gan.experiment`` builds those objects from a config.

Vocabulary:
- a *D step* shows the discriminator one real batch, one generated batch and
  one batch from each active extra fake source, then updates D;
- an *iteration* is ``n_critic`` D steps followed by one G step; the critic steps
  each draw a fresh real batch (``critic_batches: fresh``, Arjovsky's WGAN) or all
  reuse one (``reuse``, the WGAN-GP code BaMSGAN compares with);
- an *epoch* is ``epoch_scale * N`` real images drawn (every image once when
  ``epoch_scale`` is 1). Progress is counted in real images drawn, so epochs,
  memory start, per-epoch schedules and samples mean the same under every
  critic setting, and a step plan may change the batch size as training goes.

Speed: the step never waits for the device. Losses are written into a device
buffer and read back every ``log.every`` iterations, where they are also checked
for NaN/Inf; checkpoints are only written right after such a check, so the last
checkpoint on disk always comes from finite losses.

Resuming: a checkpoint holds networks, optimisers, schedulers, the EMA
generator, the extra sources' states (memory bank), every RNG state and the
counters. Data order and the step plan are functions of the images drawn, so a
resumed run on the CPU ends with exactly the weights of an unbroken one.

Several processes (torchrun): every process draws the same global batch and noise
and keeps its share (``RealImageStream``); DistributedDataParallel averages the
gradients; only the first process writes files.
"""

from __future__ import annotations

import copy
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Protocol, Sequence

import torch
from torch import nn

from anime_gan.training import checkpoint as ckpt
from anime_gan.config import LogConfig, TrainConfig
from anime_gan.training.stream import RealImageStream
from anime_gan.device import pick_device
from anime_gan.training.distributed import DistributedContext
from anime_gan.training.ema import (BATCHNORM_MODES, ema_decay_at, ema_record, has_batchnorm,
                                    recompute_batchnorm_stats, update_ema)
from anime_gan.errors import ConfigError, DataError, TrainingError
from anime_gan.training.loop import TrainingLoop
from anime_gan.losses import AdversarialLoss, clip_weights_, feature_matching_loss, gradient_penalty, r1_penalty
from anime_gan.training.speed import SpeedOptions, autocast
from anime_gan.training.run_log import save_grid
from anime_gan.data.pixels import to_uint8, to_unit_range
from anime_gan.training.sources import FakeSource

LOG_COLUMNS = ("loss_d", "loss_g", "d_real", "d_fake", "gp", "r1", "feature_matching")
CRITIC_BATCHES = ("fresh", "reuse")
WARMUP_CRITIC_STEPS, WARMUP_G_STEPS, WARMUP_EVERY = 100, 25, 500  # Arjovsky et al.'s WGAN code


class StepPlan(Protocol):
    """Per-step state that changes as training goes (progressive growing), as a function of images drawn."""

    def batch_size(self, images_shown: int) -> int: ...

    def apply(self, images_shown: int, networks: Iterable[nn.Module]) -> None: ...

    def real(self, images: torch.Tensor, images_shown: int) -> torch.Tensor: ...

    def describe(self, images_shown: int) -> dict: ...

    def phase_index(self, images_shown: int) -> int: ...

    @property
    def resets_optimizers(self) -> bool: ...

    def record(self) -> dict: ...


def reset_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """Forget every parameter's state (Adam's moments and step count); the hyperparameters stay."""
    optimizer.state.clear()


def critic_steps(n_critic: int, g_steps: int, warmup: bool) -> int:
    """D steps before G step number ``g_steps`` (0-based); Arjovsky's warm-up gives the critic 100 steps for the
    first 25 generator steps and every 500th, so it is near optimal when G moves."""
    if warmup and (g_steps < WARMUP_G_STEPS or g_steps % WARMUP_EVERY == 0):
        return WARMUP_CRITIC_STEPS
    return n_critic


def check_separable_batches(discriminator: nn.Module) -> None:
    """``train.concat_d_batches`` runs D once over real and generated images together; that only equals separate
    passes when no layer of D mixes the samples of its batch."""
    group = getattr(discriminator, "mbstd_group_size", 1)
    if group > 1:
        raise ConfigError(f"train.concat_d_batches puts real and generated images in one batch, but "
                          f"discriminator.mbstd_group_size {group} makes D compute a standard deviation over groups of "
                          f"samples, which would then mix real and fake images; set train.concat_d_batches=false "
                          f"(or discriminator.mbstd_group_size=1)")
    if has_batchnorm(discriminator):
        raise ConfigError(f"train.concat_d_batches puts real and generated images in one batch, but the "
                          f"discriminator ({type(discriminator).__name__}) has BatchNorm, whose statistics would then "
                          f"mix real and fake images; set train.concat_d_batches=false")


class Trainer(TrainingLoop):
    """Adversarial training of one G and one D; counters, loss log, checkpoints, resumption and the outer loop
    come from :class:`anime_gan.training.loop.TrainingLoop`."""

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
        source_batch_sizes: Sequence[int] = (),  # images per D step of each fake source (0 = the training batch)
        g_scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        d_scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        schedule_step: str = "epoch",  # when the schedulers step: epoch | iteration
        step_plan: StepPlan | None = None,  # progressive growing: batch size, resolution and fade per step
        speed: SpeedOptions | None = None,  # bf16 / channels_last / compile, already resolved for the device
        distributed: DistributedContext | None = None,
        metadata: dict[str, Any] | None = None,  # saved in every checkpoint (the resolved config)
    ) -> None:
        if real_images.dtype != torch.uint8 or real_images.ndim != 4:
            raise DataError(f"real images must be uint8 (N, 3, H, W), got {real_images.dtype} {tuple(real_images.shape)}")
        if len(real_images) < train.batch_size:
            raise DataError(f"{len(real_images)} training images are fewer than one batch of {train.batch_size}")
        if train.critic_batches not in CRITIC_BATCHES:
            raise ConfigError(f"train.critic_batches {train.critic_batches!r} is not one of {list(CRITIC_BATCHES)}")
        if train.ema_batchnorm not in BATCHNORM_MODES:
            raise ConfigError(f"train.ema_batchnorm {train.ema_batchnorm!r} is not one of {list(BATCHNORM_MODES)}")
        if train.concat_d_batches:
            check_separable_batches(discriminator)
        if train.feature_matching > 0 and not hasattr(discriminator, "features"):
            raise ConfigError(f"train.feature_matching needs a discriminator that exposes its features; "
                              f"{type(discriminator).__name__} does not (dcgan and sagan do)")
        if schedule_step not in ("epoch", "iteration"):
            raise ConfigError(f"schedule.step {schedule_step!r} is not one of ['epoch', 'iteration']")
        distributed = distributed or DistributedContext()
        super().__init__(out_dir, columns=LOG_COLUMNS, epoch_images=train.epoch_scale * len(real_images),
                         epochs=train.epochs, device=distributed.device(pick_device(train.device)), log_every=log.every,
                         sample_every=log.sample_every, checkpoint_every=log.checkpoint_every, progress=log.progress,
                         distributed=distributed, seed=seed, speed=speed)
        self.train_cfg, self.log_cfg = train, log
        self.hflip = hflip
        self.memory_format = torch.channels_last if self.speed.channels_last else torch.contiguous_format

        # The networks as built (for weights, EMA and checkpoints) and as called (compiled / DDP-wrapped).
        # The EMA copy keeps plain BatchNorm: only the first process samples it (grids, epoch samples), and a
        # SyncBatchNorm in training mode (its statistics recomputed) would wait for the other processes forever.
        ema = copy.deepcopy(generator) if train.ema_decay > 0 else None
        if self.dist.enabled and train.sync_batchnorm:
            if self.device.type != "cuda":
                raise ConfigError("train.sync_batchnorm needs GPUs (PyTorch's SyncBatchNorm runs on CUDA only); on "
                                  f"{self.device.type} each process normalises over its own share of the batch")
            generator = nn.SyncBatchNorm.convert_sync_batchnorm(generator)
            discriminator = nn.SyncBatchNorm.convert_sync_batchnorm(discriminator)
        self.g_net = generator.to(self.device, memory_format=self.memory_format)
        self.d_net = discriminator.to(self.device, memory_format=self.memory_format)
        self.ema = (ema.to(self.device, memory_format=self.memory_format).eval().requires_grad_(False)
                    if ema is not None else None)
        self._ema_stats_fresh = False  # the EMA copy's BatchNorm statistics match its current weights
        if self.speed.compile:
            self.g_net.compile()
            self.d_net.compile()
        self.G = self.dist.wrap(self.g_net).train()
        self.D = self.dist.wrap(self.d_net).train()

        self.loss = loss
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.g_scheduler, self.d_scheduler = g_scheduler, d_scheduler
        self.schedule_step = schedule_step
        self.fake_sources = list(fake_sources)
        self.source_batch_sizes = list(source_batch_sizes) or [0] * len(self.fake_sources)
        self.step_plan = step_plan
        self.metadata = metadata or {}
        self.images = real_images.to(self.device)
        self.stream = RealImageStream(len(real_images), seed=seed, rank=self.dist.rank, world=self.dist.world,
                                      device=self.device)
        self.latent_dim = int(generator.latent_dim)

        # Noise, interpolation weights and flips come from one device generator whose state is checkpointed;
        # every process draws the global batch's values and keeps its share.
        self.noise_rng = torch.Generator(device=self.device).manual_seed(seed)
        cpu_rng = torch.Generator().manual_seed(seed + 1)
        # Fixed noise is drawn on the CPU so grids look the same on every device.
        self.grid_z = torch.randn(log.grid_size, self.latent_dim, generator=cpu_rng).to(self.device)
        self.epoch_z = torch.randn(log.epoch_samples, self.latent_dim, generator=cpu_rng).to(self.device)

        self.d_steps = 0  # iteration counts G steps; images_drawn the real images of all processes
        self._plan_position = 0  # images drawn when the current iteration started
        self._plan_phase: int | None = None  # the step plan's phase of the last iteration (checkpointed)
        self.optimizer_resets: list[int] = []  # images drawn at each reset of the optimisers' state

    # ------------------------------------------------------------------ counters

    def _batch_size(self) -> int:
        return self.step_plan.batch_size(self.images_drawn) if self.step_plan else self.train_cfg.batch_size

    # ------------------------------------------------------------------ data

    def _real_batch(self, batch: int) -> torch.Tensor:
        """This process's share of the next ``batch`` real images, in [-1, 1]."""
        index = self.stream.indices(self.images_drawn, batch)  # already on the device: no copy, no wait
        real = to_unit_range(self.images[index])
        if self.hflip:
            flip = self.stream.shard(torch.rand(batch, device=self.device, generator=self.noise_rng) < 0.5)
            real = torch.where(flip.reshape(-1, 1, 1, 1), real.flip(3), real)
        self.images_drawn += batch
        if self.step_plan is not None:
            real = self.step_plan.real(real, self._plan_position)
        return real.contiguous(memory_format=self.memory_format)

    def _noise(self, n: int) -> torch.Tensor:
        """This process's share of ``n`` latent vectors."""
        return self.stream.shard(torch.randn(n, self.latent_dim, device=self.device, generator=self.noise_rng))

    def _extra_fakes(self, batch: int) -> list[tuple[torch.Tensor, float]]:
        extras = []
        for source, size in zip(self.fake_sources, self.source_batch_sizes):
            images = source.sample(size or batch, self.epoch, self.device)
            if images is not None:
                images = self.stream.shard(images, even=False)
                extras.append((images.contiguous(memory_format=self.memory_format), source.weight))
        return extras

    def _autocast(self):
        return autocast(self.speed, self.device)

    # ------------------------------------------------------------------ one iteration

    def _discriminator_logits(self, real: torch.Tensor, fake: torch.Tensor,
                              extras: list[tuple[torch.Tensor, float]]) -> tuple[torch.Tensor, torch.Tensor, list]:
        """D's logits on real, generated and extra fake images: one forward each, or one over all of them."""
        if self.train_cfg.concat_d_batches:
            parts = [real, fake] + [x for x, _ in extras]
            logits = self.D(torch.cat(parts)).float().split([len(p) for p in parts])
            return logits[0], logits[1], [(x, w) for x, (_, w) in zip(logits[2:], extras)]
        return (self.D(real).float(), self.D(fake).float(),
                [(self.D(x).float(), w) for x, w in extras])

    def step(self) -> None:
        """One iteration: n_critic D steps, then one G step."""
        cfg = self.train_cfg
        self._plan_position = self.images_drawn  # the step plan holds still within an iteration
        if self.step_plan is not None:
            self.step_plan.apply(self.images_drawn, [self.g_net, self.d_net] + ([self.ema] if self.ema else []))
            self._reset_optimizers_at_new_phase()
        batch = self._batch_size()
        n_critic = critic_steps(cfg.n_critic, self.iteration, cfg.critic_warmup)
        real = None
        for critic_step in range(n_critic):
            if real is None or cfg.critic_batches == "fresh":
                real = self._real_batch(batch)
            # Keep G's graph only for the last D step: the G step reuses that batch instead of generating again.
            keep_graph = critic_step == n_critic - 1
            with torch.set_grad_enabled(keep_graph), self._autocast():
                fake = self.G(self._noise(batch))
            with self._autocast():
                real_logits, fake_logits, extras = self._discriminator_logits(real, fake.detach(), self._extra_fakes(batch))
                d_loss = self.loss.d(real_logits, fake_logits, extras)
                gp = r1 = torch.zeros((), device=self.device)
                if cfg.gp_weight > 0:
                    alpha = self.stream.shard(torch.rand(batch, device=self.device, generator=self.noise_rng))
                    gp = gradient_penalty(self.D, real, fake.detach(), alpha=alpha).float()
                    d_loss = d_loss + cfg.gp_weight * gp
                if cfg.r1_gamma > 0:
                    r1 = r1_penalty(self.D, real).float()
                    d_loss = d_loss + 0.5 * cfg.r1_gamma * r1
            self.d_optimizer.zero_grad(set_to_none=True)
            d_loss.backward()
            self.d_optimizer.step()
            if cfg.weight_clip > 0:
                clip_weights_(self.d_net, cfg.weight_clip)
            self.d_steps += 1

        # The G step needs gradients through D, not for D; the bare network avoids a second DDP forward.
        self.d_net.requires_grad_(False)
        with self._autocast():
            g_loss = self.loss.g(self.d_net(fake).float())
            matching = torch.zeros((), device=self.device)
            if cfg.feature_matching > 0:  # seed 004's fusion: match D's mean features of real and generated batches
                matching = feature_matching_loss([f.float() for f in self.d_net.features(real)],
                                                 [f.float() for f in self.d_net.features(fake)])
                g_loss = g_loss + cfg.feature_matching * matching
        self.g_optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        self.g_optimizer.step()
        self.d_net.requires_grad_(True)
        if self.ema is not None:
            update_ema(self.ema, self.g_net, ema_decay_at(cfg.ema_decay, self.iteration))
            self._ema_stats_fresh = False
        if self.schedule_step == "iteration":
            self._step_schedulers()

        self.log.add([d_loss, g_loss, real_logits.mean(), fake_logits.mean(), gp, r1, matching])
        self.iteration += 1

    def _step_schedulers(self) -> None:
        for scheduler in (self.g_scheduler, self.d_scheduler):
            if scheduler is not None:
                scheduler.step()

    def _reset_optimizers_at_new_phase(self) -> None:
        """The first iteration of a new phase of the step plan empties both optimisers' state when the plan asks
        for it; the phase of the previous iteration is checkpointed, so resuming never resets again."""
        phase = self.step_plan.phase_index(self.images_drawn)
        if self._plan_phase is not None and phase != self._plan_phase and self.step_plan.resets_optimizers:
            reset_optimizer_state(self.g_optimizer)
            reset_optimizer_state(self.d_optimizer)
            self.optimizer_resets.append(self.images_drawn)
        self._plan_phase = phase

    # ------------------------------------------------------------------ what the loss log and summary add

    def log_extra(self) -> dict[str, Any]:
        extra = {"d_steps": self.d_steps, "lr_g": self.g_optimizer.param_groups[0]["lr"],
                 "lr_d": self.d_optimizer.param_groups[0]["lr"]}
        if self.step_plan is not None:
            extra.update(self.step_plan.describe(self.images_drawn))
        return extra

    def postfix(self, means: dict[str, float]) -> dict[str, str]:
        return {"loss_d": f"{means['loss_d']:.3f}", "loss_g": f"{means['loss_g']:.3f}"}

    def summary_extra(self) -> dict[str, Any]:
        extra = {"d_steps": self.d_steps, "batch_size": self.train_cfg.batch_size, "train_images": len(self.images),
                 "speed": self.speed.as_dict(), "bf16": self.speed.bf16, "sampled": self.sampling_description(),
                 "ema": ema_record(self.train_cfg.ema_decay, self.iteration), "train": asdict(self.train_cfg)}
        if self.step_plan is not None:  # per-phase batch sizes: train.batch_size is not what a growing run used
            extra["growth"] = {**self.step_plan.record(), "optimizer_resets_at_images": self.optimizer_resets}
        return extra

    # ------------------------------------------------------------------ samples

    def sampling_generator(self) -> nn.Module:
        """The network used for samples and evaluation: the EMA copy when there is one (its BatchNorm statistics
        recomputed for its own weights unless ``ema_batchnorm: copy``), else the generator."""
        if self.ema is None:
            return self.g_net
        if not self._ema_stats_fresh and self.train_cfg.ema_batchnorm == "recompute" and has_batchnorm(self.ema):
            recompute_batchnorm_stats(self.ema, self.latent_dim, seed=self.seed + 2, device=self.device)
        self._ema_stats_fresh = True
        return self.ema

    def sampling_description(self) -> str:
        """Which network made the samples, in words (recorded in the summary and the metrics)."""
        if self.ema is None:
            return "generator (no EMA)"
        text = f"EMA of the generator (decay {self.train_cfg.ema_decay:g})"
        if has_batchnorm(self.ema):
            text += (", BatchNorm statistics recomputed for the averaged weights" if self.train_cfg.ema_batchnorm ==
                     "recompute" else ", BatchNorm statistics copied from the live generator")
        return text

    @torch.no_grad()
    def _generate(self, z: torch.Tensor, network: nn.Module | None = None) -> torch.Tensor:
        """Images in [-1, 1] from ``z`` in eval mode (no BatchNorm statistics are updated)."""
        network = network or self.sampling_generator()
        was_training = network.training
        network.eval()
        try:
            with self._autocast():
                return torch.cat([network(chunk).float() for chunk in z.split(256)])
        finally:
            network.train(was_training)

    def _generator_samples(self, n: int) -> torch.Tensor:
        """Samples of the generator being trained (not its EMA copy): what BaMSGAN's memory stores."""
        return self._generate(torch.randn(n, self.latent_dim, device=self.device, generator=self.noise_rng),
                              network=self.g_net)

    def _save_grid(self, name: str, images: torch.Tensor) -> None:
        if self.dist.is_main:
            save_grid(images, self.out_dir / "samples" / name)

    def save_samples(self, name: str) -> None:
        """The fixed-noise grid ``samples/<name>`` (first process only)."""
        if self.dist.is_main:
            self._save_grid(name, self._generate(self.grid_z))

    def on_epoch_end(self, epoch: int) -> None:
        if self.schedule_step == "epoch":
            self._step_schedulers()
        for source in self.fake_sources:
            source.on_epoch_end(epoch, self._generator_samples)
        keep_tensor = self.log_cfg.epoch_samples > 0 and epoch > self.total_epochs - self.log_cfg.keep_epoch_samples
        keep_grid = any(abs(epoch - e) < 1e-9 for e in self.log_cfg.grid_epochs)
        if (keep_tensor or keep_grid) and self.dist.is_main:
            (self.out_dir / "samples").mkdir(parents=True, exist_ok=True)
            images = self._generate(self.epoch_z)
            if keep_grid:
                # The grid shows the epoch samples' noise; with none kept (epoch_samples 0), the fixed grid noise.
                shown = images[: self.log_cfg.grid_size] if len(images) else self._generate(self.grid_z)
                self._save_grid(f"epoch_{epoch:04d}.png", shown)
            if keep_tensor:
                torch.save(to_uint8(images), self.out_dir / "samples" / f"epoch_{epoch:04d}.pt")

    # ------------------------------------------------------------------ checkpoints

    def training_state(self) -> dict[str, Any]:
        return {
            "metadata": {**self.metadata, "speed": self.speed.as_dict(), "world_size": self.dist.world,
                         "sampled": self.sampling_description()},
            "d_steps": self.d_steps,
            "generator": self.g_net.state_dict(),
            "discriminator": self.d_net.state_dict(),
            "ema": self.sampling_generator().state_dict() if self.ema is not None else None,
            "g_optimizer": self.g_optimizer.state_dict(),
            "d_optimizer": self.d_optimizer.state_dict(),
            "g_scheduler": self.g_scheduler.state_dict() if self.g_scheduler is not None else None,
            "d_scheduler": self.d_scheduler.state_dict() if self.d_scheduler is not None else None,
            "fake_sources": {source.name: source.state_dict() for source in self.fake_sources},
            "rng": ckpt.rng_state(self.noise_rng, self.device),
            "plan_phase": self._plan_phase,
            "optimizer_resets": self.optimizer_resets,
        }

    def load_training_state(self, state: dict[str, Any]) -> None:
        saved_world = state["metadata"].get("world_size", 1)
        if saved_world != self.dist.world:
            raise TrainingError(f"{self.checkpoint_path} was written by a run of {saved_world} process(es); resume it "
                                f"with the same number (this run has {self.dist.world})")
        self.g_net.load_state_dict(state["generator"])
        self.d_net.load_state_dict(state["discriminator"])
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
        self.restore_rng(state["rng"], self.noise_rng, state["iteration"])
        self.d_steps = state["d_steps"]
        self._plan_phase = state.get("plan_phase")
        self.optimizer_resets = list(state.get("optimizer_resets", []))
