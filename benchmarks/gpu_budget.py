"""How long each row of a profile trains: FLOPs per image counted, images per second measured, minutes projected.

For every experiment of ``params.yaml`` under ``--profile`` (default ``gpu``), the script builds the row's trainer
exactly as the pipeline does (its config, its batch layout, its speed options on ``--device``), on synthetic
images of the row's resolution and of its dataset's size (so that epochs mean what they mean in the pipeline):

- FLOPs per real image drawn: PyTorch's per-operator FLOP formulas (``torch.utils.flop_counter``) over a whole
  training iteration
  (every critic step, the generator step, gradient penalties and R1 included; convolutions and matrix products,
  which is what the formulas cover), divided by the real images it drew;
- images per second (``--measure``): iterations timed after a warm-up, synchronised on CUDA;
- the row's budget: real images drawn in training (epochs x epoch_scale x training images; for progressive
  growing, per stage, since each stage has its own cost), and the projected minutes at the measured speed.

StyleGAN is measured at each stage of its growth plan and its minutes summed over the plan's images per stage.

    python benchmarks/gpu_budget.py --device cuda --measure --out reports/gpu/gpu_budget.json
    python benchmarks/gpu_budget.py --device cpu --only s003_dcgan --iterations 2   # the FLOP count alone
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from anime_gan.config import resolution_of
from anime_gan.device import pick_device
from anime_gan.experiment import build_cycle_trainer, build_trainer
from anime_gan.params import load_params
from anime_gan.pipeline import Pipeline

# Images per dataset: the offline mirror's sets and the npm emoji set; a row trains on them less its hold-out share.
DATASET_SIZES = {"anime-faces": 10_000, "emoji-faces": 2_229, "utkface-photos": 5_000}


def synthetic(n: int, resolution: tuple[int, int]) -> torch.Tensor:
    """uint8 (n, 3, H, W) images: their content does not change the cost of a step."""
    return torch.randint(0, 256, (n, 3, *resolution), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def training_count(dataset: str, holdout_fraction: float, sizes: dict[str, int]) -> int:
    if dataset not in sizes:
        raise SystemExit(f"no image count for dataset {dataset!r}: give it with --sizes {dataset}=N")
    total = sizes[dataset]
    return total - int(round(total * holdout_fraction))


class FlopCount(TorchDispatchMode):
    """Total FLOPs of the operators run inside it, by PyTorch's own per-operator formulas (``flop_registry``:
    convolutions, matrix products, attention). ``FlopCounterMode`` itself also tracks modules with backward hooks,
    which break ``autograd.grad(create_graph=True)``, and R1 and the gradient penalty need exactly that."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.total += count(*args, **kwargs, out_val=out)
        return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cost_of_steps(trainer, iterations: int, warmup: int, measure: bool, at_images: int = 0) -> dict:
    """FLOPs per real image and (with ``measure``) real images per second of ``iterations`` training steps started
    when ``at_images`` real images had been drawn (a stage of a growth plan)."""
    device = trainer.device
    trainer.images_drawn = at_images
    if hasattr(trainer, "iteration"):
        trainer.iteration = max(trainer.iteration, 30)  # past Arjovsky's critic warm-up (its first 25 G steps)
    for _ in range(warmup if measure else 0):
        trainer.step()
    _sync(device)
    before = trainer.images_drawn
    started = time.perf_counter()
    if measure:
        for _ in range(iterations):
            trainer.step()
        _sync(device)
    seconds = time.perf_counter() - started
    drawn_timed = trainer.images_drawn - before
    counter = FlopCount()
    before_count = trainer.images_drawn
    with counter:
        trainer.step()
    _sync(device)
    drawn = trainer.images_drawn - before_count
    result = {"flops_per_image": counter.total / max(drawn, 1)}
    if measure:
        result["images_per_second"] = drawn_timed / seconds
    return result


