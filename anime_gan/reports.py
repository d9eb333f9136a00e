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

# Seed 003 (BaMSGAN), Table 1: distortion rate per epoch, judged by eye on a fixed batch of samples.
PAPER_003_DR = {
    "epoch": [290, 291, 292, 293, 294, 295, 296, 297, 298],
    "SAGAN": [0.1090, 0.1211, 0.0977, 0.1250, 0.1289, 0.1289, 0.1875, 0.0977, 0.0820],
    "BaMSGAN": [0.0390, 0.0390, 0.0467, 0.0625, 0.0313, 0.0469, 0.0391, 0.0703, 0.0703],
}
PAPER_003_DR_AVERAGE = {"SAGAN": 0.1163, "BaMSGAN": 0.0495}

NOT_RUN = "not yet run"


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
            "fd_effnet": m.get("fd_effnet"), "kid_effnet": m.get("kid_effnet"), "is_effnet": m.get("is_effnet"),
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
            "ours FID": ours_fid if not math.isnan(ours_fid) else ("needs Inception weights" if result else NOT_RUN),
            "ours fd_effnet (not FID)": metric(result, "fd_effnet") if result else NOT_RUN,
            "ours kid_effnet": metric(result, "kid_effnet") if result else NOT_RUN,
            "how ours was made": how_made(result) if result else NOT_RUN,
        })
    return pd.DataFrame(table)


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


def image_grid(images, path: str | Path, nrow: int = 8) -> Path:
    """uint8 (N, 3, H, W) images as one PNG grid."""
    from torchvision.utils import save_image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images.float() / 255, path, nrow=nrow, padding=1)
    return path


FIGURE_BYTES = 480_000  # committed figures stay under 500 KB (a test checks every PNG in reports/)


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
