"""``python -m anime_gan train``."""

from __future__ import annotations

import argparse
import json

HELP = ("Train one experiment from a config file, with --set overrides. Resumes from the run folder's checkpoint "
        "when it was made by the same config. (The pipeline's form is `python -m anime_gan pipeline train NAME`.)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="experiment YAML, e.g. configs/s001_dcgan.yaml or "
                                                        "configs/s000_translator.yaml (kind: translation)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set train.epochs=3 (repeatable)")
    parser.add_argument("--out", help="run folder (default: data/runs/<config name>)")
    parser.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint and start over")


def run(args: argparse.Namespace) -> int:
    from anime_gan.config import load_config
    from anime_gan.experiment import run as run_experiment

    config = load_config(args.config, args.overrides)  # a GAN experiment or, with kind: translation, a translator
    summary = run_experiment(config, args.out or f"data/runs/{config.name}", fresh=args.fresh)
    print(json.dumps({k: v for k, v in summary.items() if k != "train"}, indent=2))
    return 0
