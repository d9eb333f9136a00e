"""``python -m anime_gan assets``."""

from __future__ import annotations

import argparse

HELP = "List, locate or fetch the downloadable files (detector cascade, FID Inception weights)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["list", "where", "fetch"])
    parser.add_argument("name", nargs="?", help="asset name (where, fetch)")


def run(args: argparse.Namespace) -> int:
    from anime_gan.data.assets import ASSETS, asset_path, destination, fetch_asset
    from anime_gan.errors import AssetError

    if args.action == "list":
        for asset in ASSETS.values():
            present = asset_path(asset.name)
            print(f"{asset.name:<22} {asset.filename:<40} {'present: ' + str(present) if present else 'absent'}")
        return 0
    if not args.name:
        raise AssetError(f"`assets {args.action}` needs an asset name: {sorted(ASSETS)}")
    if args.action == "where":
        present = asset_path(args.name)
        print(present if present else f"absent; it would be stored at {destination(ASSETS[args.name])}")
        return 0 if present else 1
    print(fetch_asset(args.name))
    return 0
