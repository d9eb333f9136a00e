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


# ---------------------------------------------------------------- sentences computed from the tables


def style_row(method: str, seconds: float, content: float, style: float, ssim: float, colour: float,
              fd: float) -> dict:
    return {"method": method, "seconds_per_image": seconds, "content_distance": content, "style_distance": style,
            "content_ssim": ssim, "colour_distance": colour, "fd_effnet": fd, "n": 4, "backbone": "effnet"}


def test_style_findings_name_the_best_method_by_each_measure_against_unrelated_images():
    from anime_gan.reports import style_findings, style_table
    from anime_gan.style.compare import MEASURES, PHOTOS_ROW, STYLES_ROW

    # A keeps the structure and takes the colours (independent measures); B wins NST's own losses, but keeps less
    # structure than an unrelated image and takes no colour.
    provenance = {"measures": MEASURES, "rows": [
        style_row(PHOTOS_ROW, 0.0, 0.0, 0.2, 1.0, 0.6, 300.0),
        style_row(STYLES_ROW, 0.0, 50.0, 0.0, 0.2, 0.0, 100.0),
        style_row("A", 0.001, 10.0, 0.1, 0.9, 0.3, 250.0),
        style_row("B", 2.0, 5.0, 0.01, 0.15, 0.65, 200.0),
    ]}
    assert style_findings(provenance).splitlines() == [
        "- By content SSIM (independent), **A** keeps the most content (0.9). An unrelated image scores 0.2 "
        f"({STYLES_ROW}); no better than that: B.",
        "- By colour distance (independent), **A** takes the most colour from its style image (0.3). An unrelated "
        f"image scores 0.6 ({PHOTOS_ROW}); no better than that: B.",
        "- By content distance, **B** keeps the most content (5); this measure is NST's own loss on the same network, "
        f"which favours it by construction. An unrelated image scores 50 ({STYLES_ROW}).",
        "- By style distance, **B** takes the most style (0.01); this measure is NST's own loss on the same network, "
        f"which favours it by construction. An unrelated image scores 0.2 ({PHOTOS_ROW}).",
        "- Time per image: **A** 0.001 s, the fastest; **B** 2 s, the slowest, 2000x the fastest (one run on this "
        "machine's CPU).",
        "- As a set, **B** is closest to the held-out anime faces (fd_effnet 200; the photographs themselves 300).",
    ]
    optimised = [c for c in style_table(provenance).columns if "optimised by NST" in c]
    assert optimised == ["content distance, NST's content loss (lower: kept; optimised by NST)",
                         "style distance, NST's Gram loss (lower: taken; optimised by NST)"]


def translator_result(row: str, fd: float, distance: float, ssim: float, optimised: dict) -> dict:
    return {"row": row, "profile": "test", "dataset": "photos -> anime", "resolution": [32, 32], "sampled": "G",
            "metrics": {"fd_effnet": fd, "fd_effnet_untranslated": 190.0, "content_distance_effnet": distance,
                        "content_distance_effnet_unrelated": 30.0, "content_ssim": ssim,
                        "content_ssim_unrelated": 0.25, "optimised_in_training": optimised}}


def test_translation_findings_compare_every_translator_with_the_untranslated_and_unrelated_photos():
    from anime_gan.reports import translation_findings

    results = {
        "a": translator_result("proposed", 210.0, 43.0, 0.3, {}),
        "b": translator_result("baseline", 180.0, 36.0, 0.2, {}),
        "c": translator_result("fusion", 200.0, 33.5, 0.35, {"content_distance_effnet": "its content term"}),
    }
    assert translation_findings(results).splitlines() == [
        "- Closest to the held-out anime faces: **baseline** (fd_effnet 180); the untranslated photographs score "
        "190, and 1 of 3 translators get below that: baseline.",
        "- By content SSIM (independent), **fusion** keeps the most content of the translators (0.35); between "
        "unrelated photographs it is 0.25, and 2 of 3 translators keep more than that: proposed, fusion.",
        "- By content distance (effnet block6), **fusion** keeps the most content of the translators (33.5); between "
        "unrelated photographs it is 30, and no translator keeps more content than an unrelated photograph. "
        "Optimised in training by: fusion.",
    ]
