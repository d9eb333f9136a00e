"""Report figures: committed PNGs stay under 500 KB, the composed sample figure keeps native pixels; report tables
show precision and recall beside fd_effnet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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


def gan_result(row: str, **metrics) -> dict:
    """A recorded GAN result as Pipeline.evaluate writes it, with the given metrics."""
    return {"row": row, "dataset": "anime-faces", "resolution": [32, 32], "reference": "hold-out split",
            "epoch_scale": 0.032, "profile": "cpu", "training": {"iterations": 100, "epochs": 3.2, "seconds": 60},
            "metrics": {"n_fake": 1000, "n_reference": 1000, "extractors": {}, **metrics}}


def test_every_table_shows_precision_and_recall_beside_fd_effnet():
    from anime_gan import reports

    scores = {"fd_effnet": 80.5, "precision_effnet": 0.61, "recall_effnet": 0.07, "kid_effnet": 0.05,
              "is_effnet": 3.0}
    results = {"s001_dcgan": gan_result("DCGAN", **scores),
               "old": gan_result("LSGAN", fd_effnet=90.0)}  # made before the two metrics existed
    translator = gan_result("translator", **scores, fd_effnet_untranslated=120.0, generator="resnet")
    translator["kind"] = "translation"
    tables = {
        "results_frame": (reports.results_frame(results), "fd_effnet", ""),
        "seed001_table": (reports.seed001_table(results, {"DCGAN": "s001_dcgan", "LSGAN": "old"}),
                          "ours fd_effnet (not FID)", "ours "),
        "comparison_table": (reports.comparison_table(results, ["s001_dcgan", "old"], "none"),
                             "fd_effnet (not FID)", ""),
        "translation_table": (reports.translation_table({"t": translator}, ["t"]),
                              "fd_effnet of the untranslated photos", ""),
        "seed000_table1": (reports.seed000_table1({**results, "t": translator}, ["s001_dcgan", "t"]),
                           "ours fd_effnet (not FID)", "ours "),
    }
    for name, (table, fd_column, prefix) in tables.items():
        columns = list(table.columns)
        at = columns.index(fd_column)
        assert columns[at + 1 : at + 3] == [f"{prefix}precision_effnet", f"{prefix}recall_effnet"], name
        first = table.iloc[0]
        assert (first[f"{prefix}precision_effnet"], first[f"{prefix}recall_effnet"]) == (0.61, 0.07), name
    # A result recorded before the two metrics existed shows them as missing, not as an error.
    assert np.isnan(tables["comparison_table"][0].loc[1, "recall_effnet"])
    assert "recall_effnet" in reports.PRECISION_RECALL_NOTE
