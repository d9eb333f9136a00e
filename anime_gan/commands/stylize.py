"""``python -m anime_gan stylize``: seed 004's style transfer on one picture or a folder of pictures."""

from __future__ import annotations

import argparse

HELP = ("Transfer the style of one image onto a content image, or onto every image of a folder or archive: "
        "histogram (colour histogram matching), cartoon (bilateral filter + style palette + edge lines), "
        "patch (nearest style patch per content patch) or nst (Gatys neural style transfer; VGG-19 when its "
        "weights are present, else EfficientNet-Lite0). Sources are only read; outputs are written atomically.")

MAX_STEPS = 100_000
SIZE_RANGE = (16, 4096)
NST_DEFAULT_SIZE = 256  # nst optimises every pixel through a CNN on the CPU: bound the default work
OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF",
                  ".tiff": "TIFF"}
RECORDS_FILE = "stylize-records.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from anime_gan.style import METHODS
    from anime_gan.style.backbones import BACKBONES

    parser.add_argument("--method", required=True, choices=METHODS)
    parser.add_argument("--content", required=True, help="an image file, or a folder / .tar / .zip of images")
    parser.add_argument("--style", required=True, help="the style image file")
    parser.add_argument("--out", required=True,
                        help="output image file (.png, .jpg...) for one content image, else a folder: one PNG per "
                             f"content image, same relative name, plus {RECORDS_FILE}")
    parser.add_argument("--steps", type=int, help=f"nst only: optimisation steps, 1..{MAX_STEPS} (default 300)")
    parser.add_argument("--size", type=int,
                        help=f"resize content (centre crop, INTER_AREA) to SIZE x SIZE, "
                             f"{SIZE_RANGE[0]}..{SIZE_RANGE[1]} (default: the content's own size; "
                             f"{NST_DEFAULT_SIZE} for nst). The style is "
                             "resized to the content's working size")
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds the cartoon palette's k-means and the nst noise start (default 0)")
    parser.add_argument("--init", default="content", choices=["content", "noise"],
                        help="nst only: start from the content image (default) or from seeded noise (Gatys)")
    parser.add_argument("--backbone", default="auto", choices=BACKBONES,
                        help="nst only: auto (VGG-19 when present, else EfficientNet-Lite0), vgg19 or effnet")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-progress", action="store_true")


def _check_numbers(args: argparse.Namespace) -> None:
    from anime_gan.errors import ConfigError

    if args.steps is not None:
        if args.method != "nst":
            raise ConfigError(f"--steps applies to --method nst only, not {args.method}")
        if not 1 <= args.steps <= MAX_STEPS:
            raise ConfigError(f"--steps must be between 1 and {MAX_STEPS}, got {args.steps}")
    if args.size is not None and not SIZE_RANGE[0] <= args.size <= SIZE_RANGE[1]:
        raise ConfigError(f"--size must be between {SIZE_RANGE[0]} and {SIZE_RANGE[1]}, got {args.size}")
    if not 0 <= args.seed < 2**32:
        raise ConfigError(f"--seed must be between 0 and 2**32 - 1, got {args.seed}")


def _read_one(path, role: str):
    """(H, W, 3) uint8 pixels of one image file; a DataError naming it when absent or unreadable."""
    from anime_gan.data.images import CorruptImage, decode_image
    from anime_gan.errors import DataError

    if not path.exists():
        raise DataError(f"{role} image not found: {path}")
    if not path.is_file():
        raise DataError(f"{role} image {path} is not a file")
    try:
        return decode_image(path.read_bytes(), str(path)).pixels
    except CorruptImage as err:
        raise DataError(f"cannot read the {role} image: {err}") from err
    except OSError as err:
        raise DataError(f"cannot read the {role} image {path}: {err}") from err


def _save(pixels, path, record: dict) -> None:
    """Write ``pixels`` (H, W, 3) uint8 to ``path`` atomically; PNGs carry the record as a text chunk."""
    import json

    from PIL import Image, PngImagePlugin

    from anime_gan.data.cache import atomic_write

    image_format = OUTPUT_FORMATS[path.suffix.lower()]
    options = {}
    if image_format == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("anime_gan.stylize", json.dumps(record))
        options["pnginfo"] = info
    atomic_write(path, lambda handle: Image.fromarray(pixels).save(handle, format=image_format, **options))


def _summary(record: dict) -> str:
    if record["method"] != "nst":
        return f"{record['method']}, {record['seconds']:.3f} s"
    start, end = record["losses_start"]["style"], record["losses_end"]["style"]
    return (f"nst, backbone {record['backbone']}, {record['steps']} steps, style loss {start:.4g} -> {end:.4g}, "
            f"content loss {record['losses_end']['content']:.4g}, {record['seconds']:.1f} s")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from anime_gan.data.cache import save_json
    from anime_gan.data.images import (CorruptImage, decode_image, is_archive, iter_image_files, list_image_files,
                                       png_names, resize_image)
    from anime_gan.errors import ConfigError, DataError
    from anime_gan.style import stylize

    _check_numbers(args)
    content, style_path, out = Path(args.content), Path(args.style), Path(args.out)
    style = _read_one(style_path, "style")
    if not content.exists():
        raise DataError(f"content image or folder not found: {content}")
    single = content.is_file() and not is_archive(content)
    if single:
        if out.suffix.lower() in OUTPUT_FORMATS:
            targets = {content.name: out}
        elif out.suffix:
            raise ConfigError(f"--out {out}: unknown image type {out.suffix!r}; use one of {sorted(OUTPUT_FORMATS)} "
                              "or a folder")
        else:
            targets = {content.name: out / f"{content.stem}.png"}
    else:
        if out.suffix.lower() in OUTPUT_FORMATS or out.is_file():
            raise ConfigError(f"--out {out} must be a folder when --content is a folder or archive")
        names = list_image_files(content)
        if not names:
            raise DataError(f"no image files found in {content}")
        targets = {name: out / png for name, png in png_names(names).items()}
    sources = {style_path.resolve(), content.resolve()}
    if content.is_dir():
        sources |= {(content / name).resolve() for name in targets}
    for target in targets.values():
        if target.resolve() in sources:
            raise ConfigError(f"--out would overwrite the source image {target}; choose another output")

    size = args.size or (NST_DEFAULT_SIZE if args.method == "nst" else None)
    options: dict = {}
    if args.method == "cartoon":
        options["seed"] = args.seed
    if args.method == "nst":
        from anime_gan.device import pick_device
        from anime_gan.style.backbones import load_backbone

        try:
            device = pick_device(args.device)
        except RuntimeError as err:
            raise ConfigError(f"--device: {err}") from err
        backbone = load_backbone(args.backbone, device)  # once for every image
        if backbone.note:
            print(f"note: {backbone.note}")
        options.update(backbone=backbone, steps=args.steps or 300, seed=args.seed, init=args.init, device=device,
                       progress=not args.no_progress)

    def read_content():
        if single:
            yield content.name, _read_one(content, "content")
            return
        for name, data in iter_image_files(content):
            try:
                yield name, decode_image(data, name).pixels
            except CorruptImage as err:
                skipped.append(str(err))

    skipped: list[str] = []
    records: dict[str, dict] = {}
    for name, pixels in read_content():
        if size is not None:
            pixels = resize_image(pixels, (size, size))
        style_here = resize_image(style, pixels.shape[:2])
        result, record = stylize(args.method, pixels, style_here, **options)
        record = {"content": name, "style": str(style_path), **record}
        _save(result, targets[name], record)
        records[name] = {"output": str(targets[name]), **record}
        print(f"wrote {targets[name]} ({_summary(record)})")
    if skipped:
        print(f"skipped {len(skipped)} unreadable image(s): " + "; ".join(skipped))
    if not records:
        raise DataError(f"no readable content image in {content} ({len(skipped)} unreadable)")
    if not single:
        save_json({"method": args.method, "style": str(style_path), "content": str(content),
                   "n_written": len(records), "n_skipped": len(skipped), "skipped": skipped,
                   "images": records}, out / RECORDS_FILE)
        print(f"{args.method}: {len(records)} image(s) written to {out}, {len(skipped)} skipped")
    return 0
