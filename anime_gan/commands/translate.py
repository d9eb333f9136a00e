"""``python -m anime_gan translate``: one's own photo (or a folder of them) to an anime face with a translator."""

from __future__ import annotations

import argparse

from anime_gan.commands import number_in

HELP = ("Turn the face in a photograph into an anime face with a trained translator's G: the face is found "
        "(OpenCV's frontal-face Haar cascade; the largest when there are several), turned so the eyes are level, "
        "cut out the way the training photographs are framed, resized to the translator's resolution, translated "
        "and resized to --size. Sources are only read; outputs are written atomically.")

SIZE_RANGE = (8, 4096)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from anime_gan.translation.photos import RECORDS_FILE

    parser.add_argument("--checkpoint", required=True, help="a translator's checkpoint.pt (kind: translation)")
    parser.add_argument("--input", required=True, help="a photo, or a folder / .tar / .zip of photos")
    parser.add_argument("--out", required=True,
                        help="for one photo a .png file (or an existing folder); for a folder an output folder: "
                             f"one PNG per photo, same relative name, plus {RECORDS_FILE}")
    parser.add_argument("--size", type=number_in(int, *SIZE_RANGE), default=64,
                        help=f"side of the written anime face, {SIZE_RANGE[0]}..{SIZE_RANGE[1]} (default 64)")
    parser.add_argument("--compare", action="store_true",
                        help="also write the crop and its translation side by side (<out>-compare.png for one "
                             "photo, compare/ in the output folder)")
    parser.add_argument("--no-ema", action="store_true", help="use the raw G even if an EMA copy exists")
    parser.add_argument("--device", default="auto")


def _line(record: dict) -> str:
    if record["status"] == "translated":
        turned = f", turned {record['angle_degrees']:+.1f} deg" if record["eyes_levelled"] else ", not turned"
        note = f"; {record['note']}" if record["note"] else ""
        return f"{record['file']}: wrote {record['output']}{turned}{note}"
    if record["status"] == "unreadable":
        return f"{record['file']}: skipped, unreadable ({record['error']})"
    return f"{record['file']}: skipped, no face found"


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from anime_gan.errors import DataError
    from anime_gan.experiment import load_translator, resolution_of
    from anime_gan.translation import translate_photo_files

    source = Path(args.input)
    if not source.exists():
        raise DataError(f"--input not found: {source}")
    translator = load_translator(args.checkpoint, device=args.device, ema=not args.no_ema)
    height, width = resolution_of(translator.config)
    provenance = {"checkpoint": str(args.checkpoint), "weights": translator.sampled,
                  "iteration": translator.iteration, "resolution": [height, width]}
    summary = translate_photo_files(translator, source, args.out, size=args.size, compare=args.compare,
                                    provenance=provenance, on_file=lambda record: print(_line(record)))
    print(f"{summary['n_translated']} translated, {summary['n_no_face']} without a face, "
          f"{summary['n_unreadable']} unreadable (translator at {height}x{width}, {translator.sampled}, "
          f"output {args.size}x{args.size})")
    if summary["n_translated"] == 0:
        raise DataError(f"no face could be translated in {source}")
    return 0
