"""CycleGAN-style training of an unpaired translator: G: X -> Y, F: Y -> X, D_X and D_Y (seed 000, section 4.2).

One iteration draws a source batch x and a target batch y (two seeded
``RealImageStream``s), then

1. the generators' step: translations G(x), F(y) and reconstructions F(G(x)),
   G(F(y)); loss = adversarial terms of both generators against the two
   discriminators + lambda x cycle L1 (+ identity, + seed 004's content, style
   and feature-matching terms when their weights are not 0); one optimiser
   over the parameters of G and F;
2. the discriminators' step on the newest translations, or on past ones from
   the image pools; one optimiser over D_X and D_Y; WGAN weight clipping after
   it when configured;
3. with ``train.n_critic`` > 1, n_critic - 1 further discriminator steps, each
   on a fresh pair of batches translated by the updated generators (WGAN's
   critic steps; the first step used the generators' own batch).

One optimiser per pair of networks, as CycleGAN's code: Adam and SGD act on
each parameter alone, so this is the same as one optimiser per network.

An epoch is ``epoch_scale`` passes over the source domain's training images,
every batch drawn counted (n_critic of them per iteration); the target stream
runs alongside at the same batch size and wraps at its own size. Everything
else (loss log with NaN stop, atomic checkpoints, exact resumption, progress
bar, summary.json) is ``anime_gan.training.loop.TrainingLoop``'s.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from anime_gan.config.translation import ObjectiveConfig, TranslationLogConfig, TranslationTrainConfig
from anime_gan.data.pixels import to_unit_range
from anime_gan.device import pick_device
from anime_gan.errors import ConfigError, DataError, TrainingError
from anime_gan.losses import (AdversarialLoss, clip_weights_, content_loss, cycle_l1_loss, feature_matching_loss,
                              gram_matrix, identity_l1_loss, style_loss)
from anime_gan.training import checkpoint as ckpt
from anime_gan.training.ema import ema_decay_at, ema_record, update_ema
from anime_gan.training.image_pool import ImagePool
from anime_gan.training.loop import TrainingLoop
from anime_gan.training.run_log import save_grid
from anime_gan.training.speed import SpeedOptions, autocast
from anime_gan.training.stream import RealImageStream

LOG_COLUMNS = ("loss_g", "loss_d", "gan_g", "gan_f", "cycle", "identity", "content", "style", "feature_matching",
               "loss_d_x", "loss_d_y")
TARGET_STREAM_SEED = 7919  # added to the run's seed: the target domain's batch order differs from the source's
POOL_SEEDS = (101, 102)  # added to the run's seed: the generators of the pools of D_X and D_Y


class FeatureBackbone(Protocol):
    """What the content and style terms need of a feature network (``anime_gan.style.backbones.Backbone``)."""

    name: str
    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]

    def features(self, images: torch.Tensor) -> dict[str, torch.Tensor]: ...


# ---------------------------------------------------------------- pure parts


def fusion_terms(backbone: FeatureBackbone, source: torch.Tensor, translated: torch.Tensor,
                 target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Seed 004's content and style terms of a translation G(x), on ``backbone``'s layers; images in [-1, 1].

    content = sum over content layers of content_loss(phi(G(x)), phi(x)): the translation keeps the source's
    layout of parts. style = style_loss over the style layers (equal weights 1/L) between the Gram matrices of
    G(x) and the MEAN Gram matrix of the target batch: the style of the target domain, not of one image.
    Gradients reach ``translated`` only.

    Always in float32, also inside a bf16 autocast region: bf16 feature maps moved these terms' gradients with
    respect to the translation by about 40-50% against float32 (measured on small batches), so under bf16 they
    would steer the generator with noise.
    """
    with torch.autocast(translated.device.type, enabled=False):
        with torch.no_grad():
            source_maps = backbone.features((source.float() + 1) / 2)
            target_maps = backbone.features((target.float() + 1) / 2)
        maps = backbone.features((translated.float() + 1) / 2)
        content = sum(content_loss(maps[name], source_maps[name]) for name in backbone.content_layers)
        n_style = len(backbone.style_layers)
        style = style_loss([maps[name] for name in backbone.style_layers],
                           [gram_matrix(target_maps[name]).mean(0, keepdim=True) for name in backbone.style_layers],
                           [1.0 / n_style] * n_style)
    return content, style


