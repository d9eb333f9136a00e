"""``python -m anime_gan evaluate``: metrics of a checkpoint or of a folder/tar of images, written as JSON."""

from __future__ import annotations

import argparse

HELP = ("Compute metrics (fid, kid, is, fd_effnet, kid_effnet, is_effnet, dr) of a trained checkpoint or of a "
        "folder/tar of images against a real dataset's hold-out split; writes JSON (default reports/metrics/<run>.json).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="a run's checkpoint.pt (samples come from its EMA generator when it has one)")
    source.add_argument("--images", help="a folder or .tar/.zip of generated images")
    parser.add_argument("--metrics", default="fd_effnet,kid_effnet,dr",
                        help="comma-separated metric names (default fd_effnet,kid_effnet,dr; FID needs the Inception weights)")
    parser.add_argument("--n", type=int, default=10000, help="samples to draw / images to use at most (default 10000)")
    parser.add_argument("--reference", help="real dataset to compare against (default: the checkpoint's dataset)")
    parser.add_argument("--reference-images", help="a folder or archive of real images instead of a named dataset")
    parser.add_argument("--holdout-fraction", type=float,
                        help="hold-out share of --reference used as real images (default: the checkpoint's, else 0.2)")
    parser.add_argument("--resolution", help="resize every image to this size (side or HxW; default: the generated size)")
    parser.add_argument("--root", default="data", help="data folder of the prepared datasets (default: data)")
    parser.add_argument("--out", help="JSON file to write (default reports/metrics/<run>.json)")
    parser.add_argument("--seed", type=int, default=2024, help="noise seed for --checkpoint samples")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from anime_gan.commands.prepare import parse_resolution
    from anime_gan.data import load_images, read_images, train_holdout_split
    from anime_gan.errors import ConfigError
    from anime_gan.metrics import METRICS, check_metrics, evaluate_images

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    check_metrics(metrics)  # unknown names and absent FID weights fail before any work
    if args.n < 2:
        raise ConfigError(f"--n must be at least 2, got {args.n}")
    progress = not args.no_progress
    resolution = parse_resolution(args.resolution) if args.resolution else None

    holdout_fraction, dataset = args.holdout_fraction, args.reference
    if args.checkpoint:
        from anime_gan.experiment import generate_images, load_generator

        generator, config = load_generator(args.checkpoint, device=args.device)
        fakes = generate_images(generator, args.n, seed=args.seed)
        dataset = dataset or config.data.dataset
        holdout_fraction = config.data.holdout_fraction if holdout_fraction is None else holdout_fraction
        run_name, source = Path(args.checkpoint).resolve().parent.name, {"checkpoint": str(args.checkpoint)}
    else:
        fakes = read_images(args.images, resolution, progress=progress)[: args.n]
        run_name, source = Path(args.images).name.split(".")[0], {"images": str(args.images)}
    if resolution is None:
        resolution = tuple(fakes.shape[-2:])

    needs_reference = any(METRICS[m][1] in ("frechet", "kid") for m in metrics) or "dr" in metrics
    reference, reference_name, split = None, None, None
    if args.reference_images:
        reference = read_images(args.reference_images, resolution, progress=progress)[: args.n]
        reference_name, split = Path(args.reference_images).name, "all images of the folder"
    elif dataset:
        images = load_images(dataset, resolution, root=args.root)
        holdout_fraction = 0.2 if holdout_fraction is None else holdout_fraction
        _, holdout = train_holdout_split(len(images), holdout_fraction)
        reference = images[holdout[: args.n]] if len(holdout) else images[: args.n]
        reference_name = dataset
        split = f"hold-out split ({holdout_fraction:.0%})" if len(holdout) else "all images (no hold-out split)"
    elif needs_reference:
        raise ConfigError("--images needs --reference DATASET or --reference-images PATH for distances and DR")

    result = evaluate_images(fakes, reference, metrics, reference_name=reference_name or "none", device=args.device,
                             batch_size=args.batch_size, progress=progress,
                             cache_dir=Path(args.root) / "reference")
    output = {"source": source, "reference_split": split, "metrics": result}
    out = Path(args.out) if args.out else Path("reports") / "metrics" / f"{run_name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(output, indent=2) + "\n")
    tmp.replace(out)
    shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()
             if k in metrics or k in ("dr_raw", "dr_real", "dr_calibrated", "n_fake", "n_reference")}
    print(f"wrote {out}: {shown}")
    return 0
