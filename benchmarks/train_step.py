"""Training-step speed as a ratio against a textbook loop measured in the same run, and the quality check.

The reference is the textbook DCGAN loop (PyTorch's example): a DataLoader over float tensors, one D step
and one G step per batch, ``.item()`` on both losses every step, fp32, eager, default memory layout. The
package's Trainer runs the same networks, loss, optimisers and batch size under each variant of its speed
options. Variants are interleaved over repeats so that drift in machine load hits all of them alike; each
variant's median images per second is divided by the reference's median.

Settings: seed 001's DCGAN at the paper's 64x64 (width 64, batch 64, z 100) and the cpu profile's 32x32
(width 32, batch 128). Quality: the default variant and plain fp32 train the same short run from the same seed;
their loss curves and a sample statistic must agree within a stated tolerance.

On CUDA every timing mark waits for the GPU first (``anime_gan.device.device_clock``): kernels run
asynchronously, and a mark taken while work is queued would time the queueing, not the work.

    python benchmarks/train_step.py [--steps 30] [--repeats 3] [--settings paper,cpu] [--device auto] [--out ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from anime_gan.config import load_experiment
from anime_gan.device import cpu_has_fast_bf16, device_clock, has_fast_bf16, pick_device
from anime_gan.experiment import build_trainer
from anime_gan.losses import build_loss
from anime_gan.models import build_discriminator, build_generator

SETTINGS = {
    "paper": {"model": "DCGAN (seed 001)", "resolution": 64, "width": 64, "batch": 64},
    "cpu": {"model": "DCGAN (cpu profile)", "resolution": 32, "width": 32, "batch": 128},
    "smoke": {"model": "DCGAN (narrow, for checking the script)", "resolution": 32, "width": 8, "batch": 16},
}
VARIANTS = {  # name -> Trainer overrides ("auto" = what a user who sets nothing gets)
    "auto": {},
    "fp32": {"bf16": False, "channels_last": False, "compile": False},
    "fp32-channels_last": {"bf16": False, "channels_last": True, "compile": False},
    "bf16-channels_last": {"bf16": True, "channels_last": True, "compile": False},
    "fp32-channels_last-compile": {"bf16": False, "channels_last": True, "compile": True},
}
REFERENCE = "reference"  # the textbook loop: fp32, eager, default layout, .item() per step


def cpu_facts() -> dict:
    """What decides the speed options: the CPU model and its vector/matrix extensions."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("", platform.machine()):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    return {"cpu": model, "flags": [f for f in wanted if f in flags], "onednn_bf16": cpu_has_fast_bf16(),
            "threads": torch.get_num_threads()}


def host_kind(device: str, machine: dict) -> str:
    """The kind of host a measurement belongs to: what decides which speed options win on it.

    cuda-<device name> on a GPU; on a CPU amx (AMX tiles, native bf16), avx512-bf16 (native bf16 dot products
    without AMX), avx2 (no native bf16: oneDNN falls back to reference kernels), or cpu.
    """
    if device.startswith("cuda"):
        return "cuda-" + torch.cuda.get_device_name(torch.device(device)).lower().replace("nvidia ", "").replace(" ", "-")
    flags = set(machine["flags"])
    for kind, flag in (("amx", "amx_bf16"), ("avx512-bf16", "avx512_bf16"), ("avx2", "avx2")):
        if flag in flags:
            return kind
    return "cpu"


def update_index(index: Path, kind: str, out: Path, result: dict) -> None:
    """``train_step.json``: one entry per host kind measured, naming its file, date, machine and headline ratios."""
    entries = json.loads(index.read_text()).get("hosts", {}) if index.exists() else {}
    entries[kind] = {
        "file": out.name, "date": result["date"], "device": result["device"], "machine": result["machine"],
        "torch": result["torch"],
        "ratios_vs_textbook_loop": {s["setting"]: {r["variant"]: r["ratio_vs_reference"] for r in s["results"]}
                                    for s in result["settings"]},
    }
    index.write_text(json.dumps({"what": "training-step speed per host kind: each entry's file holds the whole run "
                                         "(benchmarks/train_step.py); ratios are against the textbook loop measured "
                                         "in the same run", "hosts": dict(sorted(entries.items()))}, indent=2) + "\n")


def reference_loop(images: torch.Tensor, setting: dict, steps: int, warmup: int, device: torch.device) -> float:
    """Images per second of the textbook loop."""
    torch.manual_seed(0)
    resolution, width = setting["resolution"], setting["width"]
    generator = build_generator({"name": "dcgan", "width": width, "latent_dim": 100}, resolution=resolution).to(device)
    discriminator = build_discriminator({"name": "dcgan", "width": width}, resolution=resolution).to(device)
    loss = build_loss({"name": "bce"})
    g_opt = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader = DataLoader(TensorDataset(images.float() / 127.5 - 1), batch_size=setting["batch"], shuffle=True,
                        drop_last=True)
    history, seen, start, step = [], 0, None, 0
    while step < steps + warmup:
        for (real,) in loader:
            if step == warmup:
                start, seen = device_clock(device), 0
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
            if step >= steps + warmup:
                break
    return seen / (device_clock(device) - start)


def trainer_config(setting: dict, options: dict, epochs: float, device: str, extra: list[str] = ()):
    overrides = [
        f"data.resolution={setting['resolution']}", f"generator.width={setting['width']}",
        f"discriminator.width={setting['width']}", "generator.latent_dim=100", f"train.batch_size={setting['batch']}",
        "log.progress=false", "log.sample_every=0", "log.checkpoint_every=0", "log.epoch_samples=0",
        "g_optimizer.lr=2e-4", "d_optimizer.lr=2e-4", f"train.epochs={epochs}", f"train.device={device}",
        *[f"train.{k}={str(v).lower()}" for k, v in options.items()], *extra,
    ]
    return load_experiment(None, overrides)


