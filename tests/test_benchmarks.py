"""Benchmark bookkeeping: every committed speed figure names the host kind it was measured on."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from train_step import host_kind, update_index  # noqa: E402

BENCHMARKS = ROOT / "reports" / "benchmarks"


@pytest.mark.parametrize("flags, kind", [(["avx2"], "avx2"), (["avx2", "avx512f", "avx512_bf16"], "avx512-bf16"),
                                         (["avx2", "avx512_bf16", "amx_bf16", "amx_tile"], "amx"), ([], "cpu")])
def test_host_kind_follows_the_cpu_flags_that_decide_bf16(flags, kind):
    assert host_kind("cpu", {"flags": flags}) == kind


def test_the_index_keeps_one_entry_per_host_kind(tmp_path):
    index = tmp_path / "train_step.json"
    run = {"date": "d", "device": "cpu", "machine": {"flags": ["avx2"]}, "torch": "t",
           "settings": [{"setting": "cpu", "results": [{"variant": "auto", "ratio_vs_reference": 1.2}]}]}
    update_index(index, "avx2", tmp_path / "train_step.avx2.json", run)
    update_index(index, "amx", tmp_path / "train_step.amx.json", {**run, "date": "e"})
    update_index(index, "avx2", tmp_path / "train_step.avx2.json", {**run, "date": "f"})  # a newer avx2 run replaces
    hosts = json.loads(index.read_text())["hosts"]
    assert sorted(hosts) == ["amx", "avx2"]
    assert hosts["avx2"]["date"] == "f" and hosts["avx2"]["ratios_vs_textbook_loop"] == {"cpu": {"auto": 1.2}}


def test_every_committed_train_step_file_is_indexed_with_its_own_machine():
    index = json.loads((BENCHMARKS / "train_step.json").read_text())["hosts"]
    files = sorted(p.name for p in BENCHMARKS.glob("train_step.*.json"))
    assert sorted(entry["file"] for entry in index.values()) == files
    for kind, entry in index.items():
        run = json.loads((BENCHMARKS / entry["file"]).read_text())
        assert run["machine"] == entry["machine"] and run["date"] == entry["date"]
        assert host_kind(run["device"], run["machine"]) == kind if run["device"] == "cpu" else kind.startswith("cuda-")
        assert "onednn_bf16" in run["machine"] and "flags" in run["machine"]
