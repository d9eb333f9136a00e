"""``python -m anime_gan evaluate``: metrics of a checkpoint or of a folder/tar of images, written as JSON."""

from __future__ import annotations

import argparse

HELP = ("Compute metrics (fid, kid, is, fd_effnet, precision_effnet, recall_effnet, kid_effnet, is_effnet, dr) of a "
        "trained checkpoint or of a folder/tar of images against real images; writes JSON (default "
        "reports/metrics/<run>.json).")

DEFAULT_METRICS = "fd_effnet,precision_effnet,recall_effnet,kid_effnet,dr"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="a run's checkpoint.pt (samples come from its EMA generator when it has one)")
    source.add_argument("--images", help="a folder or .tar/.zip of generated images")
    parser.add_argument("--metrics", default=DEFAULT_METRICS,
                        help=f"comma-separated metric names (default {DEFAULT_METRICS}; FID needs the Inception "
                             "weights; precision/recall need more than k = 3 images per set)")
    parser.add_argument("--n", type=int, default=10000,
                        help="samples to draw / images to use at most, at least 2 (default 10000); from a folder, a "
                             "seeded random choice of that many")
    parser.add_argument("--reference",
                        help="real dataset to compare against: a name or folder:<path> (default: the checkpoint's "
                             "dataset). A named dataset is split as for training; folder:<path> is used whole unless "
                             "--holdout-fraction is given")
    parser.add_argument("--reference-images",
                        help="a folder or archive of real images, used whole (at most --n: a seeded random choice)")
    parser.add_argument("--holdout-fraction", type=float,
                        help="use only the hold-out share of --reference, in [0, 1) (default: the checkpoint's "
                             "split when --reference is not given, else 0.2 for a named dataset and 0 (all images) "
                             "for folder:<path>)")
    parser.add_argument("--resolution", help="resize every image to this size (side or HxW; default: the generated size)")
    parser.add_argument("--root", default="data", help="data folder of the prepared datasets (default: data)")
    parser.add_argument("--out", help="JSON file to write (default reports/metrics/<run>.json)")
    parser.add_argument("--truncation", type=float, default=1.0,
                        help="StyleGAN checkpoints: truncation psi in [0, 1] (default 1 = none)")
    parser.add_argument("--seed", type=int, default=2024,
                        help="noise seed for --checkpoint samples, or seed of the choice of --n images from --images (>= 0)")
    parser.add_argument("--reference-seed", type=int, default=0,
                        help="seed of the random choice of --n reference images from a folder (>= 0, default 0)")
    parser.add_argument("--batch-size", type=int, default=100, help="images per forward pass (>= 1, default 100)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-progress", action="store_true")


def check_arguments(args: argparse.Namespace) -> tuple[int, int] | None:
    """Range-check every number argument (one ConfigError line each); returns the parsed --resolution."""
    from anime_gan.data.images import as_size
    from anime_gan.errors import ConfigError, DataError

    if args.n < 2:
        raise ConfigError(f"--n must be at least 2 (distances need two samples per set), got {args.n}")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.holdout_fraction is not None and not 0.0 <= args.holdout_fraction < 1.0:
        raise ConfigError(f"--holdout-fraction must be in [0, 1), got {args.holdout_fraction}")
    if args.seed < 0:
        raise ConfigError(f"--seed must be a non-negative integer, got {args.seed}")
    if args.reference_seed < 0:
        raise ConfigError(f"--reference-seed must be a non-negative integer, got {args.reference_seed}")
    if args.resolution is None:
        return None
    try:
        parts = [int(part) for part in args.resolution.lower().split("x")]
        return as_size(parts[0] if len(parts) == 1 else parts)
    except (ValueError, DataError):
        raise ConfigError(f"--resolution must be a positive side length or HxW, e.g. 64 or 128x160, got "
                          f"{args.resolution!r}") from None


