"""The project's check of a CUDA machine: tests, two real training runs, samples, metrics and speed, in one go.

    python benchmarks/gpu_check.py --device cuda --out reports/gpu/2026-12-04-h200 [--data folder:faces.tar]

Steps (each is timed and recorded; a failing step is recorded with its error and the next one still runs):

1. ``environment``: the device, its memory and compute capability, native bf16, library versions, the CPU;
2. ``tests``: the CUDA-relevant part of the test suite, run on the device (``CUDA_TESTS`` with
   ``ANIME_GAN_TEST_DEVICE`` set): every training path in bf16, device placement, resuming, host-device syncs;
3. ``probes``: ``benchmarks/cuda_probes.py``, checks that only a GPU can make (RNG state on resume, NCCL-free
   device placement, TF32 off in the metrics, ...);
4. ``train_s003_dcgan``, ``train_s001_stylegan``: the seed-003 DCGAN and StyleGAN rows at 64x64 through the
   command line (``python -m anime_gan train ... --minutes M``), each for a fixed few minutes; StyleGAN's growth
   phases are shortened (``--growth-images``) so that it reaches 64x64 within them;
5. ``sample_*``, ``evaluate_*``: ``sample`` writes a grid of each; ``evaluate`` scores 2,000 samples against the
   dataset's hold-out split (fd_effnet, precision/recall_effnet; FID/KID/IS when the Inception weights are
   present, else the reason);
6. ``train_step``: ``benchmarks/train_step.py --device cuda`` (variants against the textbook loop, one run);
7. ``budget`` (``--budget``): ``benchmarks/gpu_budget.py --measure``, the img/s and projected minutes of every
   row of the ``gpu`` profile.

Everything the check writes that a reader needs is in ``--out`` (at most 8 files): ``gpu_check.json`` (every
step's status, seconds and numbers), ``gpu_check.log`` (all output), the two sample grids, ``train_step.json``
and ``gpu_budget.json``. Runs and prepared data go to ``--work``.

On a CPU (``--device cpu --minutes 0.2 --tiny``) the same script runs its CPU-safe parts in about a minute with
narrow networks: the test suite runs it that way (``tests/test_gpu_check.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The tests that mean something on a GPU: every training path under bf16 autocast, run on ANIME_GAN_TEST_DEVICE.
# (tests/test_device.py imitates the GPU on the CPU; on a real GPU the probes check the same things for real.)
# Files, not -k: other test modules import packages (papermill, nbval, dvc) that a bare CUDA machine need not have.
CUDA_TESTS = ("tests/test_precision.py",)
ROWS = {  # row -> (config, extra overrides)
    "s003_dcgan": ("configs/s003_dcgan.yaml", []),
    "s001_stylegan": ("configs/s001_stylegan.yaml", []),
}
# Narrow networks for the CPU form of the check: the mechanics are the same, the minutes are not.
TINY = {
    "s003_dcgan": ["generator.width=8", "discriminator.width=8", "train.batch_size=16"],
    "s001_stylegan": ["generator.width=8", "generator.max_channels=16", "generator.latent_dim=16", "generator.w_dim=16",
                      "generator.mapping_layers=2", "discriminator.width=8", "discriminator.max_channels=16",
                      "growth.batch_sizes={4: 16, 8: 16, 16: 16, 32: 16, 64: 16}", "train.batch_size=16"],
}


class Check:
    """Runs steps, records each one's status, seconds and result, and writes the log and the JSON."""

    def __init__(self, out: Path) -> None:
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self.log = (out / "gpu_check.log").open("w")
        self.steps: list[dict] = []
        self.result: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "steps": self.steps}

    def say(self, text: str) -> None:
        print(text, flush=True)
        self.log.write(text + "\n")
        self.log.flush()

    def step(self, name: str, action, *args, **kwargs) -> dict | None:
        self.say(f"\n=== {name}")
        started = time.perf_counter()
        record = {"step": name}
        try:
            value = action(*args, **kwargs)
            record.update(status="ok", result=value)
        except Skip as why:
            record.update(status="skipped", reason=str(why))
            value = None
        except Exception as err:  # a failing step is a finding, not the end of the check
            record.update(status="failed", error=f"{type(err).__name__}: {err}")
            self.say(traceback.format_exc())
            value = None
        record["seconds"] = round(time.perf_counter() - started, 1)
        self.say(f"--- {name}: {record['status']} in {record['seconds']} s"
                 + (f" ({record.get('reason') or record.get('error')})" if record["status"] != "ok" else ""))
        self.steps.append(record)
        self.write()
        return value

    def run(self, command: list[str], env: dict | None = None, timeout: float | None = None) -> str:
        """Run a command from the project root, logging its output; an error if it exits non-zero."""
        self.say("$ " + " ".join(command))
        done = subprocess.run(command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)
        self.log.write(done.stdout)
        self.log.flush()
        print(done.stdout[-3000:], flush=True)
        if done.returncode != 0:
            raise RuntimeError(f"exit {done.returncode}: {done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ''}")
        return done.stdout

    def write(self) -> None:
        self.result["ok"] = all(s["status"] != "failed" for s in self.steps)
        (self.out / "gpu_check.json").write_text(json.dumps(self.result, indent=2, default=str) + "\n")


