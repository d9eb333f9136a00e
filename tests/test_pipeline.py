"""The pipeline's evaluate step: which metrics every profile computes, what the headline metrics file holds, and
when a recorded result is too old to reuse."""

from __future__ import annotations

import json
from pathlib import Path

from anime_gan.metrics import METRICS
from anime_gan.params import EvaluateSettings, load_params
from anime_gan.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]
DIVERSITY = ["precision_effnet", "recall_effnet"]


def test_every_profile_that_computes_fd_effnet_computes_precision_and_recall():
    params = load_params(ROOT / "params.yaml")
    lists = {name: profile.evaluate.metrics for name, profile in params.profiles.items()}
    lists["default"] = EvaluateSettings().metrics
    assert {"smoke", "cpu", "paper"} <= set(lists)
    for name, metrics in lists.items():
        assert set(metrics) <= set(METRICS), name
        assert "fd_effnet" in metrics, name
        assert set(DIVERSITY) <= set(metrics), f"profile {name} computes fd_effnet without {DIVERSITY}"


def test_the_metrics_file_holds_precision_and_recall(tmp_path):
    pipeline = Pipeline(load_params(ROOT / "params.yaml"), root=tmp_path)
    metrics = {"n_fake": 1000, "fd_effnet": 80.1234567, "precision_effnet": 0.612, "recall_effnet": 0.0734,
               "kid_effnet": 0.05, "prc_settings": {"k": 3}}
    pipeline._write_result("s001_dcgan", {"metrics": metrics, "training": {"iterations": 10, "seconds": 120}})
    numbers = json.loads(pipeline.metrics_path("s001_dcgan").read_text())
    assert list(numbers)[:3] == ["fd_effnet", "precision_effnet", "recall_effnet"]
    assert (numbers["precision_effnet"], numbers["recall_effnet"]) == (0.612, 0.0734)
    assert "prc_settings" not in numbers  # how they were made goes to the provenance file
    assert json.loads(pipeline.provenance_path("s001_dcgan").read_text())["metrics"]["prc_settings"] == {"k": 3}


def test_a_recorded_result_without_a_metric_the_profile_asks_for_is_evaluated_again():
    params = load_params(ROOT / "params.yaml")
    params.profile = "cpu"  # fd_effnet, precision_effnet, recall_effnet, kid_effnet, is_effnet, dr
    pipeline = Pipeline(params)
    old = {"metrics": {"fd_effnet": 1.0, "kid_effnet": 0.1, "is_effnet": 2.0, "dr_raw": 0.3}, "skipped": {}}
    assert pipeline._missing_metrics(old) == DIVERSITY
    current = {"metrics": {**old["metrics"], "precision_effnet": 0.5, "recall_effnet": 0.4}, "skipped": {}}
    assert pipeline._missing_metrics(current) == []
    emoji = {"metrics": {k: v for k, v in current["metrics"].items() if k != "dr_raw"},
             "skipped": {"dr": "the anime-face detector does not apply to emoji-faces"}}
    assert pipeline._missing_metrics(emoji) == []  # a metric skipped with its reason is not missing
