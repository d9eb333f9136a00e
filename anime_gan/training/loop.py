"""The parts of a training loop that do not depend on what is trained.

A loop subclasses ``TrainingLoop`` and supplies one iteration (``step``), what
happens at the end of an epoch, its sample grids, and the part of the checkpoint
that holds its networks and optimisers. This class supplies the rest, the same
for every kind of training:

- counters in real images drawn (``images_drawn``), so epochs mean the same at
  any batch size: an epoch is ``epoch_images`` images (``epoch_scale`` passes
  over the training set);
- the loss log (``LossLog``): losses stay on the device and are read back every
  ``log_every`` iterations, where a NaN or Inf stops the run naming the
  iteration, the loss and the checkpoint that is kept;
- checkpoints, written atomically and only right after such a check, holding
  the counters, the training seconds so far and the subclass's state;
- exact resumption from ``out_dir/checkpoint.pt``, with the loss log cut back
  to the checkpoint; a checkpoint written on another kind of device (``train.device``
  may change on resume) restores everything but the device's own random generators,
  re-seeds the noise generator from (seed, iteration), warns and says so in
  ``summary.json`` (``resumed_on_other_device``);
- ``fit``: the progress bar, epoch ends, periodic grids and checkpoints, and
  ``summary.json`` with the timing.

Several processes (torchrun): only the first one writes files; the loss log
averages over processes.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from anime_gan.training import checkpoint as ckpt
from anime_gan.training.distributed import DistributedContext
from anime_gan.errors import ConfigError, TrainingError
from anime_gan.training.run_log import LossLog
from anime_gan.training.speed import SpeedOptions, backend_flags

CHECKPOINT_NAME = "checkpoint.pt"
LOSSES_NAME = "losses.csv"
SUMMARY_NAME = "summary.json"


class TrainingLoop:
    """Counters, loss log, checkpoints, resumption and the outer loop; subclasses supply one iteration."""

    def __init__(
        self,
        out_dir: str | Path,  # checkpoint.pt, losses.csv, summary.json, samples/
        *,
        columns: tuple[str, ...],  # names of the values each iteration logs
        epoch_images: float,  # real images drawn per epoch (epoch_scale * training images)
        epochs: float,  # training length in epochs
        device: torch.device,
        log_every: int,  # read the losses back every N iterations
        seed: int = 0,  # the run's seed (re-seeds the noise generator after a resume on another kind of device)
        speed: SpeedOptions | None = None,  # resolved for the device; fit runs under its backend flags
        sample_every: int = 0,  # sample grid every N iterations (0 = off)
        checkpoint_every: int = 0,  # checkpoint every N iterations (0 = only at the end)
        progress: bool = True,  # tqdm bar
        distributed: DistributedContext | None = None,
    ) -> None:
        if epoch_images <= 0:
            raise ConfigError(f"an epoch must hold at least one image, got {epoch_images} (check train.epoch_scale)")
        self.out_dir = Path(out_dir)
        self.dist = distributed or DistributedContext()
        self.device = device
        self.seed = seed
        self.speed = speed or SpeedOptions()
        self.epoch_images = epoch_images
        self.total_images = max(1, round(epochs * epoch_images))
        self.total_epochs = math.floor(self.total_images / epoch_images + 1e-9)
        self.sample_every, self.checkpoint_every, self.progress = sample_every, checkpoint_every, progress
        self.iteration = 0
        self.images_drawn = 0  # real images drawn by all processes together
        self.epochs_done = 0
        self.elapsed_seconds = 0.0  # training seconds over all sessions of this run
        self.last_checkpoint_iteration: int | None = None
        self.resumed_on_other_device: dict[str, Any] | None = None  # set by a resume from another kind of device
        self.log = LossLog(self.out_dir / LOSSES_NAME, columns, log_every, device, write=self.dist.is_main,
                           reduce=self.dist.mean if self.dist.enabled else None)

    # ------------------------------------------------------------------ what a loop supplies

    def step(self) -> None:
        """One iteration: update the networks, add one row to ``self.log``, advance ``iteration`` and
        ``images_drawn``."""
        raise NotImplementedError

    def on_epoch_end(self, epoch: int) -> None:
        """Called once per finished epoch (1-based) right after the iteration that finished it."""

    def save_samples(self, name: str) -> None:
        """Write a sample grid ``samples/<name>`` (first process only)."""

    def training_state(self) -> dict[str, Any]:
        """Networks, optimisers, schedulers, RNG states...: everything besides the counters."""
        raise NotImplementedError

    def load_training_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def log_extra(self) -> dict[str, Any]:
        """Values that lead each losses.csv row besides step, epoch and images (learning rates...)."""
        return {}

    def postfix(self, means: dict[str, float]) -> dict[str, str]:
        """What the progress bar shows of a window's mean losses."""
        return {}

    def summary_extra(self) -> dict[str, Any]:
        """The loop's own entries of summary.json."""
        return {}

    # ------------------------------------------------------------------ counters and paths

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / CHECKPOINT_NAME

    @property
    def losses_path(self) -> Path:
        return self.out_dir / LOSSES_NAME

    @property
    def epoch(self) -> float:
        """Fractional epoch: real images drawn / images per epoch."""
        return self.images_drawn / self.epoch_images

    # ------------------------------------------------------------------ log and checkpoints

    def flush_log(self, bar: tqdm | None = None) -> None:
        """Read the buffered losses back (one device sync), stop on NaN/Inf, append their mean to losses.csv."""
        kept = ""
        if self.last_checkpoint_iteration is not None:
            kept = (f"the last good checkpoint (iteration {self.last_checkpoint_iteration}) is kept at "
                    f"{self.checkpoint_path}")
        extra = {"step": self.iteration, "epoch": round(self.epoch, 4), "images": self.images_drawn,
                 **self.log_extra()}
        try:
            means = self.log.flush(self.iteration, extra, last_checkpoint=kept)
        except TrainingError as err:
            raise TrainingError(f"{err} (epoch {self.epoch:.2f})") from None
        if bar is not None and means is not None:
            bar.set_postfix(**self.postfix(means), epoch=f"{self.epoch:.2f}", refresh=False)

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": ckpt.CHECKPOINT_FORMAT,
            "device_type": self.device.type,  # whose generator states the checkpoint holds
            "iteration": self.iteration,
            "images_drawn": self.images_drawn,
            "epochs_done": self.epochs_done,
            "elapsed_seconds": self.elapsed_seconds,
            **self.training_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        written_on = state.get("device_type", self.device.type)  # older checkpoints: taken as this run's
        self.resumed_on_other_device = None
        if written_on != self.device.type:
            self.resumed_on_other_device = {
                "checkpoint_device": written_on, "device": self.device.type, "iteration": state["iteration"],
                "restored": "weights, optimisers, schedulers, extra sources and pools, the CPU generator",
                "reseeded": f"the {self.device.type} noise generator, from (seed {self.seed}, iteration "
                            f"{state['iteration']}): {written_on} generator states do not carry over",
            }
            warnings.warn(f"{self.checkpoint_path} was written on {written_on}, this run trains on {self.device.type}: "
                          f"weights, optimisers and data order resume exactly, but the noise generator is re-seeded "
                          f"from (seed, iteration), so the run no longer matches an unbroken {written_on} run; "
                          f"recorded in {SUMMARY_NAME} as resumed_on_other_device", stacklevel=2)
        self.load_training_state(state)
        self.iteration = state["iteration"]
        self.images_drawn = state["images_drawn"]
        self.epochs_done = state["epochs_done"]
        self.elapsed_seconds = state.get("elapsed_seconds", 0.0)
        self.log.restart_at(self.iteration)
        self.last_checkpoint_iteration = self.iteration

    def save_checkpoint(self, bar: tqdm | None = None) -> Path:
        self.flush_log(bar)  # never write a checkpoint before its losses were checked for NaN/Inf
        state = self.state_dict()
        if self.dist.is_main:
            ckpt.save_atomic(state, self.checkpoint_path)
        self.dist.barrier()
        self.last_checkpoint_iteration = self.iteration
        return self.checkpoint_path

    def restore_rng(self, saved: dict[str, Any], noise_rng: torch.Generator, iteration: int) -> None:
        """The checkpoint's random generators: exactly on the device type that wrote them; after a change of device
        type the CPU's, with the noise generator re-seeded from (seed, ``iteration``)."""
        reseed = None if self.resumed_on_other_device is None else ckpt.reseeded_noise(self.seed, iteration)
        ckpt.set_rng_state(saved, noise_rng, self.device, reseed=reseed)

    def resume(self) -> bool:
        """Load ``out_dir/checkpoint.pt`` when it exists; True if a run was resumed.

        The file is read onto the CPU: generator states must stay CPU ByteTensors (``torch.set_rng_state``
        refuses others), and ``load_state_dict`` moves weights and optimiser states to their device.
        """
        if not self.checkpoint_path.exists():
            return False
        self.load_state_dict(ckpt.load(self.checkpoint_path, map_location="cpu"))
        self.log.truncate(self.iteration)
        return True

    # ------------------------------------------------------------------ the loop

    def _out_of_time(self, started: float, time_limit: float | None) -> bool:
        """True once this session has trained ``time_limit`` seconds; under torchrun the first process decides for
        all (one small all-reduce per iteration, only when a limit is set), so every process stops at the same
        iteration."""
        if time_limit is None:
            return False
        late = time.perf_counter() - started >= time_limit
        if not self.dist.enabled:
            return late
        flag = torch.tensor([float(late and self.dist.is_main)], device=self.device)
        return bool(self.dist.mean(flag).item() > 0)

    def fit(self, resume: bool = True, on_iteration: Callable[[Any], None] | None = None,
            time_limit: float | None = None) -> dict[str, Any]:
        """Train to the configured length, or until ``time_limit`` seconds of this session have passed (then the
        run stops after the current iteration with a checkpoint, and resumes later where it stopped); returns a
        summary that is also written to summary.json (``complete`` says whether the configured length was reached)."""
        if time_limit is not None and time_limit <= 0:
            raise ConfigError(f"a time limit must be positive, got {time_limit} s")
        if self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self.dist.barrier()
        with backend_flags(self.speed):
            return self._fit(resume, on_iteration, time_limit)

    def _fit(self, resume: bool, on_iteration: Callable[[Any], None] | None, time_limit: float | None) -> dict[str, Any]:
        resumed = self.resume() if resume else False
        if not resumed and self.dist.is_main:
            self.losses_path.unlink(missing_ok=True)
        start_images, elapsed_before = self.images_drawn, self.elapsed_seconds
        started = started_session = time.perf_counter()
        bar = tqdm(total=self.total_images, initial=self.images_drawn, desc=self.out_dir.name, unit="img",
                   disable=not (self.progress and self.dist.is_main), dynamic_ncols=True, unit_scale=True)
        try:
            while self.images_drawn < self.total_images:
                before = self.images_drawn
                self.step()
                bar.update(self.images_drawn - before)
                while self.images_drawn >= (self.epochs_done + 1) * self.epoch_images - 1e-6:
                    self.epochs_done += 1
                    self.on_epoch_end(self.epochs_done)
                if self.log.full:
                    self.flush_log(bar)
                if self.sample_every > 0 and self.iteration % self.sample_every == 0:
                    self.save_samples(f"iter_{self.iteration:07d}.png")
                if self.checkpoint_every > 0 and self.iteration % self.checkpoint_every == 0:
                    self.elapsed_seconds += time.perf_counter() - started
                    started = time.perf_counter()
                    self.save_checkpoint(bar)
                if on_iteration is not None:
                    on_iteration(self)
                if self._out_of_time(started_session, time_limit):
                    break
            self.elapsed_seconds += time.perf_counter() - started
            self.save_checkpoint(bar)
        finally:
            bar.close()
        self.save_samples("final.png")
        shown = self.images_drawn - start_images
        session_seconds = self.elapsed_seconds - elapsed_before
        summary = {
            "iterations": self.iteration,
            "images": self.images_drawn,
            "epochs": round(self.epoch, 4),
            "device": str(self.device),
            "processes": self.dist.world,
            "resumed": resumed,
            "complete": self.images_drawn >= self.total_images,  # False: stopped at the time limit, resumable
            "time_limit_seconds": time_limit,
            "resumed_on_other_device": self.resumed_on_other_device,
            "seconds": round(self.elapsed_seconds, 2),
            # real images drawn per second, this session only (a resumed run may mix machines)
            "images_per_second": round(shown / session_seconds, 1) if shown and session_seconds > 0 else None,
            **self.summary_extra(),
        }
        if self.dist.is_main:
            (self.out_dir / SUMMARY_NAME).write_text(json.dumps(summary, indent=2) + "\n")
        return summary