def trainer_loop(images: torch.Tensor, setting: dict, options: dict, steps: int, warmup: int, device: str) -> float:
    """Images per second of anime_gan.training.gan_trainer.Trainer on the same networks and budget."""
    epochs = (warmup + steps) * setting["batch"] / len(images)
    marks = {}

    def clock(trainer) -> None:  # time iterations warmup+1 .. warmup+steps, nothing before or after
        if trainer.iteration in (warmup, warmup + steps):
            marks[trainer.iteration] = device_clock(trainer.device)

    with tempfile.TemporaryDirectory() as tmp:
        build_trainer(trainer_config(setting, options, epochs, device), tmp, images=images).fit(
            resume=False, on_iteration=clock)
    return steps * setting["batch"] / (marks[warmup + steps] - marks[warmup])


def quality_check(images: torch.Tensor, setting: dict, options: dict, steps: int, device: str) -> dict:
    """The same short run (same seed, same data order and noise) in plain fp32 and with ``options``: loss curves and
    the mean and standard deviation of 256 fixed-noise samples, with their largest differences."""
    runs = {}
    for name, opts in (("fp32", {"bf16": False, "channels_last": False, "compile": False}), ("variant", options)):
        epochs = steps * setting["batch"] / len(images)
        with tempfile.TemporaryDirectory() as tmp:
            trainer = build_trainer(trainer_config(setting, opts, epochs, device, ["log.every=1"]), tmp, images=images)
            trainer.fit(resume=False)
            losses = [(float(r["loss_d"]), float(r["loss_g"])) for r in _read_csv(Path(tmp) / "losses.csv")]
            z = torch.randn(256, trainer.latent_dim, generator=torch.Generator().manual_seed(5))
            samples = trainer._generate(z.to(trainer.device))
        runs[name] = {"losses": losses, "mean": samples.mean().item(), "std": samples.std().item()}
    a, b = runs["fp32"], runs["variant"]
    loss_gap = max(max(abs(x[0] - y[0]), abs(x[1] - y[1])) for x, y in zip(a["losses"], b["losses"]))
    return {"steps": steps, "max_loss_difference": round(loss_gap, 5),
            "sample_mean": [round(a["mean"], 5), round(b["mean"], 5)],
            "sample_std": [round(a["std"], 5), round(b["std"], 5)],
            "tolerance": "losses within 0.05 at every step; sample mean and std within 0.02",
            "within_tolerance": loss_gap < 0.05 and abs(a["mean"] - b["mean"]) < 0.02 and abs(a["std"] - b["std"]) < 0.02}


def _read_csv(path: Path) -> list[dict]:
    import csv

    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--settings", default="paper,cpu")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated variant names")
    parser.add_argument("--quality-steps", type=int, default=40)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=None, help="JSON of this run (default: reports/benchmarks/"
                                                    "train_step.<host kind>.json, and the host kind's entry in "
                                                    "reports/benchmarks/train_step.json)")
    args = parser.parse_args()
    if args.steps < 1 or args.repeats < 1 or args.warmup < 0:
        parser.error("--steps and --repeats must be at least 1, --warmup at least 0")
    device = str(pick_device(args.device))
    variants = {name: VARIANTS[name] for name in args.variants.split(",")}
    machine = cpu_facts()
    kind = host_kind(device, machine)
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "device": device, "host_kind": kind,
              "gpu": torch.cuda.get_device_name(device) if device.startswith("cuda") else None,
              "native_bf16": has_fast_bf16(device),
              "torch": torch.__version__, "machine": machine, "steps": args.steps, "repeats": args.repeats,
              "statistic": "median images per second over repeats (variants interleaved)", "settings": []}
    for key in args.settings.split(","):
        setting = SETTINGS[key]
        images = (torch.rand(max(2048, 8 * setting["batch"]), 3, setting["resolution"], setting["resolution"]) * 255
                  ).to(torch.uint8)
        measures = {REFERENCE: lambda: reference_loop(images, setting, args.steps, args.warmup, torch.device(device))}
        for name, options in variants.items():
            measures[name] = (lambda o=options: trainer_loop(images, setting, o, args.steps, args.warmup, device))
        runs = {name: [] for name in measures}
        for repeat in range(args.repeats):
            for name, measure in measures.items():
                runs[name].append(measure())
                print(f"{key} repeat {repeat + 1}: {name:<28} {runs[name][-1]:8.1f} img/s", flush=True)
        reference = statistics.median(runs[REFERENCE])
        rows = [{"variant": name, "options": variants.get(name, "textbook loop"), "images_per_second": round(statistics.median(v), 1),
                 "runs": [round(x, 1) for x in v], "ratio_vs_reference": round(statistics.median(v) / reference, 3)}
                for name, v in runs.items()]
        best = max((r for r in rows if r["variant"] != REFERENCE), key=lambda r: r["ratio_vs_reference"])
        quality = quality_check(images, setting, variants[best["variant"]], args.quality_steps, device) \
            if args.quality_steps else None
        result["settings"].append({"setting": key, **setting, "results": rows, "best": best["variant"],
                                   "quality_best_vs_fp32": quality})
        for row in rows:
            print(f"{key}: {row['variant']:<28} {row['images_per_second']:8.1f} img/s   x{row['ratio_vs_reference']:.2f}")
    out = Path(args.out) if args.out else Path("reports/benchmarks") / f"train_step.{kind}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    if args.out is None:
        update_index(out.parent / "train_step.json", kind, out, result)
    print(f"wrote {out} (host kind {kind})")


if __name__ == "__main__":
    main()
