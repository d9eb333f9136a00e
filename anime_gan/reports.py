"""Result tables and figures for the notebooks: the papers' numbers beside ours, never mixed.

Every table is written twice, as CSV (for code) and Markdown (for people), under
``reports/<profile>/<dataset>/<section>/``. Our numbers carry how they were made
(metric, feature extractor, sample count, resolution, training length); the
papers' numbers sit in their own columns with the paper's protocol.

    tables = seed001_table(pipeline, results)          # pandas DataFrame
    write_table(tables, out_dir / "fid_table")         # fid_table.csv + fid_table.md
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

# ------------------------------------------------------------------ the papers' published numbers

# Seed 001 (Wu, Xu, Lu), Table 1: FID after 150 epochs at 64x64, pytorch-fid; N and reference set not stated.
PAPER_001_FID = {"DCGAN": 64.446, "LSGAN": 149.210, "StyleGAN": 44.704}
# What produced each of those numbers, where the paper's name and its code differ.
PAPER_001_MODEL = {
    "StyleGAN": ("StyleGAN2: the authors' README links \"NVIDIA's StyleGAN\" to lucidrains' stylegan2-pytorch, "
                 "whose FID samples its EMA generator at trunc_psi 0.75"),
}

# Seed 003 (BaMSGAN), Table 1: distortion rate per epoch, judged by eye on a fixed batch of samples.
PAPER_003_DR = {
    "epoch": [290, 291, 292, 293, 294, 295, 296, 297, 298],
    "SAGAN": [0.1090, 0.1211, 0.0977, 0.1250, 0.1289, 0.1289, 0.1875, 0.0977, 0.0820],
    "BaMSGAN": [0.0390, 0.0390, 0.0467, 0.0625, 0.0313, 0.0469, 0.0391, 0.0703, 0.0703],
}
PAPER_003_DR_AVERAGE = {"SAGAN": 0.1163, "BaMSGAN": 0.0495}

NOT_RUN = "not yet run"
# The diversity columns, in one sentence for every caption that shows them.
PRECISION_RECALL_NOTE = ("precision_effnet / recall_effnet: improved precision and recall (Kynkaanniemi et al. 2019, "
                         "k = 3) on the same EfficientNet-Lite0 features: the share of samples inside the real faces' "
                         "k-NN manifold (realism) and of real faces inside the samples' (variety: near 0 under mode "
                         "collapse, which DR does not show and fd_effnet does not tell from poor realism).")


# ------------------------------------------------------------------ writing


def markdown(table: pd.DataFrame, float_format: str = "{:.5g}") -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "" if math.isnan(value) else float_format.format(value)
        return str(value).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *rows]) + "\n"


def write_table(table: pd.DataFrame, path_stem: str | Path, caption: str = "") -> tuple[Path, Path]:
    """``<stem>.csv`` and ``<stem>.md`` (with the caption as a paragraph under the table)."""
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    csv, md = stem.with_suffix(".csv"), stem.with_suffix(".md")
    table.to_csv(csv, index=False)
    md.write_text(markdown(table) + (f"\n{caption.strip()}\n" if caption else ""))
    return csv, md


# ------------------------------------------------------------------ reading our results


def how_made(result: dict[str, Any]) -> str:
    """One line saying how a metrics file's numbers were made."""
    m, t = result["metrics"], result["training"]
    h, w = result["resolution"]
    extractor = ", ".join(d["extractor"].split(",")[0] for d in m.get("extractors", {}).values()) or "none"
    return (f"{result['dataset']} {h}x{w}, N={m['n_fake']} generated vs {m['n_reference']} real ({result['reference']}), "
            f"features: {extractor}; trained {t['iterations']} G steps / {t['epochs']} scaled epochs "
            f"(epoch_scale {result['epoch_scale']}), profile {result['profile']}")


def metric(result: dict[str, Any] | None, name: str) -> float:
    if result is None:
        return float("nan")
    return float(result["metrics"].get(name, float("nan")))


