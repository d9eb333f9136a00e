"""``python -m anime_gan train``."""

from __future__ import annotations

import argparse
import json

HELP = ("Train one experiment: either a config file (--config, with --set overrides) or an entry of params.yaml "
        "(--experiment, under its active profile). Resumes from the run folder's checkpoint when the config matches.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="experiment YAML, e.g. configs/s001_dcgan.yaml")
    source.add_argument("--experiment", help="an experiment name from params.yaml (the pipeline's form)")
    parser.add_argument("--params", default="params.yaml", help="params file for --experiment (default: params.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set train.epochs=3 (repeatable)")
    parser.add_argument("--out", help="run folder (default: data/runs/<experiment name>)")
    parser.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint and start over")


def run(args: argparse.Namespace) -> int:
    from anime_gan.config import apply_overrides, from_dict, load_experiment, parse_override, to_dict, ExperimentConfig
    from anime_gan.experiment import run as run_experiment
    from anime_gan.params import experiment_config, load_params

    overrides = dict(parse_override(o) for o in args.overrides)
    if args.config:
        config = load_experiment(args.config, overrides)
        out = args.out or f"data/runs/{config.name}"
    else:
        params = load_params(args.params)
        config = experiment_config(params, args.experiment)
        config = from_dict(ExperimentConfig, apply_overrides(to_dict(config), overrides), where="--set")
        out = args.out or str(params.run_dir(args.experiment))
    summary = run_experiment(config, out, fresh=args.fresh)
    print(json.dumps({k: v for k, v in summary.items() if k != "train"}, indent=2))
    return 0
