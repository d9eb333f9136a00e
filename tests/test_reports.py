"""Report figures: committed PNGs stay under 500 KB, and the composed sample figure keeps native pixels."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision.utils import save_image

from anime_gan.reports import grids_figure

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 500 * 1024


def test_every_committed_report_figure_is_under_500_kb():
    figures = sorted((ROOT / "reports").rglob("*.png"))
    too_big = [f"{p.relative_to(ROOT)} ({p.stat().st_size // 1024} KB)" for p in figures if p.stat().st_size > LIMIT]
    assert not too_big, f"report figures over 500 KB: {too_big}"


def test_grids_figure_keeps_native_pixels_and_shrinks_to_its_budget(tmp_path):
    rng = torch.Generator().manual_seed(0)
    panels = {}
    for i in range(6):
        images = torch.rand(64, 3, 16, 16, generator=rng)  # noise: the worst case for PNG compression
        save_image(images, tmp_path / f"grid{i}.png", nrow=8)
        panels[f"row {i}"] = tmp_path / f"grid{i}.png"
    roomy = grids_figure(panels, tmp_path / "roomy.png", max_bytes=10**7)
    tight = grids_figure(panels, tmp_path / "tight.png", max_bytes=40_000)
    # Panels of 4 x 4 cells of 18 px (16 + 2 border) plus the 2 px edge: 74 px wide; 3 x 3: 56 px.
    first = Image.open(panels["row 0"]).convert("RGB").crop((2, 2, 18, 18))
    assert Image.open(roomy).convert("RGB").crop((2, 16, 18, 32)).tobytes() == first.tobytes()  # pixels untouched
    assert tight.stat().st_size <= 40_000 < roomy.stat().st_size
    with pytest.raises(FileNotFoundError):
        grids_figure({"missing": tmp_path / "nope.png"}, tmp_path / "x.png")


def test_image_grid_drops_whole_rows_until_it_fits_its_budget(tmp_path):
    from PIL import Image

    from anime_gan.reports import image_grid

    noise = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    full = image_grid(noise, tmp_path / "full.png", max_bytes=10**9)
    budget = full.stat().st_size // 2
    small = image_grid(noise, tmp_path / "small.png", max_bytes=budget)
    assert small.stat().st_size <= budget
    with Image.open(full) as a, Image.open(small) as b:
        assert b.width == a.width and b.height < a.height  # native pixels: same columns, fewer rows
        assert (b.height - 1) % 33 == 0  # whole rows of 32 px images with 1 px padding
