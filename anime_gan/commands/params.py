"""``python -m anime_gan params``."""

from __future__ import annotations

import argparse

HELP = ("Show or change the active profile and datasets in params.yaml, e.g. "
        "`python -m anime_gan params profile=paper data=anime-faces` (comments are kept).")

SETTABLE = ("profile", "data", "second_data")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignments", nargs="*", metavar="KEY=VALUE", help=f"one of {SETTABLE}")
    parser.add_argument("--params", default="params.yaml")


def run(args: argparse.Namespace) -> int:
    from anime_gan.errors import ConfigError
    from anime_gan.params import load_params, set_top_level

    values = {}
    for item in args.assignments:
        key, _, value = item.partition("=")
        if key not in SETTABLE or not value:
            raise ConfigError(f"expected KEY=VALUE with KEY one of {SETTABLE}, got {item!r}")
        values[key] = value
    if values:
        set_top_level(args.params, values)
    params = load_params(args.params)
    params.active_profile  # fails clearly on an undefined profile
    print(f"profile: {params.profile}  data: {params.data}  second_data: {params.second_data}  "
          f"experiments: {len(params.experiments)}")
    return 0
