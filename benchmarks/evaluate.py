"""Evaluation speed per model, as a ratio against the previous evaluation path measured in the same run.

Both paths evaluate the same fakes against the same real faces with the cpu profile's metrics
(fd_effnet, kid_effnet, is_effnet, dr):

- reference: the evaluation as the package computed it before (reproduced here, fp32): EfficientNet-Lite0
  as its package builds it (conv, BatchNorm, ReLU6 modules), NCHW, torch.compile for sets of 1,000 images
  or more with the last batch padded; the features of the fakes and of the reals; KID by torch-fidelity,
  one kernel matrix per subset; the detector on the fakes and on the reals; no real-side cache.
- new: ``anime_gan.metrics.evaluate_images`` with its defaults, its real-side cache filled (every evaluation
  of a dataset but the first finds it so).

Then each lever alone (features of the fakes, the statistics on the reference's features, or the
detector on the fakes), with its ratio to the reference path's same step and, for feature and statistics
levers, its fd_effnet and relative difference to the reference's fp32 value.
Compiled variants pay a warm-up in every new process (the pipeline evaluates each model in its own
process): it is measured in a fresh subprocess with the compile cache warm and added to their per-model time.

Reals: the hold-out split (20%) of the mirror's anime faces; fakes: as many training-split faces, blurred
(3x3 box) and with seeded Gaussian noise (sd 12), a fixed set the detector half recognises. Variants are
interleaved within each repeat, so a change of machine load hits all of them; medians over repeats.

On CUDA (``--device``, default auto) every timing mark waits for the GPU first
(``anime_gan.device.device_clock``), so each step is timed with its kernels run.

    python benchmarks/evaluate.py [--n 1000] [--resolution 32] [--repeats 3] [--levers all|none|key,key] [--device auto]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from anime_gan.data import load_images, train_holdout_split
from anime_gan.device import device_clock, has_fast_bf16, pick_device
from anime_gan.metrics import FRECHET_BLAS_THREADS, evaluate_images
from anime_gan.metrics.distances import feature_statistics, frechet_distance, inception_score, kernel_distance
from anime_gan.metrics.dr import SETTINGS, cascade_path, face_found
from anime_gan.metrics.features import EffNetLite0, effnet_options

METRICS = ["fd_effnet", "kid_effnet", "is_effnet", "dr"]
PREVIOUS_COMPILE_MIN_IMAGES = 1000  # the previous path compiled only for sets this large


# ------------------------------------------------------------------ the previous path, reproduced


class PreviousEffNet:
    """The previous extractor: the package's module, NCHW, fp32, compiled for large sets, last batch padded."""

    def __init__(self, device: torch.device, compile_large_sets: bool = True) -> None:
        self.device = device
        self.extractor = EffNetLite0(device, effnet_options(device, fold_batchnorm=False, channels_last=False,
                                                            compile=False))
        self.network = self.extractor.network
        self.compiled = torch.compile(self._trunk, dynamic=False) if compile_large_sets else None

    def _trunk(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.network.extract_features(x)  # (N, 1280, 7, 7)
        pooled = maps.mean((2, 3))  # (N, 1280)
        return pooled, self.network._fc(pooled)  # (N, 1280), (N, 1000)

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        run = self.compiled if self.compiled is not None and len(images) >= PREVIOUS_COMPILE_MIN_IMAGES else self._trunk
        features, logits = [], []
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size]
            n = len(batch)
            if n < batch_size:
                batch = torch.cat([batch, batch[:1].expand(batch_size - n, -1, -1, -1)])
            feats, logit = run(EffNetLite0.preprocess(batch.to(self.device)))
            features.append(feats[:n].double().cpu())
            logits.append(logit[:n].double().cpu())
        return torch.cat(features).numpy(), torch.cat(logits).numpy()


def previous_face_found(images: torch.Tensor, cascade: cv2.CascadeClassifier) -> np.ndarray:
    """The previous detector loop: one cascade, one image after the other."""
    found = np.zeros(len(images), dtype=bool)
    for i, image in enumerate(images.permute(0, 2, 3, 1).numpy()):
        h, w = image.shape[:2]
        scale = SETTINGS["short_side"] / min(h, w)
        grey = cv2.cvtColor(cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC),
                            cv2.COLOR_RGB2GRAY)
        faces = cascade.detectMultiScale(cv2.equalizeHist(grey), scaleFactor=SETTINGS["scale_factor"],
                                         minNeighbors=SETTINGS["min_neighbors"],
                                         minSize=(SETTINGS["min_size"], SETTINGS["min_size"]))
        found[i] = len(faces) > 0
    return found