def sampling_description(ema_decay: float) -> str:
    return f"EMA of both generators (decay {ema_decay:g})" if ema_decay > 0 else "generators (no EMA)"


# ---------------------------------------------------------------- the loop


class CycleTrainer(TrainingLoop):
    """Two generators and two discriminators trained together, with checkpoints, grids and exact resumption."""

    def __init__(
        self,
        g: nn.Module,  # G: source (X) -> target (Y), images (N, 3, H, W) in [-1, 1] -> same shape
        f: nn.Module,  # F: target (Y) -> source (X)
        d_x: nn.Module,  # judges source-domain images: real x against F(y)
        d_y: nn.Module,  # judges target-domain images: real y against G(x)
        loss: AdversarialLoss,
        g_optimizer: torch.optim.Optimizer,  # over the parameters of G and F
        d_optimizer: torch.optim.Optimizer,  # over the parameters of D_X and D_Y
        source_images: torch.Tensor,  # uint8 (N, 3, H, W): the source domain's training images
        target_images: torch.Tensor,  # uint8 (M, 3, H, W): the target domain's training images
        out_dir: str | Path,
        *,
        train: TranslationTrainConfig,
        objective: ObjectiveConfig,
        log: TranslationLogConfig,
        seed: int = 0,
        hflip: bool = False,
        grid_images: torch.Tensor | None = None,  # uint8 source images of every grid (default: the first training ones)
        g_scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        d_scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
        schedule_step: str = "epoch",  # epoch | iteration
        backbone: FeatureBackbone | None = None,  # feature network of the content and style terms
        speed: SpeedOptions | None = None,  # resolved for the device
        metadata: dict[str, Any] | None = None,  # saved in every checkpoint (the resolved config)
    ) -> None:
        for role, images in (("source", source_images), ("target", target_images)):
            if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
                raise DataError(f"{role} images must be uint8 (N, 3, H, W), got {images.dtype} {tuple(images.shape)}")
            if len(images) < train.batch_size:
                raise DataError(f"{len(images)} {role} training images are fewer than one batch of {train.batch_size}")
        if source_images.shape[2:] != target_images.shape[2:]:
            raise DataError(f"source images are {tuple(source_images.shape[2:])} but target images "
                            f"{tuple(target_images.shape[2:])}; both domains need one size")
        if schedule_step not in ("epoch", "iteration"):
            raise ConfigError(f"schedule.step {schedule_step!r} is not one of ['epoch', 'iteration']")
        if (objective.content_weight > 0 or objective.style_weight > 0) and backbone is None:
            raise ConfigError("objective.content_weight / style_weight need a feature backbone")
        if objective.feature_matching_weight > 0:
            for name, d in (("D_X", d_x), ("D_Y", d_y)):
                if not hasattr(d, "forward_with_features"):
                    raise ConfigError(f"objective.feature_matching_weight needs discriminators that expose their "
                                      f"intermediate maps (patchgan); {name} is a {type(d).__name__}")
        device = pick_device(train.device)
        super().__init__(out_dir, columns=LOG_COLUMNS, epoch_images=train.epoch_scale * len(source_images),
                         epochs=train.epochs, device=device, log_every=log.every, sample_every=log.sample_every,
                         checkpoint_every=log.checkpoint_every, progress=log.progress, seed=seed, speed=speed)
        self.train_cfg, self.objective, self.log_cfg = train, objective, log
        self.hflip = hflip
        self.memory_format = torch.channels_last if self.speed.channels_last else torch.contiguous_format

        nets = [n.to(device, memory_format=self.memory_format) for n in (g, f, d_x, d_y)]
        self.g, self.f, self.d_x, self.d_y = nets
        self.ema_g = copy.deepcopy(self.g).eval().requires_grad_(False) if train.ema_decay > 0 else None
        self.ema_f = copy.deepcopy(self.f).eval().requires_grad_(False) if train.ema_decay > 0 else None
        if self.speed.compile:
            for network in nets:
                network.compile()
        self.generator_parameters = list(itertools.chain(self.g.parameters(), self.f.parameters()))

        self.loss = loss
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.g_scheduler, self.d_scheduler = g_scheduler, d_scheduler
        self.schedule_step = schedule_step
        self.backbone = backbone
        self.metadata = metadata or {}
        self.source = source_images.to(device)
        self.target = target_images.to(device)
        self.source_stream = RealImageStream(len(source_images), seed=seed, device=device)
        self.target_stream = RealImageStream(len(target_images), seed=seed + TARGET_STREAM_SEED, device=device)
        # Flips come from one device generator whose state is checkpointed; each pool has its own CPU generator.
        self.noise_rng = torch.Generator(device=device).manual_seed(seed)
        self.pool_x = ImagePool(train.pool_size, generator=torch.Generator().manual_seed(seed + POOL_SEEDS[0]))
        self.pool_y = ImagePool(train.pool_size, generator=torch.Generator().manual_seed(seed + POOL_SEEDS[1]))
        grid = grid_images if grid_images is not None else source_images[: log.grid_size]
        self.grid_source = to_unit_range(grid[: log.grid_size]).to(device)
        self.d_steps = 0  # discriminator updates (of D_X and D_Y together); iteration counts generator steps

    # ------------------------------------------------------------------ data

    def _batch(self, images: torch.Tensor, stream: RealImageStream, batch: int) -> torch.Tensor:
        """The next ``batch`` images of one domain in [-1, 1], optionally flipped."""
        index = stream.indices(self.images_drawn, batch)  # already on the device: no copy, no wait
        real = to_unit_range(images[index])
        if self.hflip:
            flip = torch.rand(batch, device=self.device, generator=self.noise_rng) < 0.5
            real = torch.where(flip.reshape(-1, 1, 1, 1), real.flip(3), real)
        return real.contiguous(memory_format=self.memory_format)

    # ------------------------------------------------------------------ one iteration

    def generator_losses(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor],
                                                                          torch.Tensor, torch.Tensor]:
        """(the generators' total loss, its unweighted terms, G(x), F(y)) for a source batch x and a target batch y."""
        o = self.objective
        zero = x.new_zeros((), dtype=torch.float32)
        fake_y = self.g(x)  # G(x): the source batch in the target's style
        fake_x = self.f(y)  # F(y)
        reconstructed_x = self.f(fake_y)  # F(G(x))
        reconstructed_y = self.g(fake_x)  # G(F(y))
        matching = zero
        if o.feature_matching_weight > 0:
            logits_y, fake_maps_y = self.d_y.forward_with_features(fake_y)
            logits_x, fake_maps_x = self.d_x.forward_with_features(fake_x)
            with torch.no_grad():
                real_maps_y, real_maps_x = self.d_y.features(y), self.d_x.features(x)
            matching = (feature_matching_loss([m.float() for m in real_maps_y], [m.float() for m in fake_maps_y])
                        + feature_matching_loss([m.float() for m in real_maps_x], [m.float() for m in fake_maps_x]))
        else:
            logits_y, logits_x = self.d_y(fake_y), self.d_x(fake_x)
        gan_g = self.loss.g(logits_y.float())  # G against D_Y
        gan_f = self.loss.g(logits_x.float())  # F against D_X
        # Seed 000's eq. 9 prints its second term as ||F(G(x)) - y||; the backward cycle must return to y, so it
        # is ||G(F(y)) - y|| (its own text and CycleGAN's eq. 2), which is what cycle_l1_loss computes.
        cycle = cycle_l1_loss(x.float(), reconstructed_x.float(), y.float(), reconstructed_y.float())
        identity = zero
        if o.identity_weight > 0:
            identity = identity_l1_loss(y.float(), self.g(y).float()) + identity_l1_loss(x.float(), self.f(x).float())
        content = style = zero
        if o.content_weight > 0 or o.style_weight > 0:
            content, style = fusion_terms(self.backbone, x, fake_y, y)
        total = (o.adversarial_weight * (gan_g + gan_f) + o.cycle_weight * cycle + o.identity_weight * identity
                 + o.content_weight * content + o.style_weight * style + o.feature_matching_weight * matching)
        terms = {"gan_g": gan_g, "gan_f": gan_f, "cycle": cycle, "identity": identity, "content": content,
                 "style": style, "feature_matching": matching}
        return total, terms, fake_y, fake_x

    def _pair(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next source batch x and target batch y."""
        batch = self.train_cfg.batch_size
        x = self._batch(self.source, self.source_stream, batch)
        y = self._batch(self.target, self.target_stream, batch)
        self.images_drawn += batch
        return x, y

    def discriminator_step(self, x: torch.Tensor, y: torch.Tensor, fake_y: torch.Tensor,
                           fake_x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One update of D_X and D_Y: real x and y against the translations F(y) and G(x) or, from the pools,
        earlier ones; then WGAN weight clipping when configured. Returns (total, D_X's, D_Y's loss)."""
        pooled_y, pooled_x = self.pool_y.query(fake_y), self.pool_x.query(fake_x)
        with autocast(self.speed, self.device):
            loss_d_y = self.loss.d(self.d_y(y).float(), self.d_y(pooled_y).float())
            loss_d_x = self.loss.d(self.d_x(x).float(), self.d_x(pooled_x).float())
            d_loss = loss_d_x + loss_d_y
        self.d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_optimizer.step()
        if self.train_cfg.weight_clip > 0:
            clip_weights_(self.d_x, self.train_cfg.weight_clip)
            clip_weights_(self.d_y, self.train_cfg.weight_clip)
        self.d_steps += 1
        return d_loss, loss_d_x, loss_d_y

    def step(self) -> None:
        x, y = self._pair()

        # Generators: gradients for G and F only (neither the discriminators nor a shared feature network
        # receive any), then one step of their optimiser.
        with autocast(self.speed, self.device):
            g_loss, terms, fake_y, fake_x = self.generator_losses(x, y)
        grads = torch.autograd.grad(g_loss, self.generator_parameters)
        for parameter, grad in zip(self.generator_parameters, grads):
            parameter.grad = grad
        self.g_optimizer.step()

        # Discriminators: first on this step's batch and translations, then (n_critic > 1) on fresh batches
        # translated by the generators just updated.
        d_loss, loss_d_x, loss_d_y = self.discriminator_step(x, y, fake_y, fake_x)
        for _ in range(self.train_cfg.n_critic - 1):
            x, y = self._pair()
            with torch.no_grad(), autocast(self.speed, self.device):
                fake_y, fake_x = self.g(x), self.f(y)
            d_loss, loss_d_x, loss_d_y = self.discriminator_step(x, y, fake_y, fake_x)

        decay = ema_decay_at(self.train_cfg.ema_decay, self.iteration)
        for ema, live in ((self.ema_g, self.g), (self.ema_f, self.f)):
            if ema is not None:
                update_ema(ema, live, decay)
        if self.schedule_step == "iteration":
            self._step_schedulers()
        self.log.add([g_loss, d_loss] + [terms[name] for name in LOG_COLUMNS[2:9]] + [loss_d_x, loss_d_y])
        self.iteration += 1

    def _step_schedulers(self) -> None:
        for scheduler in (self.g_scheduler, self.d_scheduler):
            if scheduler is not None:
                scheduler.step()

    # ------------------------------------------------------------------ epochs, samples, logs

    def on_epoch_end(self, epoch: int) -> None:
        if self.schedule_step == "epoch":
            self._step_schedulers()
        if any(abs(epoch - e) < 1e-9 for e in self.log_cfg.grid_epochs):
            self.save_samples(f"epoch_{epoch:04d}.png")

    def sampling_networks(self) -> tuple[nn.Module, nn.Module]:
        """(G, F) used for grids and evaluation: the EMA copies when there are some."""
        if self.ema_g is not None:
            return self.ema_g, self.ema_f
        return self.g, self.f

    @torch.no_grad()
    def grid_rows(self) -> torch.Tensor:
        """The fixed source images, their translations and reconstructions, (3K, 3, H, W) in [-1, 1]."""
        g, f = self.sampling_networks()
        modes = [(network, network.training) for network in (g, f)]
        for network, _ in modes:
            network.eval()
        try:
            with autocast(self.speed, self.device):
                x = self.grid_source.contiguous(memory_format=self.memory_format)
                translated = g(x).float()
                reconstructed = f(translated.contiguous(memory_format=self.memory_format)).float()
        finally:
            for network, training in modes:
                network.train(training)
        return torch.cat([self.grid_source.float(), translated, reconstructed])

    def save_samples(self, name: str) -> None:
        save_grid(self.grid_rows(), self.out_dir / "samples" / name, nrow=len(self.grid_source))

    def log_extra(self) -> dict[str, Any]:
        return {"lr_g": self.g_optimizer.param_groups[0]["lr"], "lr_d": self.d_optimizer.param_groups[0]["lr"]}

    def postfix(self, means: dict[str, float]) -> dict[str, str]:
        return {"loss_g": f"{means['loss_g']:.3f}", "loss_d": f"{means['loss_d']:.3f}",
                "cycle": f"{means['cycle']:.3f}"}

    # ------------------------------------------------------------------ checkpoints

    def training_state(self) -> dict[str, Any]:
        return {
            "kind": "translation",
            "metadata": {**self.metadata, "speed": self.speed.as_dict(),
                         "sampled": sampling_description(self.train_cfg.ema_decay)},
            "generator_g": self.g.state_dict(),
            "generator_f": self.f.state_dict(),
            "discriminator_x": self.d_x.state_dict(),
            "discriminator_y": self.d_y.state_dict(),
            "ema_g": self.ema_g.state_dict() if self.ema_g is not None else None,
            "ema_f": self.ema_f.state_dict() if self.ema_f is not None else None,
            "g_optimizer": self.g_optimizer.state_dict(),
            "d_optimizer": self.d_optimizer.state_dict(),
            "g_scheduler": self.g_scheduler.state_dict() if self.g_scheduler is not None else None,
            "d_scheduler": self.d_scheduler.state_dict() if self.d_scheduler is not None else None,
            "pools": {"x": self.pool_x.state_dict(), "y": self.pool_y.state_dict()},
            "rng": ckpt.rng_state(self.noise_rng, self.device),
            "d_steps": self.d_steps,
        }

    def load_training_state(self, state: dict[str, Any]) -> None:
        if state.get("kind") != "translation":
            raise TrainingError(f"{self.checkpoint_path} is not a translation checkpoint (a GAN run's?); use another "
                                f"run folder or start over with --fresh")
        for network, key in ((self.g, "generator_g"), (self.f, "generator_f"), (self.d_x, "discriminator_x"),
                             (self.d_y, "discriminator_y")):
            network.load_state_dict(state[key])
        for ema, key in ((self.ema_g, "ema_g"), (self.ema_f, "ema_f")):
            if ema is not None:
                if state[key] is None:
                    raise TrainingError("the checkpoint has no EMA generators but this run asks for them "
                                        "(train.ema_decay > 0)")
                ema.load_state_dict(state[key])
        self.g_optimizer.load_state_dict(state["g_optimizer"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])
        for scheduler, key in ((self.g_scheduler, "g_scheduler"), (self.d_scheduler, "d_scheduler")):
            if scheduler is not None and state[key] is not None:
                scheduler.load_state_dict(state[key])
        self.pool_x.load_state_dict(state["pools"]["x"], self.device)
        self.pool_y.load_state_dict(state["pools"]["y"], self.device)
        self.restore_rng(state["rng"], self.noise_rng, state["iteration"])
        self.d_steps = state.get("d_steps", state["iteration"])  # runs from before n_critic took one per iteration

    def summary_extra(self) -> dict[str, Any]:
        return {
            "d_steps": self.d_steps,
            "batch_size": self.train_cfg.batch_size,
            "source_train_images": len(self.source),
            "target_train_images": len(self.target),
            "speed": self.speed.as_dict(),
            "sampled": sampling_description(self.train_cfg.ema_decay),
            "ema": ema_record(self.train_cfg.ema_decay, self.iteration),
            "fusion_backbone": self.backbone.name if self.backbone is not None else None,
            "train": asdict(self.train_cfg),
            "objective": asdict(self.objective),
        }