def row_budget(pipeline: Pipeline, name: str, device: torch.device, sizes: dict[str, int], iterations: int,
               warmup: int, measure: bool) -> dict:
    config = pipeline.config(name)
    config.train.device = str(device)
    config.log.progress = False
    config.log.sample_every = config.log.checkpoint_every = 0
    resolution = resolution_of(config)
    with tempfile.TemporaryDirectory() as tmp:
        if pipeline.is_translation(config):
            n = training_count(config.source.dataset, config.data.holdout_fraction, sizes)
            m = training_count(config.target.dataset, config.data.holdout_fraction, sizes)
            trainer = build_cycle_trainer(config, tmp, source_images=synthetic(n, resolution),
                                          target_images=synthetic(min(m, n), resolution))
            stages = [(0, trainer.total_images)]
        else:
            n = training_count(config.data.dataset, config.data.holdout_fraction, sizes)
            if hasattr(config.memory, "enabled") and config.memory.enabled:
                config.memory.store_from_epoch = config.memory.replay_from_epoch = 0.0  # count the replayed batches
            trainer = build_trainer(config, tmp, images=synthetic(n, resolution))
            plan = trainer.step_plan
            if plan is None:
                stages = [(0, trainer.total_images)]
            else:  # (images when the stage starts, images spent in it)
                bounds = [p.start for p in plan.phases if not p.fading] + [trainer.total_images]
                stages = [(start, max(0, min(end, trainer.total_images) - start))
                          for start, end in zip(bounds, bounds[1:])]
        if getattr(config, "memory", None) is not None and getattr(config.memory, "enabled", False):
            for source in trainer.fake_sources:  # memory replay active from the first measured step
                if source.name == "memory":
                    source.on_epoch_end(1, trainer._generator_samples)
        measured = [dict(cost_of_steps(trainer, iterations, warmup, measure, at), start=at, images=spent)
                    for at, spent in stages]
    flops = sum(m["flops_per_image"] * m["images"] for m in measured)
    row = {"experiment": name, "resolution": list(resolution), "batch_size": config.train.batch_size,
           "training_images": n, "epochs": config.train.epochs, "epoch_scale": config.train.epoch_scale,
           "images": trainer.total_images, "tflop": round(flops / 1e12, 2),
           "gflop_per_image": round(flops / max(trainer.total_images, 1) / 1e9, 3), "stages": measured}
    if measure:
        seconds = sum(m["images"] / m["images_per_second"] for m in measured)
        row["images_per_second"] = round(trainer.total_images / seconds, 1)
        row["minutes"] = round(seconds / 60, 2)
        row["effective_tflops"] = round(flops / seconds / 1e12, 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="gpu")
    parser.add_argument("--data", default=None, help="main dataset (default: params.yaml's)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--measure", action="store_true", help="time the iterations (else count FLOPs only)")
    parser.add_argument("--iterations", type=int, default=10, help="timed iterations per row and stage")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated experiment names (default: all)")
    parser.add_argument("--sizes", default="", help="image counts of datasets, e.g. celeba=202599 (default: the "
                                                    "offline mirror's)")
    parser.add_argument("--out", default=None, help="JSON file to write")
    args = parser.parse_args()
    if args.iterations < 1 or args.warmup < 0:
        parser.error("--iterations must be at least 1 and --warmup at least 0")
    sizes = dict(DATASET_SIZES)
    for item in filter(None, args.sizes.split(",")):
        key, _, value = item.partition("=")
        sizes[key] = int(value)
    params = load_params()
    params.profile = args.profile
    if args.data:
        params.data = args.data
    pipeline = Pipeline(params, progress=False)
    device = pick_device(args.device)
    names = [n for n in args.only.split(",") if n] or pipeline.experiments()
    rows = []
    for name in names:
        started = time.perf_counter()
        row = row_budget(pipeline, name, device, sizes, args.iterations, args.warmup, args.measure)
        row["seconds_to_measure"] = round(time.perf_counter() - started, 1)
        rows.append(row)
        speed = f"{row['images_per_second']:>9.1f} img/s {row['minutes']:>7.1f} min" if args.measure else ""
        print(f"{name:<28} {row['gflop_per_image']:>8.3f} GFLOP/img {row['images']:>10,} img {speed}", flush=True)
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "profile": args.profile,
              "device": str(device), "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else
              None, "torch": torch.__version__, "measured": args.measure, "iterations": args.iterations,
              "flop_counter": "torch.utils.flop_counter.flop_registry (convolutions and matrix products)",
              "rows": rows}
    if args.measure:
        result["total_minutes"] = round(sum(r["minutes"] for r in rows), 1)
        print(f"total: {result['total_minutes']} minutes")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