def previous_evaluation(fakes: torch.Tensor, reals: torch.Tensor, extractor: PreviousEffNet, batch_size: int,
                        cascade: cv2.CascadeClassifier) -> tuple[dict, dict, tuple]:
    """(metric values, seconds per step, (fake features, real features, fake logits)) of the previous path."""
    from torch_fidelity.metric_kid import kid_features_to_metric

    steps, values = {}, {}
    clock = lambda: device_clock(extractor.device)  # noqa: E731
    start = clock()
    fake_features, fake_logits = extractor(fakes, batch_size)
    steps["features (fakes)"] = clock() - start
    start = clock()
    real_features, _ = extractor(reals, batch_size)
    steps["features (reals)"] = clock() - start
    start = clock()
    values["fd_effnet"] = frechet_distance(*feature_statistics(fake_features), *feature_statistics(real_features))
    size = min(1000, len(fakes), len(reals))
    kid = kid_features_to_metric(torch.from_numpy(fake_features), torch.from_numpy(real_features), kid_subsets=100,
                                 kid_subset_size=size, rng_seed=0, verbose=False)
    values["kid_effnet"] = kid["kernel_inception_distance_mean"]
    values["is_effnet"] = inception_score(fake_logits)[0]
    steps["statistics (FD, KID, IS)"] = clock() - start
    start = clock()
    found_fake = previous_face_found(fakes, cascade).mean()
    steps["detector (fakes)"] = clock() - start
    start = clock()
    found_real = previous_face_found(reals, cascade).mean()
    steps["detector (reals)"] = clock() - start
    values["dr_raw"], values["dr_real"] = 1 - float(found_fake), 1 - float(found_real)
    return values, steps, (fake_features, real_features, fake_logits)


# ------------------------------------------------------------------ levers, one at a time


@dataclass(frozen=True)
class Lever:
    name: str
    step: str  # the reference step it replaces
    options: dict | None = None  # EffNetOptions fields, for feature levers
    batch_size: int | None = None  # None: --batch-size


FEATURES = "features (fakes)"
LEVERS: dict[str, Lever] = {
    "package-eager": Lever("features: package network, NCHW, eager", FEATURES,
                           {"fold_batchnorm": False, "channels_last": False, "compile": False}),
    "package-compiled": Lever("features: package network, NCHW, compiled (the previous path's extractor)", FEATURES,
                              {"fold_batchnorm": False, "channels_last": False, "compile": True}),
    "package-cl-eager": Lever("features: package network, channels_last, eager", FEATURES,
                              {"fold_batchnorm": False, "channels_last": True, "compile": False}),
    "folded-eager": Lever("features: BatchNorm folded, NCHW, eager", FEATURES,
                          {"fold_batchnorm": True, "channels_last": False, "compile": False}),
    "folded-cl-eager": Lever("features: BatchNorm folded, channels_last, eager (the new default)", FEATURES,
                             {"fold_batchnorm": True, "channels_last": True, "compile": False}),
    "folded-cl-compiled": Lever("features: BatchNorm folded, channels_last, compiled", FEATURES,
                                {"fold_batchnorm": True, "channels_last": True, "compile": True}),
    "folded-cl-bf16": Lever("features: BatchNorm folded, channels_last, eager, bf16 autocast", FEATURES,
                            {"fold_batchnorm": True, "channels_last": True, "compile": False, "bf16": True}),
    "statistics": Lever("statistics: FD with 1 BLAS thread, KID from whole kernel matrices, IS",
                        "statistics (FD, KID, IS)"),
    "detector-threads": Lever("detector: 2 worker threads", "detector (fakes)"),
}


def feature_lever(options: dict, batch_size: int, device: torch.device) -> Callable[[torch.Tensor], np.ndarray]:
    extractor = EffNetLite0(device, effnet_options(device, **options))
    return lambda images: extractor(images, batch_size).features


def new_statistics(fake_features: np.ndarray, real_features: np.ndarray, fake_logits: np.ndarray) -> dict:
    """The statistics as evaluate_images computes them for fd_effnet, kid_effnet and is_effnet."""
    mu1, s1 = feature_statistics(fake_features)
    mu2, s2 = feature_statistics(real_features)
    return {"fd_effnet": frechet_distance(mu1, s1, mu2, s2, threads=FRECHET_BLAS_THREADS["fd_effnet"]),
            "kid_effnet": kernel_distance(fake_features, real_features).mean,
            "is_effnet": inception_score(fake_logits)[0]}


