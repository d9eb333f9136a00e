"""One module per command; each defines ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.

Number arguments use the range types below, so a bad value is one argparse line
naming the argument and its valid range (exit code 2), never a traceback.
"""

from __future__ import annotations

import argparse
from typing import Callable


def number_in(kind: type, low: float | None = None, high: float | None = None) -> Callable[[str], float]:
    """An argparse type: ``kind(text)`` within [low, high] (either end open-ended when None)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
            raise argparse.ArgumentTypeError(f"{value} is outside {bounds}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse
