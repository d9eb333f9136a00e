"""``python -m anime_gan sample``."""

from __future__ import annotations

import argparse
import math

from anime_gan.commands import number_in

HELP = ("Draw samples from a trained checkpoint into a PNG grid (and optionally a uint8 tensor file). For a "
        "translator's checkpoint the grid's rows are source images, their translations and reconstructions.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="a run's checkpoint.pt")
    parser.add_argument("--n", type=number_in(int, 1, 100_000), default=64, help="number of samples, 1..100000 (default 64)")
    parser.add_argument("--seed", type=number_in(int, 0), default=0)
    parser.add_argument("--truncation", type=number_in(float, 0.0, 1.0), default=1.0, metavar="PSI",
                        help="StyleGAN's truncation psi in [0, 1]: w pulled towards the mean w (default 1: none)")
    parser.add_argument("--truncation-cutoff", type=number_in(int, 1), default=None, metavar="LAYERS",
                        help="StyleGAN: truncate only the w of the first LAYERS style layers, the coarse ones (NVlabs' "
                             "StyleGAN: 8 of 18 at 1024 px); default: all layers")
    parser.add_argument("--out", default="samples.png", help="PNG grid to write")
    parser.add_argument("--tensor", help="also save the samples as a uint8 (N, 3, H, W) tensor file")
    parser.add_argument("--no-ema", action="store_true", help="use the raw generator even if an EMA copy exists")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--images", help="translators: a folder or archive of images to translate (default: the first "
                                         "--n held-out images of the run's domain)")
    parser.add_argument("--direction", choices=["forward", "backward"], default="forward",
                        help="translators: forward = source -> target with G (default), backward = target -> source")


def run(args: argparse.Namespace) -> int:
    import torch
    from torchvision.utils import save_image

    from anime_gan.experiment import generate_images, load_generator
    from anime_gan.experiment import is_translation_checkpoint

    if is_translation_checkpoint(args.checkpoint):
        return _translate(args)
    generator, _ = load_generator(args.checkpoint, device=args.device, ema=not args.no_ema)
    images = generate_images(generator, args.n, seed=args.seed, truncation_psi=args.truncation,
                             truncation_cutoff=args.truncation_cutoff)
    save_image(images.float() / 255, args.out, nrow=max(1, int(math.sqrt(args.n))))
    if args.tensor:
        torch.save(images, args.tensor)
    layers = "" if args.truncation_cutoff is None else f" on the first {args.truncation_cutoff} style layers"
    print(f"wrote {args.n} samples to {args.out} ({generator.sampled}, truncation psi {args.truncation:g}{layers})")
    return 0


def _translate(args: argparse.Namespace) -> int:
    """A translator's grid: the images, their translations and their reconstructions, one row each."""
    import torch
    from torchvision.io import write_png

    from anime_gan.config import resolution_of
    from anime_gan.data import read_images
    from anime_gan.experiment import load_translator
    from anime_gan.translation import holdout_images, translation_grid, translation_rows

    translator = load_translator(args.checkpoint, device=args.device, ema=not args.no_ema)
    role = "source" if args.direction == "forward" else "target"
    if args.images:
        images = read_images(args.images, resolution_of(translator.config))[: args.n]
    else:
        images, _ = holdout_images(translator.config, role, args.n)
    write_png(translation_grid(translator, images, args.direction), args.out)
    if args.tensor:
        torch.save(translation_rows(translator, images, args.direction)[1], args.tensor)
    print(f"wrote {len(images)} {role} images, their translations and reconstructions to {args.out}")
    return 0
