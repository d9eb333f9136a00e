"""Two processes under torchrun (gloo, CPU) train one model: both end with identical weights, equal to one process
training on the same global batch; a run resumes only with its own number of processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from anime_gan.training import checkpoint as ckpt
from anime_gan.errors import TrainingError

WORKER = Path(__file__).resolve().parent / "ddp_worker.py"
# Per-sample normalisation only: BatchNorm statistics would differ between one process's share and the whole
# batch (PyTorch's SyncBatchNorm runs on GPUs only).
SETTING = ["generator.norm=layer", "discriminator.norm=instance", "train.gp_weight=1.0", "train.ema_decay=0.9"]
TOLERANCE = 1e-5  # float reduction order: gradients summed over two shards instead of one batch


def launch(out: Path, processes: int, *overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
               "--standalone", str(WORKER), str(out), *overrides]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_two_processes_match_one_on_the_same_global_batch(tmp_path):
    done = launch(tmp_path / "two", 2, *SETTING)
    assert done.returncode == 0, done.stderr[-3000:]
    single = launch(tmp_path / "one", 1, *SETTING)
    assert single.returncode == 0, single.stderr[-3000:]
    rank0, rank1 = torch.load(tmp_path / "two" / "rank0.pt"), torch.load(tmp_path / "two" / "rank1.pt")
    one = torch.load(tmp_path / "one" / "rank0.pt")
    assert rank0["iteration"] == rank1["iteration"] == one["iteration"] > 0
    for net in ("G", "D"):
        assert all(torch.equal(rank0[net][k], rank1[net][k]) for k in rank0[net]), f"{net} differs between ranks"
        worst = max((rank0[net][k].float() - one[net][k].float()).abs().max().item() for k in one[net])
        assert worst < TOLERANCE, f"{net}: two processes differ from one by {worst}"
    # Only the first process wrote the run's files, and its checkpoint says how many processes made it.
    state = ckpt.load(tmp_path / "two" / "run" / "checkpoint.pt")
    assert state["metadata"]["world_size"] == 2
    for k, v in state["generator"].items():
        assert torch.equal(v, rank0["G"][k])

    # Resuming that run in a single process is refused with the reason.
    from anime_gan.config import load_experiment
    from anime_gan.experiment import build_trainer
    from ddp_worker import BASE
    from test_train import synthetic_images

    longer = load_experiment(None, BASE + SETTING + ["train.epochs=3"])
    with pytest.raises(TrainingError, match="2 process"):
        build_trainer(longer, tmp_path / "two" / "run", images=synthetic_images(64)).fit()