def results_frame(results: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per evaluated experiment: the headline numbers and the training length."""
    rows = []
    for name, r in results.items():
        m, t = r["metrics"], r["training"]
        rows.append({
            "experiment": name, "row": r["row"], "dataset": r["dataset"], "resolution": "x".join(map(str, r["resolution"])),
            "fd_effnet": m.get("fd_effnet"), "precision_effnet": m.get("precision_effnet"),
            "recall_effnet": m.get("recall_effnet"), "kid_effnet": m.get("kid_effnet"), "is_effnet": m.get("is_effnet"),
            "fid": m.get("fid"), "dr_raw": m.get("dr_raw"), "dr_real": m.get("dr_real"),
            "dr_calibrated": m.get("dr_calibrated"), "N": m["n_fake"], "G steps": t["iterations"],
            "train minutes": round((t.get("seconds") or 0) / 60, 1),
        })
    return pd.DataFrame(rows).dropna(axis=1, how="all")


# ------------------------------------------------------------------ per-paper tables


def seed001_table(results: dict[str, dict[str, Any]], rows: dict[str, str]) -> pd.DataFrame:
    """Seed 001 Table 1: the paper's FID next to our distance for each row (``rows``: paper row -> experiment)."""
    table = []
    for paper_row, paper_fid in PAPER_001_FID.items():
        name = rows.get(paper_row)
        result = results.get(name) if name else None
        ours_fid = metric(result, "fid")
        table.append({
            "model": paper_row,
            "paper FID (150 epochs, 64x64, pytorch-fid)": paper_fid,
            "paper's network": PAPER_001_MODEL.get(paper_row, paper_row),
            "ours FID": ours_fid if not math.isnan(ours_fid) else ("needs Inception weights" if result else NOT_RUN),
            "ours fd_effnet (not FID)": metric(result, "fd_effnet") if result else NOT_RUN,
            "ours precision_effnet": metric(result, "precision_effnet") if result else NOT_RUN,
            "ours recall_effnet": metric(result, "recall_effnet") if result else NOT_RUN,
            "ours kid_effnet": metric(result, "kid_effnet") if result else NOT_RUN,
            "how ours was made": how_made(result) if result else NOT_RUN,
        })
    return pd.DataFrame(table)


def seed001_caption() -> str:
    """What the paper's column and ours are, the StyleGAN row's implementation included."""
    return ("Paper: FID from the paper's Table 1 (pytorch-fid, 64x64, 150 epochs; N not stated). Its StyleGAN row "
            f"is {PAPER_001_MODEL['StyleGAN']}, not the StyleGAN (AdaIN, progressive growing) of our row. Ours: see "
            "the last columns; every row sampled at truncation psi 1. fd_effnet is a Frechet distance on "
            "EfficientNet-Lite0 features, not FID; the two are not comparable. " + PRECISION_RECALL_NOTE)


def seed003_dr_table(results: dict[str, dict[str, Any]], sagan: str, bamsgan: str, last: int = 9) -> pd.DataFrame:
    """Seed 003 Table 1: DR per epoch over the last ``last`` evaluated epochs, paper and ours, with averages.

    Ours is the automatic protocol (cascade detector on a fixed batch of samples saved at each epoch end): raw and
    calibrated by the detector's miss rate on real faces. Our epochs are the profile's scaled epochs.
    """
    paper = pd.DataFrame(PAPER_003_DR)
    ours = {}
    for label, name in (("SAGAN", sagan), ("BaMSGAN", bamsgan)):
        per_epoch = (results.get(name) or {}).get("per_epoch", [])[-last:]
        ours[label] = per_epoch
    n = max(len(paper), *(len(v) for v in ours.values()))
    rows = []
    for i in range(n):
        row: dict[str, Any] = {}
        row["paper epoch"] = paper["epoch"][i] if i < len(paper) else ""
        row["paper SAGAN DR"] = paper["SAGAN"][i] if i < len(paper) else float("nan")
        row["paper BaMSGAN DR"] = paper["BaMSGAN"][i] if i < len(paper) else float("nan")
        for label in ("SAGAN", "BaMSGAN"):
            entry = ours[label][i] if i < len(ours[label]) else None
            row[f"ours {label} epoch"] = entry["epoch"] if entry else ""
            row[f"ours {label} DR raw"] = entry["dr_raw"] if entry else float("nan")
            row[f"ours {label} DR calibrated"] = entry["dr_calibrated"] if entry else float("nan")
        rows.append(row)
    table = pd.DataFrame(rows)
    average: dict[str, Any] = {"paper epoch": "average",
                               "paper SAGAN DR": PAPER_003_DR_AVERAGE["SAGAN"],
                               "paper BaMSGAN DR": PAPER_003_DR_AVERAGE["BaMSGAN"]}
    for column in table.columns:
        if column.startswith("ours") and not column.endswith("epoch"):
            values = pd.to_numeric(table[column], errors="coerce")
            average[column] = values.mean() if values.notna().any() else float("nan")
        elif column.startswith("ours"):
            average[column] = "average"
    return pd.concat([table, pd.DataFrame([average])], ignore_index=True)


def comparison_table(results: dict[str, dict[str, Any]], names: list[str], paper_note: str) -> pd.DataFrame:
    """Rows of one paper's experiments with our metrics; ``paper_note`` fills the paper column."""
    table = []
    for name in names:
        result = results.get(name)
        table.append({
            "experiment": name,
            "row": result["row"] if result else name,
            "paper": paper_note,
            "dataset": result["dataset"] if result else "",
            "fd_effnet (not FID)": metric(result, "fd_effnet"),
            "precision_effnet": metric(result, "precision_effnet"),
            "recall_effnet": metric(result, "recall_effnet"),
            "kid_effnet": metric(result, "kid_effnet"),
            "is_effnet (not IS)": metric(result, "is_effnet"),
            "FID": metric(result, "fid"),
            "IS": metric(result, "is"),
            "DR raw": metric(result, "dr_raw"),
            "DR calibrated": metric(result, "dr_calibrated"),
            "how ours was made": how_made(result) if result else NOT_RUN,
        })
    return pd.DataFrame(table).dropna(axis=1, how="all")


# ------------------------------------------------------------------ figures


def plot_losses(loss_files: dict[str, Path], path: str | Path, title: str = "") -> Path:
    """L_D and L_G against generator steps, one panel per experiment, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(loss_files)
    columns = min(3, n)
    rows = math.ceil(n / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3 * rows), squeeze=False)
    for ax, (name, csv) in zip(axes.flat, loss_files.items()):
        log = pd.read_csv(csv)
        ax.plot(log["step"], log["loss_d"], label="L_D")
        ax.plot(log["step"], log["loss_g"], label="L_G")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("generator step")
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


FIGURE_BYTES = 480_000  # committed figures stay under 500 KB (a test checks every PNG in reports/)


def image_grid(images, path: str | Path, nrow: int = 8, max_bytes: int = FIGURE_BYTES) -> Path:
    """uint8 (N, 3, H, W) images as one PNG grid at native pixels; whole rows are dropped from the end until the
    file fits ``max_bytes`` (large images would otherwise make multi-megabyte figures)."""
    from torchvision.utils import save_image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = len(images)
    while True:
        save_image(images[:count].float() / 255, path, nrow=nrow, padding=1)
        if path.stat().st_size <= max_bytes or count <= nrow:
            return path
        count = max(nrow, (count // nrow - 1) * nrow)


def _grid_corner(grid, cells: int, per_side: int = 8):
    """The top-left ``cells`` x ``cells`` samples of a torchvision grid of ``per_side`` samples per side (padding 2:
    a grid of side S has cells of (S - 2) / per_side pixels, borders included)."""
    cell_w, cell_h = (grid.width - 2) / per_side, (grid.height - 2) / per_side
    return grid.crop((0, 0, round(cells * cell_w) + 2, round(cells * cell_h) + 2))


def grids_figure(panels: dict[str, Path], path: str | Path, title: str = "", columns: int = 4,
                 max_bytes: int = FIGURE_BYTES) -> Path:
    """Several saved sample grids side by side with their labels, at native pixel size, as one PNG.

    Each panel shows the top-left 4 x 4 samples of its 8 x 8 grid, or 3 x 3 (then 2 x 2) when the PNG would
    exceed ``max_bytes``: report figures stay small enough for git while every sample keeps its own pixels (no
    resampling, no lossy format).
    """
    from PIL import Image, ImageDraw, ImageFont

    panels = {k: v for k, v in panels.items() if v is not None and Path(v).exists()}
    if not panels:
        raise FileNotFoundError("no sample grid to show")
    font = ImageFont.load_default()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for cells in (4, 3, 2):
        crops = {label: _grid_corner(Image.open(png).convert("RGB"), cells) for label, png in panels.items()}
        cell_w = max(max(c.width for c in crops.values()), 120)
        cell_h = max(c.height for c in crops.values()) + 14  # a line of text above each panel
        n_columns = min(columns, len(crops))
        rows = math.ceil(len(crops) / n_columns)
        top = 16 if title else 0
        canvas = Image.new("RGB", (n_columns * (cell_w + 6), top + rows * (cell_h + 6)), "white")
        draw = ImageDraw.Draw(canvas)
        if title:
            draw.text((4, 2), title, fill="black", font=font)
        for i, (label, crop) in enumerate(crops.items()):
            x, y = (i % n_columns) * (cell_w + 6), top + (i // n_columns) * (cell_h + 6)
            draw.text((x + 2, y + 1), label[: cell_w // 6], fill="black", font=font)
            canvas.paste(crop, (x, y + 14))
        canvas.save(path, optimize=True)
        if path.stat().st_size <= max_bytes:
            break
    return path


def stylegan_figures(checkpoint: str | Path, out_dir: str | Path, seed: int = 7, sources: int = 4,
                     crossover_layer: int | None = None, psis: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0),
                     strip_rows: int = 4) -> dict[str, Path]:
    """Seed 001's figure 8 (right) and a truncation strip from a trained StyleGAN checkpoint (its EMA copy).

    style_mixing.png: ``sources`` row and column sources; each cell has the coarse styles (layers below the
    crossover, by default the first half: the 4x4 and 8x8 layers at 32x32) of its row source and the fine ones of
    its column source. truncation.png: one row per z, psi from 0 (the mean face) to 1 (no truncation).
    """
    import torch
    from torchvision.utils import save_image

    from anime_gan.experiment import load_generator
    from anime_gan.models.stylegan import style_mixing_images, truncation_strip

    generator, _ = load_generator(checkpoint, device="cpu")
    crossover = generator.num_style_layers // 2 if crossover_layer is None else crossover_layer
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(2 * sources + strip_rows, generator.latent_dim, generator=rng)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    mixing = style_mixing_images(generator, z[:sources], z[sources : 2 * sources], crossover)
    strip = truncation_strip(generator, z[2 * sources :], psis)
    paths = {"style_mixing": out_dir / "style_mixing.png", "truncation": out_dir / "truncation.png"}
    save_image(mixing, paths["style_mixing"], nrow=sources + 1, normalize=True, value_range=(-1, 1), pad_value=1.0)
    save_image(strip, paths["truncation"], nrow=len(psis), normalize=True, value_range=(-1, 1), pad_value=1.0)
    return paths


# ------------------------------------------------------------------ seed 004 and the translator


def read_json(path: str | Path) -> dict:
    import json

    return json.loads(Path(path).read_text())


STYLE_COLUMNS = {  # provenance key -> table column; "optimised by NST": NST's own loss terms on the same network
    "content_distance": "content distance, NST's content loss (lower: kept; optimised by NST)",
    "style_distance": "style distance, NST's Gram loss (lower: taken; optimised by NST)",
    "content_ssim": "content SSIM, grey (higher: kept; independent)",
    "colour_distance": "colour distance, hue-saturation (lower: taken; independent)",
}


def style_table(provenance: dict) -> pd.DataFrame:
    """One row per style-transfer method (and the two reference rows) with how each number was made."""
    rows = provenance["rows"]
    return pd.DataFrame([{
        "method": r["method"],
        "seconds per image": r["seconds_per_image"],
        **{column: r.get(key, float("nan")) for key, column in STYLE_COLUMNS.items()},
        "fd_effnet vs held-out anime faces (not FID)": r["fd_effnet"],
        "N": r["n"],
        "feature network": r["backbone"],
    } for r in rows])


def style_caption(provenance: dict) -> str:
    settings = provenance["settings"]
    backbone = provenance["rows"][0]["backbone"]
    network = ("VGG-19 (ImageNet): content conv4_2, style conv1_1..conv5_1" if backbone == "vgg19" else
               "EfficientNet-Lite0 (ImageNet, offline; VGG-19 weights absent): content block6, style stem, "
               "block1, block3, block5, block11")
    return (f"{settings['pairs']} content/style pairs at {settings['size']}x{settings['size']}: content = "
            f"{provenance['content']}, style = {provenance['style']}. Content and style distance on {network}: "
            f"content = Gatys' content loss (MSE of the content layer), style = Gram-matrix MSE averaged over the "
            f"style layers. These are the very terms NST minimises on the same network, so NST's values there are "
            f"low by construction; the independent columns judge every method alike: content SSIM = structural "
            f"similarity (Wang et al.: Gaussian window sigma 1.5, scikit-image) of the grey result and the grey "
            f"photograph; colour distance = Bhattacharyya distance (OpenCV) of the hue-saturation histograms "
            f"(30 x 32 bins) of the result and its style image. Reference rows: an unrelated image's value is the "
            f"photographs' colour distance and the style images' SSIM. fd_effnet: Frechet distance of the stylised "
            f"set to {provenance['reference']} on EfficientNet-Lite0 features (N = {settings['pairs']} is far "
            f"below 1280 dimensions, so it is biased upward; compare rows, not with other tables). NST: Adam, "
            f"{settings['nst_steps']} steps per image, starting from the photograph. Time on this machine's CPU.")


def _number(value: float) -> str:
    return f"{value:.3g}"


def _best(rows: list[dict], key: str, highest: bool) -> dict | None:
    scored = [r for r in rows if isinstance(r.get(key), (int, float)) and not math.isnan(r[key])]
    if not scored:
        return None
    return (max if highest else min)(scored, key=lambda r: r[key])


def style_findings(provenance: dict) -> str:
    """What the style table says, as Markdown sentences computed from its numbers: which method keeps the content
    best and which takes the style most by each measure (NST's own losses named as such), which of them do no
    better than an unrelated image, and the time per image."""
    from anime_gan.style.compare import MEASURES, PHOTOS_ROW, STYLES_ROW

    rows, measures = provenance["rows"], provenance.get("measures") or MEASURES
    by_method = {r["method"]: r for r in rows}
    methods = [r for r in rows if r["method"] not in (PHOTOS_ROW, STYLES_ROW)]
    photos, styles = by_method.get(PHOTOS_ROW), by_method.get(STYLES_ROW)
    lines = []
    for key, label, aspect, highest, floor_row in (
            ("content_ssim", "content SSIM (independent)", "keeps the most content", True, styles),
            ("colour_distance", "colour distance (independent)", "takes the most colour from its style image", False,
             photos),
            ("content_distance", "content distance", "keeps the most content", False, styles),
            ("style_distance", "style distance", "takes the most style", False, photos)):
        best = _best(methods, key, highest)
        if best is None:
            continue
        text = f"By {label}, **{best['method']}** {aspect} ({_number(best[key])})"
        optimiser = measures.get(key, {}).get("optimised_by")
        if optimiser:
            text += (f"; this measure is {optimiser.upper()}'s own loss on the same network, which favours it by "
                     f"construction")
        if floor_row is not None and isinstance(floor_row.get(key), (int, float)):
            floor = floor_row[key]
            no_better = [r["method"] for r in methods if (r[key] <= floor if highest else r[key] >= floor)]
            text += (f". An unrelated image scores {_number(floor)} ({floor_row['method']})"
                     + (f"; no better than that: {', '.join(no_better)}" if no_better else ""))
        lines.append(text + ".")
    fastest, slowest = _best(methods, "seconds_per_image", False), _best(methods, "seconds_per_image", True)
    if fastest is not None and slowest is not fastest:
        ratio = (f", {slowest['seconds_per_image'] / fastest['seconds_per_image']:.0f}x the fastest"
                 if fastest["seconds_per_image"] > 0 else "")
        lines.append(f"Time per image: **{fastest['method']}** {_number(fastest['seconds_per_image'])} s, the "
                     f"fastest; **{slowest['method']}** {_number(slowest['seconds_per_image'])} s, the slowest{ratio} "
                     f"(one run on this machine's CPU).")
    closest = _best(methods, "fd_effnet", False)
    if closest is not None:
        lines.append(f"As a set, **{closest['method']}** is closest to the held-out anime faces (fd_effnet "
                     f"{_number(closest['fd_effnet'])}; the photographs themselves "
                     f"{_number(photos['fd_effnet']) if photos else 'n/a'}).")
    return "\n".join(f"- {line}" for line in lines) + "\n"


def style_grids(stylised: dict, path: str | Path, pairs: int = 8) -> Path:
    """One panel per method: content photographs, style images and results (rows), ``pairs`` columns (fewer when
    the figure would exceed the committed-figure budget)."""
    import tempfile

    import torch
    from torchvision.utils import save_image

    while True:  # fewer columns until the figure fits the committed-figure budget
        contents, styles = stylised["contents"][:pairs], stylised["styles"][:pairs]
        panels = {}
        with tempfile.TemporaryDirectory() as tmp:
            for method, results in stylised["results"].items():
                grid = torch.cat([contents, styles, results[:pairs]]).float() / 255
                panel = Path(tmp) / f"{method}.png"
                save_image(grid, panel, nrow=len(contents), padding=2)
                panels[method] = panel
            written = _stack_panels(panels, Path(path))
        if written.stat().st_size <= FIGURE_BYTES or pairs <= 2:
            return written
        pairs -= 1


def _stack_panels(panels: dict[str, Path], path: Path) -> Path:
    """Whole PNG panels one under another with a label line each, at native pixels."""
    from PIL import Image, ImageDraw, ImageFont

    images = {label: Image.open(p).convert("RGB") for label, p in panels.items()}
    width = max(im.width for im in images.values())
    canvas = Image.new("RGB", (width, sum(im.height + 16 for im in images.values())), "white")
    draw, font, y = ImageDraw.Draw(canvas), ImageFont.load_default(), 0
    for label, image in images.items():
        draw.text((2, y + 2), label, fill="black", font=font)
        canvas.paste(image, (0, y + 16))
        y += image.height + 16
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, optimize=True)
    return path


def translation_table(results: dict[str, dict[str, Any]], names: list[str]) -> pd.DataFrame:
    """One row per translator: distances of its translations, content measures, cycle errors, training length, and
    which of these numbers its own training objective optimised."""
    rows = []
    for name in names:
        r = results.get(name)
        m = r["metrics"] if r else {}
        rows.append({
            "row": r["row"] if r else name,
            "generator": m.get("generator", ""),
            "fd_effnet (not FID)": m.get("fd_effnet", float("nan")),
            "fd_effnet of the untranslated photos": m.get("fd_effnet_untranslated", float("nan")),
            "precision_effnet": m.get("precision_effnet", float("nan")),
            "recall_effnet": m.get("recall_effnet", float("nan")),
            "is_effnet (not IS)": m.get("is_effnet", float("nan")),
            "FID": m.get("fid", float("nan")),
            "content distance, effnet block6 (lower: kept)": m.get("content_distance_effnet", float("nan")),
            "content SSIM, grey (higher: kept; independent)": m.get("content_ssim", float("nan")),
            "optimised in training": (", ".join(m["optimised_in_training"]) or "none of these"
                                      if "optimised_in_training" in m else ("not recorded" if r else "")),
            "cycle error photo": m.get("cycle_error_source", float("nan")),
            "cycle error anime": m.get("cycle_error_target", float("nan")),
            "iterations": r["training"]["iterations"] if r else "",
            "train minutes": round((r["training"].get("seconds") or 0) / 60, 1) if r else "",
        })
    return pd.DataFrame(rows).dropna(axis=1, how="all")


def _discriminator_sentence(metrics: dict[str, Any], height: int, width: int) -> str:
    """What one logit of the translators' PatchGAN sees at this resolution, from the evaluation's record."""
    field, patches = metrics.get("discriminator_receptive_field"), metrics.get("discriminator_patch_map")
    if not field or not patches:
        return ""
    if metrics.get("discriminator_sees_whole_images"):
        return (f" D: the {field}x{field} PatchGAN gives {patches[0]}x{patches[1]} logits per {height}x{width} "
                f"image, and every logit's {field} px window (padding included) covers the whole image: at this size "
                f"it judges whole images, not patches.")
    return (f" D: the {field}x{field} PatchGAN gives {patches[0]}x{patches[1]} logits per {height}x{width} image, "
            f"each judging a {field} px window.")


def translation_caption(results: dict[str, dict[str, Any]]) -> str:
    first = next(iter(results.values()), None)
    if first is None:
        return ""
    m = first["metrics"]
    h, w = first["resolution"]
    optimisers = {r["row"]: r["metrics"].get("optimised_in_training", {}) for r in results.values()}
    optimised = "; ".join(f"{row} optimises {', '.join(keys)} ({'; '.join(keys.values())})"
                          for row, keys in optimisers.items() if keys)
    ssim = (f" Content SSIM: {m['content_ssim_note']}; between unrelated photographs it is "
            f"{m['content_ssim_unrelated']:.3f}." if "content_ssim" in m else "")
    return (f"Translators at {h}x{w}: {first['dataset']}. Translated: {m['n_source']} held-out photographs "
            f"({m['source_split']}); reference: {m['n_target']} held-out anime faces ({m['target_split']}). fd_effnet "
            f"and is_effnet on EfficientNet-Lite0 features (not FID/IS); the untranslated photos' fd_effnet is the "
            f"number to beat. {PRECISION_RECALL_NOTE} Content distance: {m['content_layer']}; between unrelated "
            f"photographs it is "
            f"{m['content_distance_effnet_unrelated']:.2f}."
            + (f" Optimised in training: {optimised}: that row's content distance is low partly by construction."
               if optimised else "")
            + ssim + f" Cycle error: {m['cycle_error_units']}."
            + _discriminator_sentence(m, h, w)
            + f" Samples: {first.get('sampled')}. Profile {first['profile']}.")


def translation_findings(results: dict[str, dict[str, Any]]) -> str:
    """What the translation table says, as Markdown sentences computed from its numbers: the distance to the anime
    faces against the untranslated photographs, and the content kept by each measure against unrelated
    photographs."""
    rows = [{"row": r["row"], **r["metrics"]} for r in results.values()]
    lines = []
    closest = _best(rows, "fd_effnet", False)
    if closest is not None and "fd_effnet_untranslated" in closest:
        floor = closest["fd_effnet_untranslated"]
        beaten = [r["row"] for r in rows if r["fd_effnet"] < floor]
        lines.append(f"Closest to the held-out anime faces: **{closest['row']}** (fd_effnet "
                     f"{_number(closest['fd_effnet'])}); the untranslated photographs score {_number(floor)}, and "
                     + (f"{len(beaten)} of {len(rows)} translators get below that: {', '.join(beaten)}."
                        if beaten else f"none of the {len(rows)} translators gets below that."))
    for key, unrelated_key, label, highest in (
            ("content_ssim", "content_ssim_unrelated", "content SSIM (independent)", True),
            ("content_distance_effnet", "content_distance_effnet_unrelated", "content distance (effnet block6)",
             False)):
        best = _best(rows, key, highest)
        if best is None or unrelated_key not in best:
            continue
        floor = best[unrelated_key]
        kept = [r["row"] for r in rows if (r[key] > floor if highest else r[key] < floor)]
        optimised = [r["row"] for r in rows if key in r.get("optimised_in_training", {})]
        lines.append(f"By {label}, **{best['row']}** keeps the most content of the translators "
                     f"({_number(best[key])}); between "
                     f"unrelated photographs it is {_number(floor)}, and "
                     + (f"{len(kept)} of {len(rows)} translators keep more than that: {', '.join(kept)}."
                        if kept else f"no translator keeps more content than an unrelated photograph.")
                     + (f" Optimised in training by: {', '.join(optimised)}." if optimised else ""))
    return "\n".join(f"- {line}" for line in lines) + "\n"


def translation_figure(pipeline, names: list[str], path: str | Path, n: int = 8) -> Path:
    """Source / translation / reconstruction rows of each translator on the same held-out photographs."""
    import tempfile

    from torchvision.utils import save_image

    from anime_gan.experiment import load_translator
    from anime_gan.translation import holdout_images, translation_grid

    panels = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            # The pipeline's data folder, or a notebook running in notebooks/ would prepare a second copy there.
            translator = load_translator(pipeline.run_dir(name) / "checkpoint.pt", device="cpu", root=pipeline.data_dir)
            photos, _ = holdout_images(translator.config, "source", n, progress=False)
            grid = translation_grid(translator, photos)
            panel = Path(tmp) / f"{name}.png"
            save_image(grid.float() / 255, panel, padding=0)
            panels[f"{pipeline.params.entry(name).row}: photo, G(photo), F(G(photo))"] = panel
        return _stack_panels(panels, Path(path))


def plot_translation_losses(loss_files: dict[str, Path], path: str | Path, title: str = "") -> Path:
    """Generators' total loss, cycle term and both discriminators' losses against iterations, a panel per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(loss_files), figsize=(4.4 * len(loss_files), 3.2), squeeze=False)
    for ax, (label, csv) in zip(axes.flat, loss_files.items()):
        log = pd.read_csv(csv)
        for column in ("loss_g", "cycle", "loss_d_x", "loss_d_y"):
            if column in log:
                ax.plot(log["step"], log[column], label=column)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("iteration")
        ax.legend(fontsize=7)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def seed000_table1(results: dict[str, dict[str, Any]], names: list[str]) -> pd.DataFrame:
    """Seed 000's Table 1 (anime half): DCGAN, WGAN(-GP) and the translators, scored the same way."""
    table = []
    for name in names:
        r = results.get(name)
        translator = bool(r) and r.get("kind") == "translation"
        table.append({
            "model": r["row"] if r else name,
            "paper IS / FID": "no numbers printed",
            "ours is_effnet (not IS)": metric(r, "is_effnet"),
            "ours fd_effnet (not FID)": metric(r, "fd_effnet"),
            "ours precision_effnet": metric(r, "precision_effnet"),
            "ours recall_effnet": metric(r, "recall_effnet"),
            "what is scored": "translations of held-out photographs" if translator else "generated samples",
            "how ours was made": (f"{r['dataset']} at {'x'.join(map(str, r['resolution']))}, "
                                  f"{r['training']['iterations']} iterations, profile {r['profile']}") if r else NOT_RUN,
        })
    return pd.DataFrame(table)
