"""Distortion rate by eye, BaMSGAN's own protocol: a person marks each face of a fixed batch as distorted or clean.

    widget = labelling_widget(samples_uint8, "reports/labels/s003_bamsgan.csv", epoch=298)   # in a notebook
    table = dr_from_labels("reports/labels/s003_bamsgan.csv")   # DR per epoch = distorted / all, as the paper

The CSV has one row per (epoch, index) with ``distorted`` 0 or 1; saving rewrites it atomically and keeps the
other epochs' labels, so labelling can be spread over sessions.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import torch

from anime_gan.errors import MetricError

COLUMNS = ["epoch", "index", "distorted"]


def read_labels(path: str | Path) -> pd.DataFrame:
    """The labels CSV as a DataFrame (empty when the file does not exist yet); a clear error when malformed."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=COLUMNS).astype(int)
    labels = pd.read_csv(path)
    missing = [c for c in COLUMNS if c not in labels.columns]
    if missing:
        raise MetricError(f"{path} lacks the column(s) {missing}; expected {COLUMNS}")
    if not labels["distorted"].isin([0, 1]).all():
        raise MetricError(f"{path}: 'distorted' must be 0 or 1")
    if labels.duplicated(["epoch", "index"]).any():
        raise MetricError(f"{path} labels some (epoch, index) twice")
    return labels[COLUMNS].astype(int)


def write_labels(path: str | Path, epoch: int, distorted: list[bool]) -> None:
    """Replace ``epoch``'s labels in the CSV (atomically), keeping every other epoch's."""
    path = Path(path)
    labels = read_labels(path)
    labels = labels[labels["epoch"] != epoch]
    new = pd.DataFrame({"epoch": epoch, "index": range(len(distorted)), "distorted": [int(d) for d in distorted]})
    labels = pd.concat([labels, new]).sort_values(["epoch", "index"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    labels.to_csv(tmp, index=False)
    tmp.replace(path)


def dr_from_labels(path: str | Path) -> pd.DataFrame:
    """Per epoch: labelled faces, distorted faces and DR = distorted / labelled (the paper's Table 1 definition)."""
    labels = read_labels(path)
    if labels.empty:
        raise MetricError(f"{path} holds no labels yet")
    table = labels.groupby("epoch")["distorted"].agg(n="count", distorted="sum").reset_index()
    table["dr"] = table["distorted"] / table["n"]
    return table


def _png(image: torch.Tensor, scale: int) -> bytes:
    from PIL import Image

    pixels = image.detach().cpu().permute(1, 2, 0).numpy()
    picture = Image.fromarray(pixels).resize((pixels.shape[1] * scale, pixels.shape[0] * scale), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def labelling_widget(images: torch.Tensor, path: str | Path, epoch: int, columns: int = 8, scale: int = 2):
    """An ipywidgets grid: click a face to mark it distorted (red), then press Save to write the CSV."""
    import ipywidgets as widgets

    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise MetricError(f"labelling needs uint8 images (N, 3, H, W), got {images.dtype} {tuple(images.shape)}")
    known = read_labels(path)
    known = dict(zip(known.loc[known["epoch"] == epoch, "index"], known.loc[known["epoch"] == epoch, "distorted"]))
    toggles = []
    cells = []
    for i, image in enumerate(images):
        toggle = widgets.ToggleButton(value=bool(known.get(i, 0)), description=f"{i}", button_style="",
                                      layout=widgets.Layout(width="auto"))
        toggle.button_style = "danger" if toggle.value else ""
        toggle.observe(lambda change, t=toggle: setattr(t, "button_style", "danger" if change["new"] else ""), "value")
        toggles.append(toggle)
        cells.append(widgets.VBox([widgets.Image(value=_png(image, scale), format="png"), toggle]))
    status = widgets.Label(value=f"epoch {epoch}: {len(images)} faces; click the distorted ones")
    save = widgets.Button(description="Save labels", button_style="primary")

    def on_save(_button) -> None:
        marked = [t.value for t in toggles]
        write_labels(path, epoch, marked)
        status.value = f"saved {path}: epoch {epoch}, {sum(marked)} of {len(marked)} distorted (DR {sum(marked) / len(marked):.4f})"

    save.on_click(on_save)
    grid = widgets.GridBox(cells, layout=widgets.Layout(grid_template_columns=f"repeat({columns}, auto)"))
    return widgets.VBox([status, grid, save])
