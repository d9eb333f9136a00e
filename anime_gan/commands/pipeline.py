"""``python -m anime_gan pipeline``: the steps DVC runs, one experiment of params.yaml at a time."""

from __future__ import annotations

import argparse

HELP = ("Run one pipeline step under params.yaml's active profile: `prepare` (every dataset the experiments need), "
        "`train NAME`, `evaluate NAME`, `style` (seed 004's style-transfer comparison), or `list`. Each step reuses a "
        "finished result of the same config.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("step", choices=["prepare", "train", "evaluate", "style", "list"])
    parser.add_argument("name", nargs="?", help="experiment name (train, evaluate)")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--root", default=".", help="project folder (default: the current one)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--force", action="store_true",
                        help="train: retrain a finished run from scratch (an interrupted one still resumes)")


def run(args: argparse.Namespace) -> int:
    from anime_gan.errors import ConfigError
    from anime_gan.params import load_params
    from anime_gan.pipeline import Pipeline

    pipeline = Pipeline(load_params(args.params), root=args.root, progress=not args.no_progress)
    if args.step == "prepare":
        for path in pipeline.prepare():
            print(f"ready: {path}")
    elif args.step == "style":
        for row in pipeline.style_transfer():
            print(f"{row['method']:<30} {row['seconds_per_image']:8.3f} s/img  content {row['content_distance']:8.3f}  "
                  f"style {row['style_distance']:.4f}  fd_effnet {row['fd_effnet']:.1f}")
    elif args.step == "list":
        for name in pipeline.experiments():
            entry = pipeline.params.entry(name)
            print(f"{name:<28} paper {entry.paper}  {entry.row:<24} {'trained' if pipeline.is_trained(name) else '-'}")
    else:
        if not args.name:
            raise ConfigError(f"`pipeline {args.step}` needs an experiment name; see `pipeline list`")
        pipeline.params.entry(args.name)  # a clear error for an unknown name
        if args.step == "train":
            print(f"checkpoint: {pipeline.train(args.name, force=args.force)}")
        else:
            result = pipeline.evaluate(args.name)
            print(f"wrote {pipeline.metrics_path(args.name)}: {result['metrics']}")
    return 0