class Skip(Exception):
    """A step that does not apply here (with the reason)."""


def environment(device: str) -> dict:
    import numpy
    import scipy
    import torch

    facts = {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
             "scipy": scipy.__version__, "cuda_available": torch.cuda.is_available(), "cpu": platform.processor(),
             "cpu_count": os.cpu_count()}
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda, but torch sees no CUDA device")
        props = torch.cuda.get_device_properties(0)
        facts.update(device_name=props.name, capability=f"{props.major}.{props.minor}",
                     memory_gib=round(props.total_memory / 2**30, 1), multiprocessors=props.multi_processor_count,
                     cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                     bf16_native=torch.cuda.is_bf16_supported(including_emulation=False))
    from anime_gan.data.assets import asset_path

    facts["fid_inception_weights"] = str(asset_path("fid_inception")) if asset_path("fid_inception") else None
    return facts


def train(check: Check, row: str, args, work: Path) -> dict:
    config, extra = ROWS[row]
    overrides = [f"data.dataset={args.data}", f"data.root={work / 'data'}", f"train.device={args.device}",
                 "train.epochs=100000", "log.progress=false", "log.sample_every=0", "log.checkpoint_every=2000",
                 *extra]
    if row == "s001_stylegan":
        overrides += [f"growth.stable_images={args.growth_images}", f"growth.fade_images={args.growth_images}"]
    if args.tiny:
        overrides += TINY[row]
    command = [sys.executable, "-m", "anime_gan", "train", "--config", config, "--out", str(work / "runs" / row),
               "--fresh", "--minutes", str(args.minutes)]
    for override in overrides:
        command += ["--set", override]
    check.run(command)
    summary = json.loads((work / "runs" / row / "summary.json").read_text())
    losses = (work / "runs" / row / "losses.csv").read_text().splitlines()
    last = dict(zip(losses[0].split(","), losses[-1].split(","))) if len(losses) > 1 else {}
    return {"iterations": summary["iterations"], "images": summary["images"], "seconds": summary["seconds"],
            "images_per_second": summary["images_per_second"], "speed": summary.get("speed"),
            "complete": summary["complete"], "last_logged": {k: last[k] for k in ("step", "loss_d", "loss_g",
                                                                                    "resolution", "alpha") if k in last}}


def sample(check: Check, row: str, args, work: Path) -> dict:
    out = check.out / f"samples_{row}.png"
    check.run([sys.executable, "-m", "anime_gan", "sample", "--checkpoint", str(work / "runs" / row / "checkpoint.pt"),
               "--n", "64", "--out", str(out), "--device", args.device])
    return {"grid": out.name}


