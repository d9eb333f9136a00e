"""``python -m anime_gan prepare``."""

from __future__ import annotations

import argparse

from anime_gan.commands import number_in

HELP = ("Decode, deduplicate and resize datasets once into uint8 tensors under <root>/processed/, with a manifest. "
        "Datasets: anime-faces, emoji-faces, utkface-photos, anime-faces-21k, celeba, or folder:<path>.")


def parse_resolution(text: str) -> int | tuple[int, int]:
    """"64" -> 64, "128x160" -> (128, 160); anything else, or a side below 1, is an argparse error."""
    try:
        sides = [int(part) for part in text.lower().split("x")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a side length or HxW (e.g. 64 or 128x160)") from None
    if len(sides) not in (1, 2) or min(sides) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive side length or HxW (e.g. 64 or 128x160)")
    return sides[0] if len(sides) == 1 else (sides[0], sides[1])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("datasets", nargs="+", metavar="DATASET")
    parser.add_argument("--resolution", type=parse_resolution, default=64, help="side length or HxW, e.g. 128x160")
    parser.add_argument("--root", default="data", help="data folder (default: data)")
    parser.add_argument("--max-bad-fraction", type=number_in(float, 0.0, 1.0), default=0.01,
                        help="fail when more than this share of files is corrupt (default 0.01)")
    parser.add_argument("--force", action="store_true", help="prepare again even when the cache is current")


def run(args: argparse.Namespace) -> int:
    from anime_gan.data import prepare

    for name in args.datasets:
        prepared = prepare(name, args.resolution, args.root, max_bad_fraction=args.max_bad_fraction, force=args.force)
        m = prepared.manifest
        converted = ", ".join(f"{k}: {v}" for k, v in m["converted"].items()) or "none"
        print(f"{name}: {m['n_images']} images {m['resolution'][0]}x{m['resolution'][1]} from {m['n_files']} files "
              f"({m['n_duplicates']} duplicates, {m['n_skipped']} unreadable skipped, converted {converted}) "
              f"-> {prepared.images_path}")
    return 0
