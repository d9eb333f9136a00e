"""The GPU check's CPU-safe parts run on the CPU: the script a CUDA machine runs is not first tried there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

from test_train import synthetic_images

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_runs_its_cpu_safe_parts_on_the_cpu(tmp_path):
    faces = tmp_path / "faces"
    faces.mkdir()
    for i, image in enumerate(synthetic_images(n=48, size=64)):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(faces / f"{i:03d}.png")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--device", "cpu", "--minutes", "0.2", "--tiny",
                           "--n", "16", "--growth-images", "16", "--data", f"folder:{faces}", "--out", str(out),
                           "--work", str(tmp_path / "work")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    result = json.loads((out / "gpu_check.json").read_text())
    status = {s["step"]: s["status"] for s in result["steps"]}
    assert done.returncode == 0, (status, done.stdout[-3000:])
    assert status == {"environment": "ok", "tests": "skipped", "probes": "skipped", "train_s003_dcgan": "ok",
                      "sample_s003_dcgan": "ok", "evaluate_s003_dcgan": "ok", "train_s001_stylegan": "ok",
                      "sample_s001_stylegan": "ok", "evaluate_s001_stylegan": "ok", "train_step": "ok",
                      "budget": "skipped"}
    steps = {s["step"]: s.get("result") for s in result["steps"]}
    for row in ("s003_dcgan", "s001_stylegan"):
        trained = steps[f"train_{row}"]
        # 12 s of training, then a checkpoint: the time limit stopped it, not the (huge) epoch count.
        assert trained["complete"] is False and trained["iterations"] >= 1 and trained["images_per_second"] > 0
        assert (out / f"samples_{row}.png").stat().st_size > 0
        fd = steps[f"evaluate_{row}"]["metrics"]["fd_effnet"]
        assert fd > 0 and fd == fd  # finite, not NaN
    assert steps["evaluate_s003_dcgan"]["skipped"].keys() <= {"fid", "kid", "is"}
    assert set(steps["train_step"]["smoke"]) == {"reference", "auto", "fp32"}
    assert (out / "gpu_check.log").read_text().count("=== ") == len(status)
    assert sorted(p.name for p in out.iterdir()) == ["gpu_check.json", "gpu_check.log", "samples_s001_stylegan.png",
                                                     "samples_s003_dcgan.png", "train_step.json"]
