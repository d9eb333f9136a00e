"""Run by tests/test_distributed.py under torchrun: train a tiny config and save this process's final weights.

    torchrun --nproc_per_node 2 tests/ddp_worker.py OUT_DIR [KEY=VALUE ...]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from anime_gan.config import load_experiment  # noqa: E402
from anime_gan.experiment import build_trainer  # noqa: E402
from test_train import synthetic_images  # noqa: E402

BASE = [
    "data.resolution=32", "generator.width=8", "generator.latent_dim=16", "discriminator.width=8",
    "train.batch_size=16", "train.epochs=2", "train.device=cpu", "log.every=2", "log.checkpoint_every=3",
    "log.sample_every=0", "log.epoch_samples=0", "log.progress=false",
    # float32 on every host (two processes are compared with one at 1e-5), contiguous layout
    "train.bf16=false", "train.channels_last=false", "train.compile=false",
]


def main() -> None:
    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    config = load_experiment(None, BASE + sys.argv[2:])
    trainer = build_trainer(config, out / "run", images=synthetic_images(64))
    trainer.fit()
    rank = int(os.environ.get("RANK", "0"))
    torch.save({"G": trainer.g_net.state_dict(), "D": trainer.d_net.state_dict(), "iteration": trainer.iteration,
                "images": trainer.images_drawn}, out / f"rank{rank}.pt")


if __name__ == "__main__":
    main()
