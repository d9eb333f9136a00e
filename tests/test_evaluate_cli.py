"""``python -m anime_gan evaluate``: range checks of its numbers, and which reference images it uses."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from anime_gan.cli import main
from anime_gan.commands.evaluate import seeded_choice

os.environ.setdefault("ANIME_GAN_COMPILE", "0")


@pytest.mark.parametrize("arguments, message", [
    (["--n", "0"], "--n must be at least 2"),
    (["--n", "1"], "--n must be at least 2"),
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--holdout-fraction", "1"], "--holdout-fraction must be in [0, 1)"),
    (["--holdout-fraction", "-0.1"], "--holdout-fraction must be in [0, 1)"),
    (["--seed", "-1"], "--seed must be a non-negative integer"),
    (["--reference-seed", "-2"], "--reference-seed must be a non-negative integer"),
    (["--resolution", "0"], "--resolution must be a positive side length or HxW"),
    (["--resolution", "big"], "--resolution must be a positive side length or HxW"),
])
def test_every_number_is_range_checked_with_one_line(arguments, message, capsys, tmp_path):
    code = main(["evaluate", "--images", str(tmp_path), "--metrics", "kid_effnet", *arguments])
    err = capsys.readouterr().err
    assert code == 2 and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_folder_choice_is_seeded_and_random_not_the_first_by_name():
    images = torch.arange(50, dtype=torch.uint8).reshape(50, 1, 1, 1).expand(-1, 3, 2, 2)
    chosen = seeded_choice(images, 10, seed=0)
    indices = chosen[:, 0, 0, 0].tolist()
    assert len(set(indices)) == 10 and indices != list(range(10))
    assert torch.equal(chosen, seeded_choice(images, 10, seed=0))
    assert not torch.equal(chosen, seeded_choice(images, 10, seed=1))
    assert torch.equal(seeded_choice(images, 60, seed=0), images)  # fewer than n: all of them, in order


def write_pngs(folder, n, seed):
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")


def test_a_folder_reference_is_used_whole_unless_a_holdout_is_asked_for(tmp_path, capsys):
    write_pngs(tmp_path / "fakes", 6, seed=0)
    write_pngs(tmp_path / "reals", 10, seed=1)
    common = ["evaluate", "--images", str(tmp_path / "fakes"), "--reference", f"folder:{tmp_path / 'reals'}",
              "--metrics", "kid_effnet", "--root", str(tmp_path / "data"), "--no-progress", "--device", "cpu"]
    assert main([*common, "--out", str(tmp_path / "all.json")]) == 0
    out = capsys.readouterr().out
    assert "reference: 10 images of folder:" in out and "whole set of 10 images (no hold-out split)" in out
    assert json.loads((tmp_path / "all.json").read_text())["metrics"]["n_reference"] == 10
    assert main([*common, "--holdout-fraction", "0.2", "--out", str(tmp_path / "held.json")]) == 0
    out = capsys.readouterr().out
    assert "reference: 2 images of folder:" in out and "hold-out split (20% of 10 images)" in out
    assert json.loads((tmp_path / "held.json").read_text())["metrics"]["n_reference"] == 2
