"""The experiment matrix of ``params.yaml``, step by step: prepare, train, evaluate.

DVC stages call these through ``python -m anime_gan pipeline <step>``; the
notebooks call them directly. Each step reuses what already exists when it was
made from the same config (a finished checkpoint, a metrics file), so a notebook
run after ``dvc repro`` only reads, and a notebook run on a fresh clone trains
what it needs at its own (small) profile.

Where things go, for profile P and main dataset D:
    data/runs/P/D/<experiment>/        checkpoint, losses.csv, samples/
    reports/P/D/metrics/<experiment>.json
    reports/P/D/{tables,figures}/      written by the notebooks
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from anime_gan.config import ExperimentConfig
from anime_gan.data import load_images, prepare, train_holdout_split
from anime_gan.errors import ConfigError
from anime_gan.experiment import config_fingerprint, generate_images, load_generator, resolution_of, run
from anime_gan.params import PARAMS_FILE, Params, experiment_config, load_params

EVAL_SEED = 2024  # noise seed for evaluation samples, fixed so re-evaluations see the same images
ANIME_FACE_DATASETS = ("anime-faces", "folder:")  # where the distortion rate (an anime-face detector) applies


class Pipeline:
    """The matrix of one params file under its active profile, rooted at a project folder."""

    def __init__(self, params: Params, root: str | Path = ".", progress: bool = True) -> None:
        self.params = params
        self.root = Path(root)
        self.progress = progress

    @classmethod
    def open(cls, root: str | Path = ".", progress: bool = True, **top_level: str) -> "Pipeline":
        """The project's params.yaml with ``profile``, ``data`` or ``second_data`` replaced (as papermill passes them)."""
        params = load_params(Path(root) / PARAMS_FILE)
        for key, value in top_level.items():
            if key not in ("profile", "data", "second_data"):
                raise ConfigError(f"Pipeline.open: {key!r} is not one of profile, data, second_data")
            setattr(params, key, value)
        params.active_profile  # an unknown profile fails here, naming the defined ones
        return cls(params, root=root, progress=progress)

    # -------------------------------------------------------------- layout

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports" / self.params.profile / self.params.data

    def run_dir(self, name: str) -> Path:
        return self.root / self.params.runs_root / self.params.profile / self.params.data / name

    def metrics_path(self, name: str) -> Path:
        return self.reports_dir / "metrics" / f"{name}.json"

    def losses_path(self, name: str) -> Path:
        return self.reports_dir / "losses" / f"{name}.csv"

    def config(self, name: str) -> ExperimentConfig:
        config = experiment_config(self.params, name, self.root)
        if not self.progress:
            config.log.progress = False
        return config

    def experiments(self, paper: str | None = None) -> list[str]:
        names = [n for n, e in self.params.experiments.items() if paper is None or e.paper == paper]
        if paper is not None and not names:
            papers = sorted({e.paper for e in self.params.experiments.values()})
            raise ConfigError(f"params.yaml has no experiment for paper {paper!r}; papers: {papers}")
        return names

    # -------------------------------------------------------------- steps

    def prepare(self) -> list[Path]:
        """Prepare every (dataset, resolution) the experiments need."""
        needed = sorted({(c.data.dataset, resolution_of(c)) for c in map(self.config, self.experiments())})
        root = self.root / self.params.data_root
        return [prepare(name, resolution, root=root, progress=self.progress).images_path for name, resolution in needed]

    def is_trained(self, name: str) -> bool:
        summary = self.run_dir(name) / "summary.json"
        if not summary.exists():
            return False
        return json.loads(summary.read_text()).get("config_fingerprint") == config_fingerprint(self.config(name))

    def train(self, name: str, force: bool = False) -> Path:
        """Train (or resume) ``name`` unless a finished run of the same config exists; returns the checkpoint.

        ``force`` retrains a finished run from scratch (DVC runs a stage because something it depends on
        changed, code included) but still resumes an interrupted one.
        """
        finished = (self.run_dir(name) / "summary.json").exists()
        if force and finished:
            run(self.config(name), self.run_dir(name), fresh=True)
        elif not self.is_trained(name):
            run(self.config(name), self.run_dir(name))
        return self.run_dir(name) / "checkpoint.pt"

    def reference_images(self, config: ExperimentConfig, n: int) -> tuple[torch.Tensor, str]:
        """Real faces the model never trained on (the hold-out split), at the model's resolution."""
        images = load_images(config.data.dataset, resolution_of(config), root=config.data.root)
        _, holdout = train_holdout_split(len(images), config.data.holdout_fraction)
        if len(holdout) == 0:
            return images[:n], "training images (no hold-out split in this profile)"
        return images[holdout[:n]], f"hold-out split ({config.data.holdout_fraction:.0%} of the dataset)"

    def evaluate(self, name: str) -> dict[str, Any]:
        """Compute the profile's metrics for a trained run and write them to reports/.../metrics/<name>.json."""
        from anime_gan.metrics import evaluate_images

        settings = self.params.active_profile.evaluate
        config = self.config(name)
        checkpoint = self.train(name)
        generator, _ = load_generator(checkpoint)
        fakes = generate_images(generator, settings.n, seed=EVAL_SEED)
        reference, split = self.reference_images(config, settings.n)
        wanted, skipped = list(settings.metrics), {}
        if "dr" in wanted and not config.data.dataset.startswith(ANIME_FACE_DATASETS):
            # The detector is an anime-face detector: on emoji or photos its misses measure nothing (and offline,
            # without the mirror, its cascade file is not at hand).
            wanted.remove("dr")
            skipped["dr"] = f"the anime-face detector does not apply to {config.data.dataset}"
        metrics = evaluate_images(fakes, reference, wanted, reference_name=config.data.dataset,
                                  batch_size=settings.batch_size, progress=self.progress,
                                  cache_dir=self.root / self.params.data_root / "reference")
        run_dir = self.run_dir(name)
        summary = json.loads((run_dir / "summary.json").read_text())
        entry = self.params.entry(name)
        result = {
            "experiment": name,
            "paper": entry.paper,
            "row": entry.row,
            "profile": self.params.profile,
            "dataset": config.data.dataset,
            "resolution": list(resolution_of(config)),
            "reference": split,
            "config_fingerprint": config_fingerprint(config),
            "training": {k: summary.get(k) for k in ("iterations", "d_steps", "epochs", "batch_size", "train_images",
                                                     "seconds", "images_per_second", "device", "bf16")},
            "epoch_scale": config.train.epoch_scale,
            "metrics": metrics,
            "skipped": skipped,
            "per_epoch": self._per_epoch_distortion(run_dir, reference) if "dr" in wanted else [],
        }
        path = self.metrics_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
        # A copy of the loss log beside the metrics, for `dvc plots` and the reports.
        losses = self.losses_path(name)
        losses.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run_dir / "losses.csv", losses)
        return result

    def _per_epoch_distortion(self, run_dir: Path, reference: torch.Tensor) -> list[dict[str, Any]]:
        """BaMSGAN's per-epoch DR on the fixed batch of samples saved at each of the last epochs."""
        from anime_gan.metrics.dr import face_found

        files = sorted((run_dir / "samples").glob("epoch_*.pt"))
        if not files:
            return []
        real_found = float(face_found(reference).mean())
        rows = []
        for path in files:
            found = float(face_found(torch.load(path, weights_only=True)).mean())
            rows.append({
                "epoch": int(path.stem.split("_")[1]),
                "dr_raw": round(1 - found, 4),
                "dr_calibrated": round(min(1.0, max(0.0, 1 - found / real_found)) if real_found else float("nan"), 4),
            })
        return rows

    def results(self, names: list[str]) -> dict[str, dict[str, Any]]:
        """The metrics of each experiment, training and evaluating only what is missing or out of date."""
        return {name: self.evaluated(name) for name in names}

    def sample_grid(self, name: str, epoch: float | None = None) -> Path | None:
        """The fixed-noise PNG grid saved at ``epoch`` (one of the config's log.grid_epochs), or the final one."""
        samples = self.run_dir(name) / "samples"
        path = samples / ("final.png" if epoch is None else f"epoch_{int(epoch):04d}.png")
        return path if path.exists() else None

    def evaluated(self, name: str) -> dict[str, Any]:
        """The metrics file of ``name`` when it matches the current config, else a fresh evaluation."""
        path = self.metrics_path(name)
        if path.exists():
            result = json.loads(path.read_text())
            if result.get("config_fingerprint") == config_fingerprint(self.config(name)) and self.is_trained(name):
                return result
        return self.evaluate(name)
