"""What a training run writes besides its checkpoint: the loss log and sample grids.

``LossLog`` keeps each iteration's losses in a device buffer, so the step never
waits for the device; every ``every`` iterations it reads them back once, stops the
run on a NaN or Inf naming the iteration and the loss, and appends the window's
mean to ``losses.csv``. Both training loops (unconditional GANs and translators)
use it.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Callable, Sequence

import torch
from torchvision.utils import save_image

from anime_gan.errors import TrainingError


class LossLog:
    """A device buffer of per-iteration loss rows, flushed to a CSV after a NaN/Inf check."""

    def __init__(
        self,
        path: str | Path,  # losses.csv
        columns: Sequence[str],  # names of the values of one row, e.g. ("loss_d", "loss_g")
        every: int,  # rows kept on the device between two read-backs
        device: torch.device,
        write: bool = True,  # False on every process but the first (the file is written once)
        reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,  # several processes: the global mean
    ) -> None:
        self.path = Path(path)
        self.columns = tuple(columns)
        self.write = write
        self.reduce = reduce
        self._rows = torch.zeros(max(1, every), len(self.columns), device=device)
        self._fill = 0
        self.first_iteration = 0  # iteration number of the first buffered row

    @property
    def full(self) -> bool:
        return self._fill == len(self._rows)

    def add(self, values: Sequence[torch.Tensor]) -> None:
        """Buffer one iteration's values (0-d tensors, still on the device)."""
        self._rows[self._fill] = torch.stack([v.detach().float() for v in values])
        self._fill += 1

    def flush(self, iteration: int, extra: dict | None = None, last_checkpoint: str = "") -> dict[str, float] | None:
        """Read the buffer back (one device sync), raise on NaN/Inf, append the window's mean row to the CSV.

        ``iteration`` is the number of iterations done; ``extra`` leads the CSV row (step, epoch, learning rates).
        Returns the mean values, or None when nothing was buffered.
        """
        if self._fill == 0:
            return None
        rows = self._rows[: self._fill]
        if self.reduce is not None:
            rows = self.reduce(rows.clone())
        rows = rows.cpu()
        finite = torch.isfinite(rows)
        if not bool(finite.all()):
            row, column = (~finite).nonzero()[0].tolist()
            raise TrainingError(
                f"non-finite {self.columns[column]} ({rows[row, column].item()}) at iteration "
                f"{self.first_iteration + row + 1}; training stopped and {last_checkpoint or 'no checkpoint had been written yet'}"
            )
        means = dict(zip(self.columns, rows.mean(0).tolist()))
        if self.write:
            record = dict(extra or {})
            record.update({name: round(value, 6) for name, value in means.items()})
            new_file = not self.path.exists()
            with self.path.open("a", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(record))
                if new_file:
                    writer.writeheader()
                writer.writerow(record)
        self._fill = 0
        self.first_iteration = iteration
        return means

    def restart_at(self, iteration: int) -> None:
        """Forget buffered rows and start counting at ``iteration`` (after loading a checkpoint)."""
        self._fill = 0
        self.first_iteration = iteration

    def truncate(self, iteration: int) -> None:
        """On resume, drop rows written after the checkpoint so the curve has no duplicated stretch."""
        if not self.write or not self.path.exists():
            return
        with self.path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        kept = [r for r in rows if int(r["step"]) <= iteration]
        if len(kept) == len(rows):
            return
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as handle:
            if kept:
                writer = csv.DictWriter(handle, fieldnames=list(kept[0]))
                writer.writeheader()
                writer.writerows(kept)
        tmp.replace(self.path)


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> Path:
    """Images in [-1, 1] (N, 3, H, W) as one PNG grid at native pixel size."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nrow = nrow or max(1, int(math.sqrt(len(images))))
    save_image(images.float().cpu(), path, nrow=nrow, normalize=True, value_range=(-1, 1))
    return path
