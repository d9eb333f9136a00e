"""``python -m anime_gan <command>``: one module per command in ``anime_gan.commands``.

Only the chosen command's module is imported, so ``--help`` and small commands stay fast.
Every command module defines ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from anime_gan.errors import AnimeGanError

COMMANDS = {
    "prepare": "anime_gan.commands.prepare",
    "train": "anime_gan.commands.train",
    "evaluate": "anime_gan.commands.evaluate",
    "sample": "anime_gan.commands.sample",
    "assets": "anime_gan.commands.assets",
    "params": "anime_gan.commands.params",
    "pipeline": "anime_gan.commands.pipeline",
    "stylize": "anime_gan.commands.stylize",
    "translate": "anime_gan.commands.translate",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        parser = argparse.ArgumentParser(prog="python -m anime_gan", description=__doc__.splitlines()[0])
        parser.add_argument("command", choices=sorted(COMMANDS))
        if argv and argv[0] not in ("-h", "--help"):
            parser.error(f"unknown command {argv[0]!r}; choose one of {sorted(COMMANDS)}")
        parser.print_help()
        return 0 if argv else 2
    module = importlib.import_module(COMMANDS[argv[0]])
    parser = argparse.ArgumentParser(prog=f"python -m anime_gan {argv[0]}", description=module.HELP)
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except AnimeGanError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

