"""BaMSGAN's memory bank: fixed capacity, random deletion, replay schedule, exact state round trip."""

from __future__ import annotations

import torch

from anime_gan.training.memory import MemoryBank


def batch(value: float, n: int) -> torch.Tensor:
    return torch.full((n, 3, 4, 4), value)


def test_capacity_is_never_exceeded_and_deletion_is_random():
    bank = MemoryBank(capacity=10, per_epoch=4, store_from_epoch=0, replay_from_epoch=0, seed=1)
    for epoch in range(8):
        bank.add(batch(epoch / 10, 4))
    assert len(bank) == 10
    stored = sorted({round(v, 3) for v in bank.state_dict()["images"][:, 0, 0, 0].float().tolist()})
    assert stored[-1] == 0.7  # the newest images are in ...
    assert len(stored) > 2  # ... and older ones survive at random, not only the last 10 in order


def test_store_and_replay_follow_the_epoch_schedule():
    bank = MemoryBank(capacity=100, per_epoch=5, store_from_epoch=2, replay_from_epoch=3)
    generate = lambda n: batch(0.5, n)  # noqa: E731
    bank.on_epoch_end(1, generate)
    assert len(bank) == 0
    bank.on_epoch_end(2, generate)
    assert len(bank) == 5
    assert bank.sample(4, epoch=2.5, device="cpu") is None
    replay = bank.sample(4, epoch=3.0, device="cpu")
    assert replay.shape == (4, 3, 4, 4) and replay.dtype == torch.float32
    assert torch.allclose(replay, torch.full_like(replay, 0.5))  # stored in [-1, 1], replayed unchanged


def test_state_dict_round_trip_replays_identically():
    bank = MemoryBank(capacity=6, per_epoch=3, store_from_epoch=0, replay_from_epoch=0, seed=3)
    for i in range(4):
        bank.add(torch.randn(3, 3, 4, 4))
    copy = MemoryBank(capacity=6, per_epoch=3, store_from_epoch=0, replay_from_epoch=0, seed=99)
    copy.load_state_dict(bank.state_dict())
    assert torch.equal(bank.sample(5, 1.0, "cpu"), copy.sample(5, 1.0, "cpu"))


def test_first_overflow_never_overwrites_the_batch_it_just_added():
    for seed in range(20):
        bank = MemoryBank(capacity=10, per_epoch=8, store_from_epoch=0, replay_from_epoch=0, seed=seed)
        bank.add(batch(0.1, 8))  # 8 of 10 slots used
        bank.add(batch(0.2, 8))  # 2 free slots, then 6 victims: all must be among the first 8
        values = bank.state_dict()["images"][:, 0, 0, 0].float()
        assert len(bank) == 10
        assert (values - 0.2).abs().lt(1e-3).sum() == 8, f"seed {seed}: new images overwrote each other"
        assert (values - 0.1).abs().lt(1e-3).sum() == 2