def seeded_choice(images, n: int, seed: int):
    """At most ``n`` of ``images``, a seeded random choice (all of them, in order, when there are no more than n)."""
    import torch

    if len(images) <= n:
        return images
    return images[torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]]


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from anime_gan.data import load_images, read_images, train_holdout_split
    from anime_gan.data.datasets import FOLDER_PREFIX
    from anime_gan.errors import ConfigError
    from anime_gan.metrics import METRICS, REFERENCE_STATISTICS, check_metrics, evaluate_images

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    check_metrics(metrics)  # unknown names and absent FID weights fail before any work
    resolution = check_arguments(args)
    progress = not args.no_progress

    holdout_fraction, dataset = args.holdout_fraction, args.reference
    if dataset and dataset.startswith(FOLDER_PREFIX) and holdout_fraction is None:
        holdout_fraction = 0.0  # a folder given as the reference is used whole unless a hold-out is asked for
    if args.checkpoint:
        from anime_gan.experiment import generate_images, load_generator
        from anime_gan.experiment import is_translation_checkpoint

        if is_translation_checkpoint(args.checkpoint):
            return _evaluate_translator(args, metrics, progress)
        generator, config = load_generator(args.checkpoint, device=args.device)
        fakes = generate_images(generator, args.n, seed=args.seed, truncation_psi=args.truncation)
        if dataset is None:
            dataset = config.data.dataset
            holdout_fraction = config.data.holdout_fraction if holdout_fraction is None else holdout_fraction
        run_name, source = Path(args.checkpoint).resolve().parent.name, {"checkpoint": str(args.checkpoint)}
    else:
        fakes = seeded_choice(read_images(args.images, resolution, progress=progress), args.n, args.seed)
        run_name, source = Path(args.images).name.split(".")[0], {"images": str(args.images)}
    if resolution is None:
        resolution = tuple(fakes.shape[-2:])

    needs_reference = any(METRICS[m][1] in REFERENCE_STATISTICS for m in metrics) or "dr" in metrics
    reference, reference_name, split = None, None, None
    if args.reference_images:
        images = read_images(args.reference_images, resolution, progress=progress)
        reference = seeded_choice(images, args.n, args.reference_seed)
        reference_name, split = Path(args.reference_images).name, f"whole folder ({len(images)} images)"
    elif dataset:
        images = load_images(dataset, resolution, root=args.root, progress=progress)
        holdout_fraction = 0.2 if holdout_fraction is None else holdout_fraction
        _, holdout = train_holdout_split(len(images), holdout_fraction)
        if len(holdout):
            # The hold-out indices are a seeded random order already: their first n are a uniform choice.
            reference = images[holdout[: args.n]]
            split = f"hold-out split ({holdout_fraction:.0%} of {len(images)} images)"
        else:
            reference = seeded_choice(images, args.n, args.reference_seed)
            split = f"whole set of {len(images)} images (no hold-out split)"
        reference_name = dataset
    elif needs_reference:
        raise ConfigError("--images needs --reference DATASET or --reference-images PATH for distances and DR")
    if reference is not None:
        print(f"reference: {len(reference)} images of {reference_name}, from the {split}")

    result = evaluate_images(fakes, reference, metrics, reference_name=reference_name or "none", device=args.device,
                             batch_size=args.batch_size, progress=progress,
                             cache_dir=Path(args.root) / "reference")
    output = {"source": source, "reference_split": split, "metrics": result}
    out = Path(args.out) if args.out else Path("reports") / "metrics" / f"{run_name}.json"
    _write(output, out)
    shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()
             if k in metrics or k in ("dr_raw", "dr_real", "dr_calibrated", "n_fake", "n_reference")}
    print(f"wrote {out}: {shown}")
    return 0


def _write(output: dict, out: Path) -> None:
    import json

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(output, indent=2) + "\n")
    tmp.replace(out)


def _evaluate_translator(args: argparse.Namespace, metrics: list[str], progress: bool) -> int:
    """A translation checkpoint: its held-out photos translated, scored against held-out targets (no DR)."""
    from pathlib import Path

    from anime_gan.errors import ConfigError
    from anime_gan.translation import evaluate_translation

    if args.images or args.reference or args.reference_images or args.resolution:
        raise ConfigError("a translation checkpoint is scored on its own held-out domains: drop --reference, "
                          "--reference-images and --resolution")
    if "dr" in metrics:  # in the default list; the anime-face detector judges generated faces, not translations
        metrics = [m for m in metrics if m != "dr"]
        print("dr skipped: the anime-face detector judges generated faces, not translations")
    if not metrics:
        raise ConfigError("no metric left for a translation checkpoint: ask for fd_effnet, precision_effnet, "
                          "recall_effnet, kid_effnet or is_effnet")
    scores = evaluate_translation(args.checkpoint, n=args.n, metrics=metrics, device=args.device,
                                  batch_size=args.batch_size, progress=progress,
                                  cache_dir=Path(args.root) / "reference", root=args.root)
    out = Path(args.out) if args.out else Path("reports") / "metrics" / f"{Path(args.checkpoint).resolve().parent.name}.json"
    _write({"source": {"checkpoint": str(args.checkpoint)}, "metrics": scores}, out)
    print(f"wrote {out}: " + ", ".join(f"{m} {scores[m]:.4g}" for m in metrics if isinstance(scores.get(m), float)))
    return 0