def process_warmup(options: dict, batch_size: int, resolution: int, device: torch.device) -> float:
    """Seconds from building a compiled extractor to its first batch, in a fresh process (compile cache warm)."""
    probe = ("import json, sys, time, torch\n"
             "from anime_gan.metrics.features import EffNetLite0, effnet_options\n"
             "options, batch, side, device = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), "
             "torch.device(sys.argv[4])\n"
             "start = time.perf_counter()\n"
             "extractor = EffNetLite0(device, effnet_options(device, **options))\n"
             "extractor(torch.zeros(batch, 3, side, side, dtype=torch.uint8), batch)\n"
             "print(time.perf_counter() - start)\n")  # the features end on the CPU: the GPU's work is done
    out = subprocess.run([sys.executable, "-c", probe, json.dumps(options), str(batch_size), str(resolution),
                          str(device)], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def degrade(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """3x3 box blur plus Gaussian noise (sd 12), clipped to uint8: a fixed stand-in for generated faces."""
    blurred = F.avg_pool2d(images.float(), 3, stride=1, padding=1, count_include_pad=False)
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed)) * 12
    return (blurred + noise).round().clamp(0, 255).to(torch.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="fakes and reals each (default 1000, the cpu profile's)")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--levers", default="all",
                        help=f"all, none, or comma-separated keys of {list(LEVERS)} (with all, bf16 runs only with "
                             f"--bf16 or on CPUs with native bfloat16 kernels: emulated, it is many times slower)")
    parser.add_argument("--bf16", action="store_true", help="include the bf16 lever on any CPU")
    parser.add_argument("--batch-sizes", default="", help="extra batch sizes for the default features, e.g. 50,200")
    parser.add_argument("--no-process-warmup", action="store_true", help="skip the fresh-process compile warm-up probe")
    parser.add_argument("--root", default="data", help="data folder (prepared datasets)")
    parser.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:1, ...")
    parser.add_argument("--out", default="reports/benchmarks/evaluate.json")
    args = parser.parse_args()
    if args.n < 10 or args.repeats < 1 or args.batch_size < 1 or args.resolution < 8:
        parser.error("need --n >= 10 (IS uses 10 splits), --repeats >= 1, --batch-size >= 1, --resolution >= 8")
    device = pick_device(args.device)
    clock = lambda: device_clock(device)  # noqa: E731
    torch.manual_seed(0)
    warnings.simplefilter("ignore")  # N <= 1280 at small --n: singular covariances, the same for every variant

    images = load_images("anime-faces", args.resolution, root=args.root, progress=False)
    train, holdout = train_holdout_split(len(images), 0.2)
    if len(holdout) < args.n:
        parser.error(f"the hold-out split has {len(holdout)} images, fewer than --n {args.n}")
    reals = images[holdout[: args.n]]
    fakes = degrade(images[train[: args.n]])

    if args.levers in ("all", "none"):
        keys = [k for k in LEVERS if k != "folded-cl-bf16" or args.bf16 or has_fast_bf16(device)] if args.levers == "all" else []
    else:
        keys = [k.strip() for k in args.levers.split(",") if k.strip()]
        unknown = [k for k in keys if k not in LEVERS]
        if unknown:
            parser.error(f"unknown lever(s) {unknown}; known: {list(LEVERS)}")
    levers = {LEVERS[k].name: LEVERS[k] for k in keys}
    for size in (int(s) for s in args.batch_sizes.split(",") if s.strip()):
        lever = Lever(f"features: BatchNorm folded, channels_last, eager, batch {size}", FEATURES,
                      {"fold_batchnorm": True, "channels_last": True, "compile": False}, size)
        levers[lever.name] = lever

    cascade = cv2.CascadeClassifier(str(cascade_path()))
    previous = PreviousEffNet(device)
    first_call: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as cache:
        # First calls: compile (reference), fill the real-side cache (new), build and compile the levers.
        start = clock()
        reference_values, _, reference_features = previous_evaluation(fakes, reals, previous, args.batch_size, cascade)
        first_call["reference"] = clock() - start
        start = clock()
        new_values = evaluate_images(fakes, reals, METRICS, reference_name="anime-faces-holdout", device=device,
                                     batch_size=args.batch_size, progress=False, cache_dir=cache)
        first_call["new"] = clock() - start
        lever_runs, lever_fd = {}, {}
        for name, lever in levers.items():
            if lever.step == "detector (fakes)":
                lever_runs[name] = lambda: face_found(fakes, workers=2)
            elif lever.step == "statistics (FD, KID, IS)":
                lever_runs[name] = lambda: new_statistics(*reference_features)
                lever_fd[name] = new_statistics(*reference_features)["fd_effnet"]
            else:
                run = feature_lever(lever.options, lever.batch_size or args.batch_size, device)
                start = clock()
                fake_features = run(fakes)
                first_call[name] = clock() - start
                lever_fd[name] = frechet_distance(*feature_statistics(fake_features), *feature_statistics(run(reals)))
                lever_runs[name] = lambda run=run: run(fakes)

        totals: dict[str, list[float]] = {"reference": [], "new": []}
        steps: dict[str, list[float]] = {}
        for _ in range(args.repeats):
            start = clock()
            _, reference_steps, _ = previous_evaluation(fakes, reals, previous, args.batch_size, cascade)
            totals["reference"].append(clock() - start)
            for step, seconds in reference_steps.items():
                steps.setdefault(step, []).append(seconds)
            start = clock()
            evaluate_images(fakes, reals, METRICS, reference_name="anime-faces-holdout", device=device,
                            batch_size=args.batch_size, progress=False, cache_dir=cache)
            totals["new"].append(clock() - start)
            for name, run in lever_runs.items():
                start = clock()
                run()
                totals.setdefault(name, []).append(clock() - start)

    warmups = {}
    if not args.no_process_warmup:
        if args.n >= PREVIOUS_COMPILE_MIN_IMAGES:
            warmups["reference"] = process_warmup({"fold_batchnorm": False, "channels_last": False, "compile": True},
                                                  args.batch_size, args.resolution, device)
        if effnet_options(device).compile:
            warmups["new"] = process_warmup(effnet_options(device).as_dict(), args.batch_size, args.resolution, device)
        for name, lever in levers.items():
            if lever.options and lever.options.get("compile"):
                warmups[name] = process_warmup(lever.options, lever.batch_size or args.batch_size, args.resolution, device)

    median = {name: float(np.median(values)) for name, values in totals.items()}
    step_median = {step: float(np.median(values)) for step, values in steps.items()}
    per_model = {name: median[name] + warmups.get(name, 0.0) for name in ("reference", "new")}
    reference_fd = reference_values["fd_effnet"]

    def relative(value: float) -> float:
        return round((value - reference_fd) / reference_fd, 6)

    evaluation = []
    for name in ("reference", "new"):
        values = reference_values if name == "reference" else new_values
        evaluation.append({
            "variant": name,
            "median_seconds": round(median[name], 2),
            "seconds": [round(s, 2) for s in totals[name]],
            "process_warmup_seconds": round(warmups[name], 2) if name in warmups else 0.0,
            "seconds_per_model": round(per_model[name], 2),
            "ratio_vs_reference": round(per_model["reference"] / per_model[name], 3),
            "ratio_vs_reference_without_warmup": round(median["reference"] / median[name], 3),
            "first_call_seconds": round(first_call[name], 2),
            "fd_effnet": values["fd_effnet"],
            "fd_effnet_relative_difference": relative(values["fd_effnet"]),
            "kid_effnet": values["kid_effnet"],
            "is_effnet": values["is_effnet"],
            "dr_raw": values["dr_raw"],
            "dr_real": values["dr_real"],
        })
    lever_rows = []
    for name, lever in levers.items():
        step = lever.step
        seconds = median[name] + warmups.get(name, 0.0)
        row = {"variant": name, "median_seconds": round(median[name], 2), "seconds": [round(s, 2) for s in totals[name]],
               "process_warmup_seconds": round(warmups.get(name, 0.0), 2),
               "compared_with": f"reference step '{step}' ({step_median[step]:.2f} s, without its compile warm-up)",
               "ratio_vs_reference": round(step_median[step] / seconds, 3),
               "ratio_vs_reference_without_warmup": round(step_median[step] / median[name], 3)}
        if name in first_call:
            row["first_call_seconds"] = round(first_call[name], 2)
        if name in lever_fd:
            row.update({"fd_effnet": lever_fd[name], "fd_effnet_relative_difference": relative(lever_fd[name])})
        lever_rows.append(row)

    result = {
        "measured": datetime.date.today().isoformat(),
        "settings": {
            "n_fakes": args.n, "n_reals": args.n, "resolution": args.resolution, "batch_size": args.batch_size,
            "repeats": args.repeats, "metrics": METRICS, "device": str(device),
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "reals": "anime-faces hold-out split (20%), first n", "fakes": "anime-faces training split, first n, "
                     "3x3 box blur + Gaussian noise sd 12 (seed 0)",
            "torch_threads": torch.get_num_threads(), "opencv_threads": cv2.getNumThreads(),
            "cpu": platform.processor() or platform.machine(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cores": os.cpu_count(), "load_average_at_end": os.getloadavg()[0],
        },
        "versions": {"torch": torch.__version__, "numpy": np.__version__, "opencv": cv2.__version__,
                     "python": platform.python_version()},
        "new_defaults": effnet_options(device).as_dict(),
        "evaluation": evaluation,
        "reference_steps_median_seconds": {k: round(v, 2) for k, v in step_median.items()},
        "levers": lever_rows,
        "note": "times are from one run on a machine that may be shared; compare ratios within this file only",
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"evaluation": evaluation, "levers": lever_rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
