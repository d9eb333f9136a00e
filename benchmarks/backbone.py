"""Style/content backbone speed: the folded, channels_last EfficientNet-Lite0 against the package's module.

The EfficientNet-Lite0 backbone of style transfer, of the fusion translator's content and style terms and of
the translators' content distance (``anime_gan.style.backbones``) runs the metrics' inference form of the
network: BatchNorm folded into the convs, channels_last. The reference is the same stages as the package
builds them (conv, BatchNorm, ReLU6 modules, NCHW), which is what the backbone ran before. Two workloads,
interleaved over repeats, medians:

- ``content``: no gradient, the images up to ``block6`` (the translators' content distance);
- ``style``: every style and content layer, then a Gram-matrix loss backpropagated to the pixels (one step of
  neural style transfer).

On CUDA (``--device``, default auto) every timing mark waits for the GPU first
(``anime_gan.device.device_clock``), so each call is timed with its kernels run.

    python benchmarks/backbone.py [--batch 32] [--size 64] [--steps 5] [--repeats 3] [--device auto] [--out ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from datetime import datetime, timezone
from pathlib import Path

import torch

from anime_gan.device import device_clock, pick_device
from anime_gan.losses import gram_matrix
from anime_gan.metrics.features import get_extractor
from anime_gan.style.backbones import EffNetBackbone, effnet_backbone, effnet_stages


def package_backbone(fast: EffNetBackbone) -> EffNetBackbone:
    """The backbone as it was: the package's conv/BatchNorm/ReLU6 stages in NCHW."""
    network = get_extractor("effnet", fast.device).network
    return EffNetBackbone(name="effnet", stages=effnet_stages(network), content_layers=fast.content_layers,
                          style_layers=fast.style_layers, channels_last=False)


def content_pass(backbone: EffNetBackbone, images: torch.Tensor) -> None:
    with torch.no_grad():
        backbone.features(images)["block6"].sum().item()


def style_step(backbone: EffNetBackbone, images: torch.Tensor) -> None:
    pixels = images.clone().requires_grad_(True)
    maps = backbone.features(pixels)
    loss = sum(gram_matrix(maps[name]).sum() for name in backbone.style_layers)
    torch.autograd.grad(loss, [pixels])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=64, help="image side before the backbone's resize to 224")
    parser.add_argument("--steps", type=int, default=5, help="timed calls per variant and repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:1, ...")
    parser.add_argument("--out", default="reports/benchmarks/backbone.json")
    args = parser.parse_args()
    if min(args.batch, args.size, args.steps, args.repeats) < 1:
        parser.error("--batch, --size, --steps and --repeats must be at least 1")

    device = pick_device(args.device)
    fast = effnet_backbone(device)
    variants = {"package module, NCHW (reference)": package_backbone(fast), "folded, channels_last": fast}
    images = torch.rand(args.batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(0)).to(device)
    workloads = {"content": content_pass, "style": style_step}
    seconds: dict[tuple[str, str], list[float]] = {(w, v): [] for w in workloads for v in variants}
    for work, run in workloads.items():
        for backbone in variants.values():
            run(backbone, images)  # warm-up: oneDNN primitives, buffers
    for _ in range(args.repeats):
        for work, run in workloads.items():
            for name, backbone in variants.items():
                started = device_clock(device)
                for _ in range(args.steps):
                    run(backbone, images)
                seconds[(work, name)].append((device_clock(device) - started) / args.steps)

    results = []
    for work in workloads:
        reference = statistics.median(seconds[(work, "package module, NCHW (reference)")])
        for name in variants:
            median = statistics.median(seconds[(work, name)])
            results.append({"workload": work, "variant": name, "median_seconds_per_call": round(median, 4),
                            "seconds": [round(t, 4) for t in seconds[(work, name)]],
                            "images_per_second": round(args.batch / median, 1),
                            "ratio_vs_reference": round(reference / median, 2)})
    record = {
        "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": {"batch": args.batch, "resolution": args.size, "network_input": 224, "steps": args.steps,
                     "repeats": args.repeats, "device": str(device),
                     "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
                     "threads": torch.get_num_threads(),
                     "workloads": {"content": "no gradient, up to block6 (the translators' content distance)",
                                   "style": "all style layers, Gram loss, gradient to the pixels (one NST step)"}},
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
        "cpu": platform.processor() or platform.machine(),
        "results": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    for row in results:
        print(f"{row['workload']:8s} {row['variant']:34s} {row['images_per_second']:8.1f} img/s  "
              f"{row['ratio_vs_reference']:.2f}x")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
