"""The command line: evaluate on a folder/tar of images, and clear one-line errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANIME_GAN_COMPILE": "0", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "anime_gan", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=600)


def image_folder(folder: Path, n: int, seed: int) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def test_evaluate_images_from_a_tar_against_a_folder(tmp_path):
    fakes = image_folder(tmp_path / "fakes", 12, seed=0)
    archive = tmp_path / "fakes.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(fakes, arcname="fakes")
    real = image_folder(tmp_path / "real", 12, seed=1)
    out = tmp_path / "result.json"
    done = cli("evaluate", "--images", str(archive), "--reference-images", str(real), "--metrics",
               "fd_effnet,kid_effnet", "--n", "12", "--out", str(out), "--no-progress", "--root", str(tmp_path / "d"))
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["metrics"]["n_fake"] == 12 and result["metrics"]["n_reference"] == 12
    assert np.isfinite(result["metrics"]["fd_effnet"]) and result["metrics"]["fd_effnet"] > 0
    assert "fid" not in result["metrics"]


def test_bad_input_gives_one_clear_error_line(tmp_path):
    unknown_metric = cli("evaluate", "--images", str(tmp_path), "--metrics", "fidd")
    assert unknown_metric.returncode == 2 and "unknown metric" in unknown_metric.stderr
    assert "Traceback" not in unknown_metric.stderr

    config = tmp_path / "bad.yaml"
    config.write_text("name: bad\ntrain: {epochs: 1, batchsize: 8}\n")
    bad_key = cli("train", "--config", str(config), "--out", str(tmp_path / "run"))
    assert bad_key.returncode == 2 and "batchsize" in bad_key.stderr and "batch_size" in bad_key.stderr

    missing = cli("prepare", f"folder:{tmp_path / 'nowhere'}", "--root", str(tmp_path / "data"))
    assert missing.returncode == 2 and "nowhere" in missing.stderr and "Traceback" not in missing.stderr

    no_images = cli("evaluate", "--images", str(tmp_path / "nowhere"), "--metrics", "fd_effnet",
                    "--reference-images", str(tmp_path))
    assert no_images.returncode == 2 and "nowhere" in no_images.stderr


def test_number_arguments_are_range_checked_in_one_line(tmp_path):
    for args, expected in ((["sample", "--checkpoint", "x.pt", "--n", "0"], "--n: 0 is outside [1, 100000]"),
                           (["sample", "--checkpoint", "x.pt", "--truncation", "1.5"], "--truncation: 1.5 is outside"),
                           (["sample", "--checkpoint", "x.pt", "--truncation-cutoff", "0"],
                            "--truncation-cutoff: 0 is outside [1, inf]"),
                           (["prepare", "anime-faces", "--resolution", "0"], "--resolution: '0' is not a positive"),
                           (["prepare", "anime-faces", "--max-bad-fraction", "2"], "--max-bad-fraction: 2.0 is outside"),
                           (["train", "--config", "configs/s001_dcgan.yaml", "--minutes", "0"], "--minutes: 0.0 is outside")):
        done = cli(*args)
        assert done.returncode == 2 and expected in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr


def test_truncation_needs_a_mapping_network(tmp_path):
    from anime_gan.config import load_experiment
    from anime_gan.experiment import build_trainer
    from test_train import synthetic_images

    config = load_experiment(None, ["data.resolution=32", "generator.width=8", "discriminator.width=8",
                                    "train.batch_size=16", "train.epochs=1", "train.device=cpu", "log.progress=false",
                                    "log.sample_every=0", "log.epoch_samples=0"])
    build_trainer(config, tmp_path / "run", images=synthetic_images(32)).fit()
    done = cli("sample", "--checkpoint", str(tmp_path / "run" / "checkpoint.pt"), "--truncation", "0.7",
               "--out", str(tmp_path / "s.png"))
    assert done.returncode == 2 and "mapping network" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "s.png").exists()
    done = cli("sample", "--checkpoint", str(tmp_path / "run" / "checkpoint.pt"), "--truncation-cutoff", "2",
               "--out", str(tmp_path / "s.png"))
    assert done.returncode == 2 and "truncation cutoff 2 needs a generator with a mapping network" in done.stderr
    assert not (tmp_path / "s.png").exists()
    done = cli("sample", "--checkpoint", str(tmp_path / "run" / "checkpoint.pt"), "--n", "4", "--out",
               str(tmp_path / "s.png"))
    assert done.returncode == 0 and (tmp_path / "s.png").exists() and "truncation psi 1" in done.stdout
