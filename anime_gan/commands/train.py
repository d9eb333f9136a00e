"""``python -m anime_gan train``."""

from __future__ import annotations

import argparse
import json

from anime_gan.commands import number_in

HELP = ("Train one experiment from a config file, with --set overrides. Resumes from the run folder's checkpoint "
        "when it was made by the same config. (The pipeline's form is `python -m anime_gan pipeline train NAME`.)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="experiment YAML, e.g. configs/s001_dcgan.yaml or "
                                                        "configs/s000_translator.yaml (kind: translation)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set train.epochs=3 (repeatable)")
    parser.add_argument("--out", help="run folder (default: data/runs/<config name>)")
    parser.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint and start over")
    parser.add_argument("--minutes", type=number_in(float, 0.01, 100_000), metavar="M",
                        help="stop after M minutes of training with a checkpoint; the same command resumes it")


def run(args: argparse.Namespace) -> int:
    from anime_gan.config import load_config
    from anime_gan.experiment import run as run_experiment

    config = load_config(args.config, args.overrides)  # a GAN experiment or, with kind: translation, a translator
    time_limit = args.minutes * 60 if args.minutes is not None else None
    summary = run_experiment(config, args.out or f"data/runs/{config.name}", fresh=args.fresh, time_limit=time_limit)
    print(json.dumps({k: v for k, v in summary.items() if k != "train"}, indent=2))
    return 0
