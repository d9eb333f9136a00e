"""Which generator of a BatchNorm run should be sampled: the raw generator, its EMA copy with the live
generator's BatchNorm statistics, or its EMA copy with statistics recomputed for the averaged weights.

All three come from one trained checkpoint and draw the same noise; each is scored with the pipeline's
metrics against the same hold-out faces. The checkpoint's stored EMA already has recomputed statistics
(``train.ema_batchnorm: recompute``); the "copy" variant rebuilds the old behaviour by loading the live
generator's running statistics into the EMA weights.

    python benchmarks/ema_batchnorm.py [--experiments s001_dcgan,s003_dcgan] [--n 2000]
        [--out reports/benchmarks/ema_batchnorm.json]

Run it after the pipeline has trained the experiments (it reads their checkpoints under the active profile).
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

import torch

from anime_gan.training import checkpoint as ckpt
from anime_gan.config import ExperimentConfig, from_dict
from anime_gan.training.ema import has_batchnorm
from anime_gan.config import resolution_of
from anime_gan.experiment import generate_images
from anime_gan.metrics import evaluate_images
from anime_gan.models import build_generator
from anime_gan.pipeline import EVAL_SEED, Pipeline


def variants(checkpoint: Path) -> tuple[dict[str, torch.nn.Module], ExperimentConfig]:
    """raw G, EMA with copied BatchNorm statistics, EMA with recomputed statistics (as stored)."""
    state = ckpt.load(checkpoint, map_location="cpu")
    config = from_dict(ExperimentConfig, state["metadata"]["config"], where=str(checkpoint))
    if state.get("ema") is None:
        raise SystemExit(f"{checkpoint} has no EMA generator: nothing to compare")

    def built(weights: dict) -> torch.nn.Module:
        generator = build_generator(config.generator, resolution=resolution_of(config))
        generator.load_state_dict(weights)
        return generator.eval()

    copied = dict(state["ema"])
    for key, value in state["generator"].items():
        if key.endswith(("running_mean", "running_var", "num_batches_tracked")):
            copied[key] = value  # the live generator's statistics on the averaged weights: the old behaviour
    nets = {"generator (raw)": built(state["generator"]), "EMA, BatchNorm statistics copied": built(copied),
            "EMA, BatchNorm statistics recomputed": built(state["ema"])}
    if not has_batchnorm(nets["generator (raw)"]):
        raise SystemExit(f"{checkpoint}: the generator has no BatchNorm; the question does not arise")
    return nets, config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", default="s001_dcgan,s003_dcgan")
    parser.add_argument("--n", type=int, default=2000, help="samples per generator (and hold-out faces), >= 2")
    parser.add_argument("--root", default=".", help="the project folder (its params.yaml picks profile and data)")
    parser.add_argument("--out", default="reports/benchmarks/ema_batchnorm.json")
    args = parser.parse_args()
    if args.n < 2:
        parser.error("--n must be at least 2")
    pipeline = Pipeline.open(args.root, progress=False)
    rows = []
    for name in args.experiments.split(","):
        checkpoint = pipeline.run_dir(name) / "checkpoint.pt"
        if not checkpoint.exists():
            raise SystemExit(f"{checkpoint} does not exist: train {name} first (make repro)")
        nets, config = variants(checkpoint)
        reference, split = pipeline.reference_images(config, args.n)
        for label, generator in nets.items():
            fakes = generate_images(generator, args.n, seed=EVAL_SEED)
            scores = evaluate_images(fakes, reference, ["fd_effnet", "kid_effnet"], reference_name=config.data.dataset,
                                     progress=False, cache_dir=pipeline.reference_cache)
            rows.append({"experiment": name, "sampled": label, "fd_effnet": round(scores["fd_effnet"], 2),
                         "kid_effnet": round(scores["kid_effnet"], 4)})
            print(f"{name:<14} {label:<40} fd_effnet {scores['fd_effnet']:7.2f}", flush=True)
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "profile": pipeline.params.profile,
              "dataset": pipeline.params.data, "n": args.n, "noise_seed": EVAL_SEED,
              "reference": "hold-out split of the dataset, at the run's resolution",
              "extractor": "EfficientNet-Lite0 features (not FID)", "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
