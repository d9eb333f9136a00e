"""The experiment matrix of ``params.yaml``, step by step: prepare, train, evaluate.

DVC stages call these through ``python -m anime_gan pipeline <step>``; the
notebooks call them directly. Each step reuses what already exists when it was
made from the same config (a finished checkpoint, a metrics file), so a notebook
run after ``dvc repro`` only reads, and a notebook run on a fresh clone trains
what it needs at its own (small) profile.

Where things go, for profile P and main dataset D:
    data/runs/P/D/<experiment>/             checkpoint, losses.csv, samples/
    reports/P/D/metrics/<experiment>.json   the numbers (what `dvc metrics show` and `dvc metrics diff` read)
    reports/P/D/provenance/<experiment>.json  how they were made: data, split, extractor, weights, settings,
                                            which network was sampled, per-epoch distortion rates, warnings
    reports/P/D/seed00X/                    tables and figures, written by the notebooks
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from anime_gan.config import ExperimentConfig, config_fingerprint, resolution_of
from anime_gan.data import load_images, prepare, train_holdout_split
from anime_gan.errors import ConfigError
from anime_gan.experiment import generate_images, load_generator, run
from anime_gan.params import PARAMS_FILE, Params, experiment_config, load_params
from anime_gan.training.ema import ema_record

EVAL_SEED = 2024  # noise seed for evaluation samples, fixed so re-evaluations see the same images
# The numbers of a metrics file, in this order; everything else goes to the provenance file beside it.
HEADLINE = ("fd_effnet", "precision_effnet", "recall_effnet", "kid_effnet", "kid_effnet_std", "is_effnet", "fid", "kid",
            "is", "dr_raw", "dr_real", "dr_calibrated")
TRANSLATION_HEADLINE = ("fd_effnet_untranslated", "content_distance_effnet", "content_ssim", "cycle_error_source",
                        "cycle_error_target")
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

    @property
    def data_dir(self) -> Path:
        """The prepared datasets and reference caches (params ``data_root``, under the project folder)."""
        return self.root / self.params.data_root

    def run_dir(self, name: str) -> Path:
        return self.root / self.params.runs_root / self.params.profile / self.params.data / name

    def metrics_path(self, name: str) -> Path:
        return self.reports_dir / "metrics" / f"{name}.json"

    def provenance_path(self, name: str) -> Path:
        return self.reports_dir / "provenance" / f"{name}.json"

    def losses_path(self, name: str) -> Path:
        return self.reports_dir / "losses" / f"{name}.csv"

    def config(self, name: str) -> Any:
        """The resolved config of ``name``: an ExperimentConfig, or a TranslationConfig (``is_translation``)."""
        config = experiment_config(self.params, name, self.root)
        if not self.progress:
            config.log.progress = False
        return config

    @staticmethod
    def is_translation(config: Any) -> bool:
        return hasattr(config, "source")

    def datasets_of(self, config: Any) -> set[tuple[str, tuple[int, int]]]:
        """The (dataset, resolution) pairs a config trains on."""
        if self.is_translation(config):
            size = resolution_of(config)
            return {(config.source.dataset, size), (config.target.dataset, size)}
        return {(config.data.dataset, resolution_of(config))}

    def experiments(self, paper: str | None = None, kind: str | None = None) -> list[str]:
        """Experiment names, of one paper and one kind (gan | translation) when given."""
        names = [n for n, e in self.params.experiments.items() if paper is None or e.paper == paper]
        if kind is not None:
            names = [n for n in names if ("translation" if self.is_translation(self.config(n)) else "gan") == kind]
        if paper is not None and not names:
            papers = sorted({e.paper for e in self.params.experiments.values()})
            raise ConfigError(f"params.yaml has no experiment for paper {paper!r}; papers: {papers}")
        return names

    # -------------------------------------------------------------- steps

    def prepare(self) -> list[Path]:
        """Prepare every (dataset, resolution) the experiments and the style comparison need."""
        needed = set().union(*(self.datasets_of(c) for c in map(self.config, self.experiments())))
        style = self.params.active_profile.style
        needed |= {(style.source, (style.size, style.size)), (self.params.data, (style.size, style.size))}
        needed = sorted(needed)
        root = self.data_dir
        return [prepare(name, resolution, root=root, progress=self.progress).images_path for name, resolution in needed]

    def is_trained(self, name: str) -> bool:
        summary = self.run_dir(name) / "summary.json"
        if not summary.exists():
            return False
        summary = json.loads(summary.read_text())
        # A run stopped at a time limit (`train --minutes`) is resumed, not taken as finished.
        return summary.get("config_fingerprint") == config_fingerprint(self.config(name)) and summary.get("complete", True)

    def train(self, name: str, force: bool = False) -> Path:
        """Train (or resume) ``name`` unless a finished run of the same config exists; returns the checkpoint.

        ``force`` retrains a finished run from scratch (DVC runs a stage because something it depends on
        changed, code included) but still resumes an interrupted one.
        """
        summary = self.run_dir(name) / "summary.json"
        finished = summary.exists() and json.loads(summary.read_text()).get("complete", True)
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
        from anime_gan.metrics import computable_here, evaluate_images

        settings = self.params.active_profile.evaluate
        config = self.config(name)
        checkpoint = self.train(name)
        if self.is_translation(config):
            return self._evaluate_translation(name, config, checkpoint)
        generator, _ = load_generator(checkpoint)
        fakes = generate_images(generator, settings.n, seed=EVAL_SEED)
        reference, split = self.reference_images(config, settings.n)
        wanted, skipped = computable_here(settings.metrics)
        if "dr" in wanted and not config.data.dataset.startswith(ANIME_FACE_DATASETS):
            # The detector is an anime-face detector: on emoji or photos its misses measure nothing (and offline,
            # without the mirror, its cascade file is not at hand).
            wanted.remove("dr")
            skipped["dr"] = f"the anime-face detector does not apply to {config.data.dataset}"
        metrics = evaluate_images(fakes, reference, wanted, reference_name=config.data.dataset,
                                  batch_size=settings.batch_size, progress=self.progress, cache_dir=self.reference_cache)
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
            "sampled": getattr(generator, "sampled", "generator"),
            "truncation_psi": 1.0,
            "truncation_cutoff": None,
            "training": self._training_record(summary, config, ("iterations", "d_steps", "images", "epochs",
                                                                "batch_size", "train_images", "seconds",
                                                                "images_per_second", "device", "processes", "speed",
                                                                "growth")),
            "epoch_scale": config.train.epoch_scale,
            "metrics": metrics,
            "skipped": skipped,
            "per_epoch": self._per_epoch_distortion(run_dir, reference, config.data.dataset) if "dr" in wanted else [],
        }
        self._write_result(name, result)
        # A copy of the loss log beside the metrics, for `dvc plots` and the reports.
        losses = self.losses_path(name)
        losses.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run_dir / "losses.csv", losses)
        return result

    def _evaluate_translation(self, name: str, config: Any, checkpoint: Path) -> dict[str, Any]:
        """Translated held-out photographs against held-out anime faces, content distance and cycle errors."""
        from anime_gan.metrics import computable_here
        from anime_gan.translation import evaluate_translation

        settings = self.params.active_profile.evaluate
        metrics, skipped = computable_here([m for m in settings.metrics if m != "dr"])
        skipped["dr"] = "the anime-face detector judges generated faces, not translations"
        scores = evaluate_translation(checkpoint, n=settings.n, metrics=metrics, batch_size=settings.batch_size,
                                      progress=self.progress, cache_dir=self.reference_cache, root=self.data_dir)
        run_dir = self.run_dir(name)
        summary = json.loads((run_dir / "summary.json").read_text())
        entry = self.params.entry(name)
        scores["n_fake"] = scores.get("n_fake", scores["n_source"])
        result = {
            "experiment": name, "paper": entry.paper, "row": entry.row, "profile": self.params.profile,
            "kind": "translation", "dataset": f"{config.source.dataset} -> {config.target.dataset}",
            "resolution": list(resolution_of(config)),
            "reference": f"{scores['target_split']} of {config.target.dataset}; translated: {scores['source_split']} "
                         f"of {config.source.dataset}",
            "config_fingerprint": config_fingerprint(config), "sampled": scores.get("sampled"),
            "truncation_psi": None,
            "training": self._training_record(summary, config, ("iterations", "d_steps", "images", "epochs",
                                                                "batch_size", "seconds", "images_per_second",
                                                                "device", "processes")),
            "epoch_scale": config.train.epoch_scale, "metrics": scores,
            "skipped": skipped, "per_epoch": [],
        }
        self._write_result(name, result)
        losses = self.losses_path(name)
        losses.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run_dir / "losses.csv", losses)
        return result

    @staticmethod
    def _training_record(summary: dict[str, Any], config: Any, keys: tuple[str, ...]) -> dict[str, Any]:
        """The summary's ``keys`` and how the sampled EMA copy was averaged (its warm-up keeps the decay below the
        configured one for thousands of steps); runs whose summary predates that record get it from the config."""
        record = {k: summary.get(k) for k in keys}
        record["ema"] = summary.get("ema") or ema_record(config.train.ema_decay, summary["iterations"])
        return record

    @property
    def reference_cache(self) -> Path:
        return self.data_dir / "reference"

    def _write_result(self, name: str, result: dict[str, Any]) -> None:
        """The headline numbers to metrics/<name>.json (flat, short: what DVC shows), the rest to provenance/."""
        metrics, training = result["metrics"], result["training"]
        numbers = {key: round(metrics[key], 6) for key in HEADLINE if isinstance(metrics.get(key), (int, float))}
        for key in TRANSLATION_HEADLINE:
            if isinstance(metrics.get(key), (int, float)):
                numbers[key] = round(metrics[key], 6)
        numbers.update({"n": metrics["n_fake"], "g_steps": training["iterations"],
                        "train_minutes": round((training.get("seconds") or 0) / 60, 2)})
        for path, content in ((self.metrics_path(name), numbers), (self.provenance_path(name), result)):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(content, indent=2) + "\n")

    def _per_epoch_distortion(self, run_dir: Path, reference: torch.Tensor, reference_name: str) -> list[dict[str, Any]]:
        """BaMSGAN's per-epoch DR on the fixed batch of samples saved at each of the last epochs; the detector's
        pass over the real faces is cached with the reference features."""
        from anime_gan.metrics.dr import calibrated, face_found, real_detection_rate

        files = sorted((run_dir / "samples").glob("epoch_*.pt"))
        if not files:
            return []
        real_found = real_detection_rate(reference, reference_name, cache_dir=self.reference_cache)
        rows = []
        for path in files:
            found = float(face_found(torch.load(path, map_location="cpu", weights_only=True)).mean())
            rows.append({"epoch": int(path.stem.split("_")[1]), "dr_raw": round(1 - found, 4),
                         "dr_calibrated": round(calibrated(found, real_found), 4)})
        return rows

    def results(self, names: list[str]) -> dict[str, dict[str, Any]]:
        """The metrics of each experiment, training and evaluating only what is missing or out of date."""
        return {name: self.evaluated(name) for name in names}

    # -------------------------------------------------------------- seed 004: style transfer

    @property
    def style_dir(self) -> Path:
        return self.root / self.params.runs_root / self.params.profile / self.params.data / "style"

    def style_inputs(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(content photographs, style anime faces, held-out anime faces) for the style comparison, uint8.

        Contents: the first ``pairs`` of the photographs' hold-out split; styles: a seeded sample of the anime
        faces' training split (so no style image is also a reference image); reference: their hold-out split.
        """
        settings = self.params.active_profile.style
        root = self.data_dir
        photos = load_images(settings.source, settings.size, root=root, progress=self.progress)
        anime = load_images(self.params.data, settings.size, root=root, progress=self.progress)
        # The split every profile but `paper` trains with; the comparison needs held-out images under every profile.
        _, photo_holdout = train_holdout_split(len(photos), 0.2)
        anime_train, anime_holdout = train_holdout_split(len(anime), 0.2)
        picks = anime_train[torch.randperm(len(anime_train), generator=torch.Generator().manual_seed(4))]
        return (photos[photo_holdout[: settings.pairs]], anime[picks[: settings.pairs]],
                anime[anime_holdout[: settings.reference_n]])

    def style_transfer(self) -> list[dict[str, Any]]:
        """Every style-transfer method on the profile's content/style pairs: the stylised sets go to style_dir, the
        numbers to reports/.../seed004/style_metrics.json (seconds, content and style distances, content SSIM,
        colour distance, fd_effnet) and what each measures to style_provenance.json."""
        from anime_gan.style.compare import MEASURES, compare_methods

        settings = self.params.active_profile.style
        contents, styles, reference = self.style_inputs()
        outcomes, rows = compare_methods(contents, styles, reference, settings.methods, settings.nst_steps,
                                         progress=self.progress, cache_dir=self.reference_cache,
                                         reference_name=self.params.data)
        self.style_dir.mkdir(parents=True, exist_ok=True)
        torch.save({"contents": contents, "styles": styles,
                    "results": {m: o.images for m, o in outcomes.items()},
                    "records": {m: o.records for m, o in outcomes.items()}}, self.style_dir / "stylised.pt")
        out = self.reports_dir / "seed004"
        out.mkdir(parents=True, exist_ok=True)
        numbers = {row["method"]: {k: round(v, 6) for k, v in row.items() if isinstance(v, (int, float))} for row in rows}
        (out / "style_metrics.json").write_text(json.dumps(numbers, indent=2) + "\n")
        provenance = {"rows": rows, "measures": MEASURES, "settings": vars(settings),
                      "content": f"{settings.source} hold-out split",
                      "style": f"{self.params.data} training split (seeded sample)",
                      "reference": f"{self.params.data} hold-out split, {len(reference)} images"}
        (out / "style_provenance.json").write_text(json.dumps(provenance, indent=2, default=str) + "\n")
        return rows

    def sample_grid(self, name: str, epoch: float | None = None) -> Path | None:
        """The fixed-noise PNG grid saved at ``epoch`` (one of the config's log.grid_epochs), or the final one."""
        samples = self.run_dir(name) / "samples"
        path = samples / ("final.png" if epoch is None else f"epoch_{int(epoch):04d}.png")
        return path if path.exists() else None

    def _missing_metrics(self, result: dict[str, Any]) -> list[str]:
        """The profile's metrics that a recorded result neither holds nor says why it skipped (a metric added to
        the profile after the result was made)."""
        held = set(result.get("metrics", {})) | set(result.get("skipped", {}))
        if "dr_raw" in held:
            held.add("dr")  # the distortion rate is recorded as dr_raw, dr_real and dr_calibrated
        return [m for m in self.params.active_profile.evaluate.metrics if m not in held]

    def evaluated(self, name: str) -> dict[str, Any]:
        """The recorded result of ``name`` when it matches the current config and holds every metric the profile
        asks for (or says why one was skipped), else a fresh evaluation."""
        path = self.provenance_path(name)
        if path.exists() and self.metrics_path(name).exists():
            result = json.loads(path.read_text())
            missing = self._missing_metrics(result)
            if (result.get("config_fingerprint") == config_fingerprint(self.config(name)) and self.is_trained(name)
                    and not missing):
                return result
        return self.evaluate(name)
