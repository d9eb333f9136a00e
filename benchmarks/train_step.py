"""Training-loop speed, as a ratio against a plain reference loop measured in the same run.

The reference is the textbook DCGAN loop: a DataLoader over float tensors, one
D step and one G step per batch, and ``.item()`` on both losses every step (a
host synchronisation). The package's Trainer runs the same networks, losses,
optimisers and batch size. Both see the same number of real images; the
numbers are images per second and ratios (> 1 means the Trainer is faster).

    python benchmarks/train_step.py [--resolution 32] [--width 64] [--batch 64] [--steps 60] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from anime_gan.config import load_experiment
from anime_gan.device import pick_device
from anime_gan.experiment import build_trainer
from anime_gan.losses import build_loss
from anime_gan.models import build_discriminator, build_generator


def reference_loop(images: torch.Tensor, args: argparse.Namespace, device: torch.device) -> float:
    """Images per second of the textbook loop."""
    torch.manual_seed(0)
    generator = build_generator({"name": "dcgan", "width": args.width, "latent_dim": 100}, resolution=args.resolution).to(device)
    discriminator = build_discriminator({"name": "dcgan", "width": args.width}, resolution=args.resolution).to(device)
    loss = build_loss({"name": "bce"})
    g_opt = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    data = TensorDataset(images.float() / 127.5 - 1)
    loader = DataLoader(data, batch_size=args.batch, shuffle=True, drop_last=True)
    history = []
    seen, start = 0, None
    step = 0
    while step < args.steps + args.warmup:
        for (real,) in loader:
            if step == args.warmup:
                start, seen = time.perf_counter(), 0
            real = real.to(device)
            fake = generator(torch.randn(len(real), 100, device=device))
            d_loss = loss.d(discriminator(real), discriminator(fake.detach()))
            d_opt.zero_grad()
            d_loss.backward()
            d_opt.step()
            g_loss = loss.g(discriminator(fake))
            g_opt.zero_grad()
            g_loss.backward()
            g_opt.step()
            history.append((d_loss.item(), g_loss.item()))  # the per-step sync the Trainer avoids
            seen += len(real)
            step += 1
            if step >= args.steps + args.warmup:
                break
    return seen / (time.perf_counter() - start)


def trainer_loop(images: torch.Tensor, args: argparse.Namespace, bf16: bool, channels_last: bool) -> float:
    """Images per second of anime_gan.train.Trainer on the same networks and budget."""
    batches_per_epoch = len(images) // args.batch
    overrides = [
        f"data.resolution={args.resolution}", f"generator.width={args.width}", f"discriminator.width={args.width}",
        "generator.latent_dim=100", f"train.batch_size={args.batch}", f"train.bf16={str(bf16).lower()}",
        f"train.channels_last={str(channels_last).lower()}", "log.progress=false", "log.sample_every=0",
        "log.checkpoint_every=0", "log.epoch_samples=0", "g_optimizer.lr=2e-4", "d_optimizer.lr=2e-4",
        f"train.epochs={(args.warmup + args.steps) / batches_per_epoch}", f"train.device={args.device}",
    ]
    marks = {}

    def clock(trainer) -> None:  # time iterations warmup+1 .. warmup+steps, nothing before or after
        if trainer.iteration in (args.warmup, args.warmup + args.steps):
            marks[trainer.iteration] = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        build_trainer(load_experiment(None, overrides), tmp, images=images).fit(resume=False, on_iteration=clock)
    elapsed = marks[args.warmup + args.steps] - marks[args.warmup]
    return args.steps * args.batch / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="reports/benchmarks/train_step.json")
    args = parser.parse_args()
    device = pick_device(args.device)
    args.device = str(device)
    images = (torch.rand(2048, 3, args.resolution, args.resolution) * 255).to(torch.uint8)

    variants = {
        "reference (fp32, .item() per step)": lambda: reference_loop(images, args, device),
        "Trainer fp32": lambda: trainer_loop(images, args, bf16=False, channels_last=False),
        "Trainer bf16 autocast + channels_last": lambda: trainer_loop(images, args, bf16=True, channels_last=True),
    }
    # Interleave the variants so that drift in machine load hits all of them alike; keep each one's best run.
    best = {name: 0.0 for name in variants}
    for _ in range(args.repeats):
        for name, measure in variants.items():
            best[name] = max(best[name], measure())
    reference = best["reference (fp32, .item() per step)"]
    rows = [{"variant": name, "images_per_second": round(ips, 1), "ratio_vs_reference": round(ips / reference, 3)}
            for name, ips in best.items()]
    result = {
        "setting": {"model": "DCGAN", "resolution": args.resolution, "width": args.width, "batch": args.batch,
                    "steps": args.steps, "repeats": args.repeats, "device": args.device,
                    "threads": torch.get_num_threads(), "torch": torch.__version__, "cpu": platform.processor() or platform.machine()},
        "results": rows,
    }
    for row in rows:
        print(f"{row['variant']:<40} {row['images_per_second']:>9.1f} img/s   x{row['ratio_vs_reference']:.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
