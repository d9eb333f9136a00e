"""The committed run and the committed parameters describe the same thing, and results have somewhere to go."""

from __future__ import annotations

import configparser
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def lookup(data: dict, dotted: str):
    for part in dotted.split("."):
        data = data[part]
    return data


def test_committed_lock_records_the_committed_params():
    """dvc.lock is the run the committed reports come from; every parameter it recorded must be params.yaml's."""
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    stale = []
    for stage, entry in lock["stages"].items():
        for key, value in entry.get("params", {}).get("params.yaml", {}).items():
            if lookup(params, key) != value:
                stale.append(f"{stage}: {key}")
    assert not stale, f"dvc.lock was made with other parameters than params.yaml's: {stale[:10]}"
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    experiments = set(params["experiments"])
    locked = {name.split("@", 1)[1] for name in lock["stages"] if name.startswith("train@")}
    assert locked == experiments, f"experiments without a committed run: {sorted(experiments - locked)}"
    assert set(dvc["stages"]) <= {name.split("@")[0] for name in lock["stages"]}


def test_a_default_remote_outside_the_work_tree_receives_the_results():
    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc" / "config")
    remote = config["core"]["remote"]
    url = config[f"'remote \"{remote}\"'"]["url"]
    assert not Path(url).expanduser().resolve().is_relative_to(ROOT), f"the DVC remote {url} lies inside the project"
    makefile = (ROOT / "Makefile").read_text()
    assert "dvc repro --pull" in makefile and "dvc push" in makefile and "ANIME_GAN_DVC_REMOTE" in makefile
