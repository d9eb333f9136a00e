"""``python -m anime_gan sample``."""

from __future__ import annotations

import argparse
import math

HELP = "Draw samples from a trained checkpoint into a PNG grid (and optionally a uint8 tensor file)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="a run's checkpoint.pt")
    parser.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="samples.png", help="PNG grid to write")
    parser.add_argument("--tensor", help="also save the samples as a uint8 (N, 3, H, W) tensor file")
    parser.add_argument("--no-ema", action="store_true", help="use the raw generator even if an EMA copy exists")
    parser.add_argument("--device", default="auto")


def run(args: argparse.Namespace) -> int:
    import torch
    from torchvision.utils import save_image

    from anime_gan.experiment import generate_images, load_generator

    generator, _ = load_generator(args.checkpoint, device=args.device, ema=not args.no_ema)
    images = generate_images(generator, args.n, seed=args.seed)
    save_image(images.float() / 255, args.out, nrow=max(1, int(math.sqrt(args.n))))
    if args.tensor:
        torch.save(images, args.tensor)
    print(f"wrote {args.n} samples to {args.out}")
    return 0