def evaluate(check: Check, row: str, args, work: Path) -> dict:
    from anime_gan.data.assets import asset_path

    metrics, skipped = ["fd_effnet", "precision_effnet", "recall_effnet"], {}
    if asset_path("fid_inception") is not None:  # present here; the check never waits on a download
        metrics += ["fid", "kid", "is"]
    else:
        skipped = {name: "the FID Inception weights are not on this machine (the check downloads nothing)"
                   for name in ("fid", "kid", "is")}
    scores = work / f"evaluate_{row}.json"
    check.run([sys.executable, "-m", "anime_gan", "evaluate", "--checkpoint",
               str(work / "runs" / row / "checkpoint.pt"), "--n", str(args.n), "--metrics", ",".join(metrics),
               "--device", args.device, "--root", str(work / "data"), "--no-progress", "--out", str(scores)])
    written = json.loads(scores.read_text())
    result = written["metrics"]
    return {"metrics": {k: result.get(k) for k in metrics}, "n": result.get("n_fake"),
            "n_reference": result.get("n_reference"), "reference": written.get("reference_split"),
            "skipped": skipped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--minutes", type=float, default=1.0, help="training minutes of each row")
    parser.add_argument("--growth-images", type=int, default=10_000,
                        help="StyleGAN's images per fade and per stable phase (8 phases reach 64x64)")
    parser.add_argument("--data", default="anime-faces", help="dataset name or folder:<path> (a folder or archive)")
    parser.add_argument("--n", type=int, default=2000, help="samples scored per row")
    parser.add_argument("--tiny", action="store_true", help="narrow networks (the CPU form of the check)")
    parser.add_argument("--budget", action="store_true", help="also measure every row of the gpu profile")
    parser.add_argument("--out", default=None, help="folder of the results (default reports/gpu/<date>-<device>)")
    parser.add_argument("--work", default=None, help="folder of runs and prepared data (default <out>/../work)")
    args = parser.parse_args()
    if args.minutes <= 0 or args.n < 2 or args.growth_images < 1:
        parser.error("--minutes must be positive, --n at least 2, --growth-images at least 1")
    out = Path(args.out or f"reports/gpu/{datetime.now(timezone.utc):%Y-%m-%d}-{args.device.split(':')[0]}")
    work = Path(args.work or out.parent / f"{out.name}-work").resolve()
    work.mkdir(parents=True, exist_ok=True)
    out = out.resolve()
    check = Check(out)
    check.result["arguments"] = vars(args)
    cuda = args.device.startswith("cuda")
    check.result["environment"] = check.step("environment", environment, args.device)

    def tests() -> dict:
        if not cuda:
            raise Skip("the CPU runs these tests in the suite itself")
        output = check.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CUDA_TESTS],
                           env={"ANIME_GAN_TEST_DEVICE": args.device})
        return {"summary": output.strip().splitlines()[-1]}

    def probes() -> dict:
        if not cuda:
            raise Skip("CUDA-only checks")
        if not (ROOT / "benchmarks" / "cuda_probes.py").exists():
            raise Skip("benchmarks/cuda_probes.py is not in this checkout")
        output = check.run([sys.executable, "benchmarks/cuda_probes.py", "--device", args.device,
                            "--out", str(work / "probes.json")])
        return json.loads((work / "probes.json").read_text()) if (work / "probes.json").exists() else {
            "summary": output.strip().splitlines()[-1] if output.strip() else ""}

    check.step("tests", tests)
    check.step("probes", probes)
    for row in ROWS:
        if check.step(f"train_{row}", train, check, row, args, work) is not None:
            check.step(f"sample_{row}", sample, check, row, args, work)
            check.step(f"evaluate_{row}", evaluate, check, row, args, work)

    def train_step() -> dict:
        command = [sys.executable, "benchmarks/train_step.py", "--device", args.device, "--out",
                   str(out / "train_step.json")]
        command += (["--settings", "paper", "--steps", "20", "--repeats", "2", "--quality-steps", "20",
                     "--variants", "auto,fp32,fp32-channels_last,bf16-channels_last"] if not args.tiny else
                    ["--settings", "smoke", "--steps", "2", "--warmup", "1", "--repeats", "1", "--quality-steps", "0",
                     "--variants", "auto,fp32"])
        check.run(command)
        written = json.loads((out / "train_step.json").read_text())
        return {s["setting"]: {r["variant"]: [r["images_per_second"], r["ratio_vs_reference"]] for r in s["results"]}
                for s in written["settings"]}

    check.step("train_step", train_step)

    def budget() -> dict:
        if not args.budget:
            raise Skip("not asked for (--budget)")
        check.run([sys.executable, "benchmarks/gpu_budget.py", "--device", args.device, "--measure", "--iterations",
                   "6", "--warmup", "2", "--out", str(out / "gpu_budget.json")])
        written = json.loads((out / "gpu_budget.json").read_text())
        return {"total_minutes": written.get("total_minutes"),
                "rows": {r["experiment"]: [r.get("images_per_second"), r.get("minutes")] for r in written["rows"]}}

    check.step("budget", budget)
    check.write()
    check.say(f"\nwrote {out} ({'all steps ok' if check.result['ok'] else 'some steps FAILED'})")
    sys.exit(0 if check.result["ok"] else 1)


if __name__ == "__main__":
    main()
