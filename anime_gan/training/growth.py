"""Progressive growing (Karras et al. 2018, kept by StyleGAN): the stage plan as a function of images shown.

Training starts on 4x4 images (or ``start_resolution``) and doubles the resolution
stage by stage. Each new stage first *fades in*: for ``fade_images`` real images
the networks blend their newest block with the previous stage's output (alpha
goes linearly from 0 to 1), then the stage trains *stable* (alpha 1) for
``stable_images``. The last stage lasts until training ends.

Stage k works at 4 * 2^k px. A network that grows implements

    set_growth(stage: int, alpha: float) -> None

and the training loop asks a ``GrowthSchedule`` what to do before each step:

    batch = schedule.batch_size(images_shown)
    schedule.apply(images_shown, [G, D, G_ema])  # set_growth on every network that has it
    real = schedule.real(real_full_resolution, images_shown)

The schedule has no state of its own: everything is a function of
``images_shown`` (real images shown to D so far), a counter the loop already
checkpoints, so a resumed run sees exactly the stages of an unbroken one.

``reset_optimizer`` (NVlabs' StyleGAN code, ``reset_opt_for_new_lod``): the
optimisers' state is emptied at the first iteration of every phase but the
first, that is when a fade starts and when it ends, the two points where their
level of detail changes its integer part. The loop compares the phase of each
iteration with the previous one's (which it checkpoints), so a resumed run
resets exactly where an unbroken one does, and never on resuming.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from anime_gan.config.gan import GrowthConfig
from anime_gan.errors import ConfigError
from anime_gan.models.layers import check_final_resolution, resolution_of_stage, stage_of


@dataclass(frozen=True)
class Phase:
    """One stretch of the plan: images [start, end) at ``stage``, fading in or stable (end None: until the end)."""

    start: int
    end: int | None
    stage: int
    fading: bool

    @property
    def resolution(self) -> int:
        return resolution_of_stage(self.stage)


class GrowthSchedule:
    """Stage, fade alpha, batch size and real-image resolution as functions of the images shown so far."""

    def __init__(
        self,
        config: GrowthConfig,  # the plan
        final_resolution: int | tuple[int, int],  # the data's side; the last stage
        default_batch_size: int | None = None,  # batch for resolutions absent from config.batch_sizes
    ) -> None:
        self.config = config
        self.final_resolution = check_final_resolution(final_resolution, "growth")
        self.final_stage = stage_of(self.final_resolution)
        self.start_stage = stage_of(config.start_resolution) if config.enabled else self.final_stage
        if self.start_stage > self.final_stage:
            raise ConfigError(f"growth.start_resolution {config.start_resolution} is above the final resolution "
                              f"{self.final_resolution}")
        visited = [resolution_of_stage(s) for s in range(self.start_stage, self.final_stage + 1)]
        if config.enabled:
            # Sizes above the final resolution are ignored, so a budget profile can lower the resolution of a config
            # written for a larger one; anything else must be a stage of this run.
            stray = sorted(r for r in set(config.batch_sizes) - set(visited) if r < self.final_resolution)
            if stray:
                raise ConfigError(f"growth.batch_sizes: {stray} are not stages of this run; valid keys: {visited}")
        missing = [r for r in visited if r not in config.batch_sizes or not config.enabled]
        if missing and default_batch_size is None:
            raise ConfigError(f"growth.batch_sizes has no batch size for {missing} and no default was given")
        self.default_batch_size = default_batch_size
        self.phases = self._plan()

    def _plan(self) -> list[Phase]:
        cfg = self.config
        phases: list[Phase] = []
        start = 0
        for stage in range(self.start_stage, self.final_stage + 1):
            if stage > self.start_stage and cfg.fade_images > 0:
                phases.append(Phase(start, start + cfg.fade_images, stage, fading=True))
                start += cfg.fade_images
            last = stage == self.final_stage
            phases.append(Phase(start, None if last else start + cfg.stable_images, stage, fading=False))
            start += cfg.stable_images
        # A stable phase of 0 images never happens; drop it so that lookups land on the next phase.
        return [p for p in phases if p.end is None or p.end > p.start]

    # ------------------------------------------------------------------ lookups

    def phase_index(self, images_shown: int) -> int:
        """Which phase of the plan (0-based) holds ``images_shown``."""
        for index, phase in enumerate(self.phases):
            if phase.end is None or images_shown < phase.end:
                return index
        raise AssertionError("the last phase has no end")  # pragma: no cover

    def phase(self, images_shown: int) -> Phase:
        return self.phases[self.phase_index(images_shown)]

    @property
    def resets_optimizers(self) -> bool:
        """Whether the optimisers' state is emptied when a new phase begins."""
        return self.config.enabled and self.config.reset_optimizer

    def stage(self, images_shown: int) -> tuple[int, float]:
        """(stage, alpha) after ``images_shown`` real images."""
        phase = self.phase(images_shown)
        if not phase.fading:
            return phase.stage, 1.0
        return phase.stage, (images_shown - phase.start) / (phase.end - phase.start)

    def resolution(self, images_shown: int) -> int:
        return resolution_of_stage(self.stage(images_shown)[0])

    def images_until_final(self) -> int:
        """Real images shown before the final stage is fully faded in."""
        return self.phases[-1].start

    # ------------------------------------------------------------------ the loop's protocol

    def batch_size(self, images_shown: int) -> int:
        resolution = self.resolution(images_shown)
        if self.config.enabled and resolution in self.config.batch_sizes:
            return self.config.batch_sizes[resolution]
        return int(self.default_batch_size)

    def apply(self, images_shown: int, networks: Iterable[nn.Module | None]) -> None:
        """``set_growth(stage, alpha)`` on every network that grows (others and None are skipped)."""
        stage, alpha = self.stage(images_shown)
        for network in networks:
            if network is not None and hasattr(network, "set_growth"):
                network.set_growth(stage, alpha)

    def real(self, images: torch.Tensor, images_shown: int) -> torch.Tensor:
        """Real images (N, 3, R, R) at the final resolution -> (N, 3, r, r) at the current stage's, faded like G."""
        stage, alpha = self.stage(images_shown)
        return fade_real(images, resolution_of_stage(stage), alpha)

    def describe(self, images_shown: int) -> dict[str, float | int]:
        stage, alpha = self.stage(images_shown)
        return {"stage": stage, "resolution": resolution_of_stage(stage), "alpha": alpha}

    def record(self) -> dict[str, object]:
        """The plan for a run's summary: each phase's images, resolution and batch size, and the optimiser resets."""
        return {"reset_optimizer": self.resets_optimizers,
                "phases": [{"images_from": p.start, "images_to": p.end, "resolution": p.resolution,
                            "fading": p.fading, "batch_size": self.batch_size(p.start)} for p in self.phases]}


def downsample(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """(N, C, R, R) -> (N, C, r, r) by average pooling over (R/r)x(R/r) squares (box filter, as ProGAN)."""
    factor = images.shape[-1] // resolution
    if factor * resolution != images.shape[-1] or images.shape[-2] != images.shape[-1]:
        raise ValueError(f"cannot downsample {tuple(images.shape[-2:])} images to {resolution}x{resolution}")
    return images if factor == 1 else F.avg_pool2d(images, factor)


def fade_real(images: torch.Tensor, resolution: int, alpha: float) -> torch.Tensor:
    """Real images seen by D at a stage: lerp(upsample2x(downsample to r/2), downsample to r, alpha).

    At alpha 0 they carry no more detail than the previous stage's images, just as G's faded output.
    """
    current = downsample(images, resolution)
    if alpha >= 1.0:
        return current
    previous = F.interpolate(F.avg_pool2d(current, 2), scale_factor=2, mode="nearest")  # (N, C, r/2, r/2) -> (N, C, r, r)
    return torch.lerp(previous, current, alpha)
