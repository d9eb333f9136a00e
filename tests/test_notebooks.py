"""Notebooks: stored without outputs, literal parameters, and one papermill run with injected parameters."""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_every_paper_has_its_notebook():
    names = [p.name for p in NOTEBOOKS]
    assert names == ["00_data.ipynb", "01_anime_gans_fid.ipynb", "02_bamsgan.ipynb", "03_wgan_comparison.ipynb",
                     "04_translation.ipynb", "05_style_transfer.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    notebook = json.loads(path.read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, f"{path.name}: run `make strip`"
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_holds_only_literals(path):
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    parameters = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(parameters) == 1 and parameters[0] is cells[0], "the first code cell must be the only 'parameters' cell"
    tree = ast.parse("".join(parameters[0]["source"]))
    assignments = {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body}
    assert assignments == {"profile": "smoke", "data": "emoji-faces", "second_data": "emoji-faces", "root": ".."}


@pytest.mark.network
def test_papermill_runs_seed001_with_injected_parameters(tmp_path):
    started = time.time()
    output = tmp_path / "01.ipynb"
    done = subprocess.run(
        [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "01_anime_gans_fid.ipynb"), str(output),
         "-k", "python3", "--cwd", str(ROOT / "notebooks"), "-p", "profile", "smoke", "-p", "data", "emoji-faces",
         "-p", "root", str(ROOT)],
        capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    reports = ROOT / "reports" / "smoke" / "emoji-faces"
    metrics = json.loads((reports / "metrics" / "s001_dcgan.json").read_text())
    provenance = json.loads((reports / "provenance" / "s001_dcgan.json").read_text())
    assert provenance["profile"] == "smoke" and provenance["dataset"] == "emoji-faces"
    assert math.isfinite(metrics["fd_effnet"]) and metrics["n"] == 64
    assert 0 <= metrics["precision_effnet"] <= 1 and 0 <= metrics["recall_effnet"] <= 1
    assert provenance["metrics"]["prc_settings"]["n_fake"] == 64
    # The anime-face detector is not run on emoji, and the provenance file says why.
    assert "dr_raw" not in metrics and "emoji-faces" in provenance["skipped"]["dr"]
    table_path = reports / "seed001" / "fid_table.csv"
    assert table_path.stat().st_mtime >= started  # written by this run
    table = pd.read_csv(table_path)
    assert list(table["model"]) == ["DCGAN", "LSGAN", "StyleGAN"]
    assert table.iloc[0, 1] == pytest.approx(64.446)  # the paper's number, in its own column
    assert math.isfinite(float(table.loc[2, "ours fd_effnet (not FID)"]))  # the StyleGAN row has run too
    assert math.isfinite(float(table.loc[2, "ours recall_effnet"]))
    assert (reports / "seed001" / "style_mixing.png").stat().st_size > 100
    assert (reports / "seed001" / "losses.png").stat().st_size > 1000
