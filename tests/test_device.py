"""What a GPU run needs, shown on the CPU: placement on the requested device, checkpoints readable across devices,
no host round trip in a training step, float32 metrics and the options chosen per device.

Where only a GPU can tell (the step's host syncs, TF32, NCCL), ``benchmarks/cuda_probes.py`` checks it on one.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from anime_gan.config import load_experiment
from anime_gan.device import device_clock, float32_arithmetic, full_float32, pick_device
from anime_gan.experiment import build_trainer
from anime_gan.training import checkpoint as ckpt

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = str(ROOT / "anime_gan")


def synthetic_images(n: int = 64, size: int = 32, seed: int = 0) -> torch.Tensor:
    rng = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 4, 4, generator=rng)
    return (torch.nn.functional.interpolate(low, size=size, mode="bilinear") * 255).round().to(torch.uint8)


def tiny(*overrides: str):
    base = ["data.resolution=32", "generator.width=8", "generator.latent_dim=16", "discriminator.width=8",
            "train.batch_size=16", "train.epochs=2", "train.device=cpu", "train.bf16=false", "log.every=2",
            "log.checkpoint_every=4", "log.sample_every=0", "log.grid_size=4", "log.epoch_samples=4",
            "log.keep_epoch_samples=1", "log.progress=false"]
    return load_experiment(None, base + list(overrides))


# Memory bank replayed from the first step, blurred images, flips and the gradient penalty's interpolates: every
# per-step draw the loop makes.
REPLAY = ("blur.enabled=true", "blur.fraction=0.5", "memory.enabled=true", "memory.capacity=20", "memory.per_epoch=8",
          "memory.store_from_epoch=0", "memory.replay_from_epoch=0", "data.hflip=true", "train.gp_weight=1.0",
          "train.ema_decay=0.9")


# ---------------------------------------------------------------- placement (EfficientNet-Lite0, content distance)


def test_the_effnet_extractor_lives_wholly_on_the_requested_device():
    """Folding built its convs on the CPU whatever the network's device: on a GPU, conv weights on the CPU and the
    fc on the GPU. On 'meta' every parameter and buffer must be on meta."""
    from anime_gan.metrics.features import EffNetLite0, effnet_options

    for fold in (True, False):
        extractor = EffNetLite0(torch.device("meta"), effnet_options("meta", fold_batchnorm=fold))
        for module in (extractor.runner, extractor.network):
            devices = {t.device.type for t in [*module.parameters(), *module.buffers()]}
            assert devices == {"meta"}, f"fold={fold}: {type(module).__name__} has tensors on {devices}"


class RecordingBackbone:
    """Stands in for a feature backbone on another device: records where its inputs live."""

    name, content_layers, style_layers = "recording", ("block6",), ()
    device = torch.device("meta")

    def __init__(self) -> None:
        self.seen: list[str] = []

    def features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        self.seen.append(images.device.type)
        return {"block6": torch.zeros(len(images), 2, 3, 3)}


def test_content_distance_sends_the_images_to_the_backbones_device():
    from anime_gan.translation.evaluate import content_distances

    backbone = RecordingBackbone()
    images = synthetic_images(6, size=8)
    content_distances(backbone, images, images.flip(0), batch_size=4)
    assert backbone.seen == ["meta"] * 4


# ---------------------------------------------------------------- resuming across devices


def interrupted_run(tmp_path: Path, *overrides: str) -> tuple[Path, object]:
    """A run stopped after its checkpoint at iteration 4 (of 8), and its config."""
    config = tiny(*overrides)
    images = synthetic_images()

    def stop(trainer):
        if trainer.iteration == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_trainer(config, tmp_path, images=images).fit(on_iteration=stop)
    return tmp_path / "checkpoint.pt", config


def test_a_checkpoint_records_its_device_type_and_a_gpu_run_reads_it_onto_the_cpu(tmp_path):
    """Resume used map_location=<training device>: generator states then land on the GPU, where
    torch.set_rng_state refuses them (and on a machine without CUDA torch.load itself fails)."""
    path, config = interrupted_run(tmp_path)
    trainer = build_trainer(config, tmp_path, images=synthetic_images())
    trainer.device = torch.device("cuda")  # as a run on a GPU sees it; nothing here touches CUDA
    with pytest.warns(UserWarning, match="written on cpu, this run trains on cuda"):
        assert trainer.resume()
    saved = ckpt.load(path)
    assert saved["device_type"] == "cpu"
    assert trainer.iteration == 4 and trainer.resumed_on_other_device["checkpoint_device"] == "cpu"
    assert torch.equal(torch.get_rng_state(), saved["rng"]["torch"])  # the CPU generator is device-independent


def test_resuming_on_another_device_type_restores_the_rest_and_reseeds_the_noise(tmp_path):
    """Faked: a checkpoint written 'on cuda', resumed on the CPU. Everything device-independent comes back exactly;
    the noise generator is seeded from (seed, iteration); the run says so; two such resumes agree."""
    path, config = interrupted_run(tmp_path / "run", *REPLAY)
    state = ckpt.load(path)
    state["device_type"] = "cuda"
    runs = {}
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        ckpt.save_atomic(state, tmp_path / name / "checkpoint.pt")
        trainer = build_trainer(config, tmp_path / name, images=synthetic_images())
        with pytest.warns(UserWarning, match="noise generator is re-seeded"):
            assert trainer.resume()
        assert torch.equal(trainer.noise_rng.get_state(),
                           torch.Generator().manual_seed(ckpt.reseeded_noise(config.seed, 4)).get_state())
        assert not torch.equal(trainer.noise_rng.get_state(), state["rng"]["noise"])
        for key, value in trainer.g_net.state_dict().items():
            assert torch.equal(value, state["generator"][key])
        assert trainer.d_optimizer.state_dict()["state"][0]["exp_avg"].equal(state["d_optimizer"]["state"][0]["exp_avg"])
        memory = trainer.fake_sources[1]
        assert torch.equal(memory.state_dict()["images"], state["fake_sources"]["memory"]["images"])
        with pytest.warns(UserWarning, match="written on cuda, this run trains on cpu"):
            summary = trainer.fit()  # resumes again, from the same checkpoint
        recorded = json.loads((tmp_path / name / "summary.json").read_text())["resumed_on_other_device"]
        assert recorded == summary["resumed_on_other_device"]
        assert recorded["checkpoint_device"] == "cuda" and recorded["device"] == "cpu" and recorded["iteration"] == 4
        runs[name] = trainer
    for a, b in zip(runs["first"].g_net.parameters(), runs["second"].g_net.parameters()):
        assert torch.equal(a, b)


def test_only_the_training_gpus_generator_is_saved_and_restored_to_it(monkeypatch):
    """get_rng_state_all saved every GPU's state: a machine with fewer GPUs could not restore it."""
    calls = []
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: pytest.fail("every GPU's state was saved"))
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device: calls.append(("get", device)) or
                        torch.full((16,), 7, dtype=torch.uint8))
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: calls.append(("set", device, state[0])))
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: pytest.fail("every GPU's state was set"))
    state = ckpt.rng_state(None, torch.device("cuda", 1))
    assert calls == [("get", torch.device("cuda", 1))] and state["cuda"].shape == (16,)
    assert ckpt.rng_state(None, "cpu")["cuda"] is None  # a CPU run reads no GPU state
    ckpt.set_rng_state(state, None, torch.device("cuda", 1))
    assert calls[-1] == ("set", torch.device("cuda", 1), 7)
    old = {**state, "cuda": [torch.full((16,), 1, dtype=torch.uint8), torch.full((16,), 2, dtype=torch.uint8)]}
    ckpt.set_rng_state(old, None, torch.device("cuda", 1))  # a checkpoint written with every GPU's state
    assert calls[-1] == ("set", torch.device("cuda", 1), 2)
    calls.clear()
    ckpt.set_rng_state(state, None, torch.device("cuda", 1), reseed=5)  # another device type wrote it
    assert calls == []


# ---------------------------------------------------------------- style transfer on the chosen device


def test_style_transfer_defaults_to_the_best_device_and_passes_it_to_nst(monkeypatch):
    from anime_gan.style import compare, neural
    from anime_gan.style.backbones import load_backbone

    for function, name in ((neural.neural_style_transfer, "device"), (compare.compare_methods, "device"),
                           (compare.stylize_all, "device"), (load_backbone, "device")):
        assert inspect.signature(function).parameters[name].default == "auto", function.__name__

    seen = []

    def fake_nst(content, style, **options):
        seen.append(options["device"])
        return content, neural.NSTRecord("fake", [], [], 1, 0.0, "", {}, "content", 0, (1, 1), {}, {})

    monkeypatch.setattr(neural, "neural_style_transfer", fake_nst)
    images = synthetic_images(2, size=16)  # 16 px: the comparison's SSIM needs its 11x11 window
    compare.stylize_all("nst", images, images, nst_steps=1, progress=False, device="meta")
    assert seen == ["meta", "meta"]  # one call per pair

    backbone = RecordingBackbone()
    monkeypatch.setattr(compare, "load_backbone", lambda name, device: seen.append(("backbone", device)) or backbone)
    monkeypatch.setattr(compare, "style_distances", lambda *args: {"content_distance": 0.0, "style_distance": 0.0})
    import anime_gan.metrics

    monkeypatch.setattr(anime_gan.metrics, "evaluate_images",
                        lambda *args, **kwargs: seen.append(("metrics", kwargs["device"])) or {"fd_effnet": 0.0})
    seen.clear()
    compare.compare_methods(images, images, images, methods=["nst"], nst_steps=1, progress=False)
    auto = pick_device("auto")
    # NST runs where its backbone lives; fd_effnet of the photos, the style images and the NST results
    assert seen == [("backbone", auto), backbone.device, backbone.device] + [("metrics", auto)] * 3


def test_nst_refuses_a_backbone_on_another_device():
    from anime_gan.errors import ConfigError
    from anime_gan.style.backbones import VGG19Backbone
    from anime_gan.style.neural import neural_style_transfer

    conv = nn.Conv2d(3, 4, 3, padding=1)
    backbone = VGG19Backbone(name="vgg19", stages=[("conv1_1", conv)], content_layers=("conv1_1",),
                             style_layers=("conv1_1",))
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    with pytest.raises(ConfigError, match="backbone lives on cpu but device is meta"):
        neural_style_transfer(image, image, steps=1, backbone=backbone, device="meta", progress=False)
    _, record = neural_style_transfer(image, image, steps=1, backbone=backbone, progress=False)  # auto: its device
    assert record.steps == 1


# ---------------------------------------------------------------- no host round trip per training step


def test_batch_indices_keep_their_order_and_live_on_the_training_device():
    """Known answer (seed 3, 7 images; the same as before the indices moved to the device), batches straddling
    passes, and the shard of a second process; on 'meta' the indices are where the images are."""
    from anime_gan.training.stream import RealImageStream

    stream = RealImageStream(7, seed=3)
    assert stream.global_indices(4, 6).tolist() == [4, 1, 5, 6, 3, 1]
    assert stream.global_indices(12, 5).tolist() == [0, 5, 3, 0, 4]
    assert RealImageStream(7, seed=3, rank=1, world=2).indices(4, 6).tolist() == [6, 3, 1]
    on_meta = RealImageStream(7, seed=3, rank=1, world=2, device="meta").indices(4, 6)
    assert on_meta.device.type == "meta" and on_meta.shape == (3,)


class HostRoundTrips(TorchFunctionMode):
    """Records, from the package's own code, every read of a tensor's value on the host (.item(), .tolist(),
    .cpu(), .numpy(), bool/int/float) and every blocking copy to a device (.to(device) without non_blocking):
    on a GPU each of them makes the host wait for every queued kernel."""

    READS = {torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.cpu, torch.Tensor.numpy, torch.Tensor.cuda,
             torch.Tensor.__bool__, torch.Tensor.__int__, torch.Tensor.__float__, torch.Tensor.__index__}

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        blocking_copy = func is torch.Tensor.to and not kwargs.get("non_blocking") and (
            "device" in kwargs or any(isinstance(a, (torch.device, str)) for a in args[1:]))
        if func in self.READS or blocking_copy:
            caller = sys._getframe(1)
            if caller.f_code.co_filename.startswith(PACKAGE):
                self.found.append(f"{func.__name__} at {Path(caller.f_code.co_filename).name}:{caller.f_lineno}")
        return func(*args, **kwargs)


def test_a_gan_step_makes_no_host_round_trip(tmp_path):
    """Real batches, flips, noise, the memory bank's and the blurred images' replays, the penalty: the indices
    used to be built on the CPU and copied at every step, and the memory bank copied its replay from the CPU."""
    trainer = build_trainer(tiny(*REPLAY, "log.every=10"), tmp_path, images=synthetic_images())
    memory = trainer.fake_sources[1]
    memory.add(torch.rand(8, 3, 32, 32) * 2 - 1)  # replay starts at once
    trainer.step()  # the first pass's order is made here, once
    with HostRoundTrips() as mode:
        for _ in range(3):
            trainer.step()
    assert mode.found == []
    assert trainer.log._fill == 4  # the steps ran and logged


def test_a_translation_step_makes_no_host_round_trip(tmp_path):
    from anime_gan.config import load_translation
    from anime_gan.experiment import build_cycle_trainer

    config = load_translation(None, ["data.resolution=32", "generator.width=4", "discriminator.width=4",
                                     "train.batch_size=4", "train.device=cpu", "train.bf16=false", "data.hflip=true",
                                     "train.pool_size=0", "log.progress=false"])
    trainer = build_cycle_trainer(config, tmp_path, source_images=synthetic_images(16, seed=1),
                                  target_images=synthetic_images(12, seed=2))
    trainer.step()
    with HostRoundTrips() as mode:
        for _ in range(3):
            trainer.step()
    assert mode.found == []


def test_memory_bank_and_blurred_images_draw_the_same_images_as_before():
    """The draws come from the sources' own CPU generators (known answers from the CPU-side implementation)."""
    from anime_gan.training.memory import MemoryBank
    from anime_gan.training.sources import BlurredImages

    bank = MemoryBank(capacity=6, per_epoch=4, store_from_epoch=0, replay_from_epoch=0, seed=3)
    bank.add(torch.arange(4.0).reshape(4, 1, 1, 1).expand(4, 3, 2, 2) / 10)
    bank.add(torch.arange(4.0, 8.0).reshape(4, 1, 1, 1).expand(4, 3, 2, 2) / 10)
    stored = bank.state_dict()["images"][:, 0, 0, 0].float()
    assert torch.allclose(stored, torch.tensor([0.0, 0.1, 0.6, 0.7, 0.4, 0.5]), atol=1e-3)
    replay = bank.sample(5, 1.0, "cpu")[:, 0, 0, 0]
    assert torch.allclose(replay, torch.tensor([0.7, 0.4, 0.0, 0.0, 0.5]), atol=1e-3)
    images = torch.arange(6, dtype=torch.uint8).reshape(6, 1, 1, 1).expand(6, 3, 2, 2).contiguous()
    drawn = BlurredImages(images, seed=2).sample(5, 0.0, "cpu")[:, 0, 0, 0]
    assert ((drawn + 1) * 127.5).round().tolist() == [0, 3, 5, 0, 2]


# ---------------------------------------------------------------- speed options and float32 metrics per device


def test_bf16_auto_on_a_gpu_needs_native_support(monkeypatch):
    """torch.cuda.is_bf16_supported() also counts emulation (pre-Ampere GPUs), which is no faster than fp32."""
    from anime_gan.training.speed import resolve_speed

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    cuda = resolve_speed("auto", "auto", "auto", torch.device("cuda"))
    assert cuda.bf16 is False and any("no native bfloat16 on this GPU" in note for note in cuda.notes)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert resolve_speed("auto", "auto", "auto", torch.device("cuda")).bf16 is True


def test_cudnn_benchmark_is_on_while_a_gpu_run_trains_and_off_elsewhere(tmp_path):
    from anime_gan.training.speed import SpeedOptions, resolve_speed

    assert resolve_speed("auto", "auto", "auto", torch.device("cuda")).cudnn_benchmark is True
    assert resolve_speed(True, True, False, torch.device("cuda")).cudnn_benchmark is True
    assert resolve_speed("auto", "auto", "auto", torch.device("cpu")).cudnn_benchmark is False
    before = torch.backends.cudnn.benchmark
    seen = {"cpu": set(), "gpu": set()}
    trainer = build_trainer(tiny("train.epochs=0.5"), tmp_path, images=synthetic_images())
    trainer.fit(on_iteration=lambda t: seen["cpu"].add(torch.backends.cudnn.benchmark))
    trainer.speed = SpeedOptions(cudnn_benchmark=True)  # as resolved for a GPU
    trainer.total_images *= 2
    trainer.fit(on_iteration=lambda t: seen["gpu"].add(torch.backends.cudnn.benchmark))
    assert seen == {"cpu": {before}, "gpu": {True}} and torch.backends.cudnn.benchmark == before


@pytest.fixture
def tf32_allowed():
    """The process allows TF32 in convolutions (torch's default) and in matrix products."""
    saved = torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision()
    torch.backends.cudnn.allow_tf32 = True
    torch.set_float32_matmul_precision("high")
    yield
    torch.backends.cudnn.allow_tf32 = saved[0]
    torch.set_float32_matmul_precision(saved[1])


def test_metric_features_are_computed_in_float32_whatever_the_process_allows(tf32_allowed):
    from anime_gan.metrics.features import FeatureExtractor

    seen = []

    def forward(batch):
        seen.append((torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision()))
        return batch.float().mean((2, 3)), None

    extractor = FeatureExtractor(name="toy", dims=3, description={"precision": "float32"})
    extractor._forward = forward
    extractor(synthetic_images(4, size=8), batch_size=2)
    assert seen == [(False, "highest")] * 2
    assert (torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision()) == (True, "high")  # restored


def test_the_reference_cache_key_names_the_device_type_and_the_arithmetic(tf32_allowed):
    from anime_gan.metrics.cache import cache_key
    from anime_gan.metrics.features import FeatureExtractor

    assert float32_arithmetic("cuda") == {"device_type": "cuda", "conv": "tf32", "matmul_precision": "high"}
    with full_float32():
        assert float32_arithmetic("cuda") == {"device_type": "cuda", "conv": "float32", "matmul_precision": "highest"}
    images = synthetic_images(2, size=8)
    keys = {}
    for device in ("cpu", "cuda"):
        extractor = FeatureExtractor(name="toy", dims=3, description={"precision": "float32"},
                                     device=torch.device(device))  # built without touching the device
        assert extractor.description["arithmetic"]["device_type"] == device
        assert extractor.description["arithmetic"]["conv"] == "float32"  # what the feature passes use
        keys[device] = cache_key("toy", "set", images, extractor.key_description())
    assert keys["cpu"]["computation"]["arithmetic"]["device_type"] == "cpu"
    assert keys["cpu"] != keys["cuda"]


# ---------------------------------------------------------------- distributed, numpy, benchmarks


def test_nccl_starts_on_this_processs_gpu(monkeypatch):
    import torch.distributed as dist

    from anime_gan.training.distributed import DistributedContext

    calls = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: calls.append(("set_device", device)))
    monkeypatch.setattr(dist, "init_process_group", lambda **kwargs: calls.append(("init", kwargs)))
    context = DistributedContext.from_environment("cuda")
    assert (context.rank, context.world, context.local_rank) == (1, 2, 1)
    assert calls == [("set_device", 1), ("init", {"backend": "nccl", "device_id": torch.device("cuda", 1)})]
    calls.clear()
    DistributedContext.from_environment("cpu")
    assert calls == [("init", {"backend": "gloo"})]


class GpuLikeTensor(torch.Tensor):
    """A CPU tensor that, like a CUDA one, cannot become a numpy array before ``.cpu()``."""

    def numpy(self, *args, **kwargs):
        raise TypeError("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() first.")

    def cpu(self, *args, **kwargs):
        return super().cpu(*args, **kwargs).as_subclass(torch.Tensor)


def test_tensors_from_a_gpu_reach_opencv_and_pil(monkeypatch):
    from anime_gan.data.blur import make_blur_set
    from anime_gan.metrics import dr
    from anime_gan.metrics.labelling import _png

    images = synthetic_images(4, size=16).as_subclass(GpuLikeTensor)
    with pytest.raises(TypeError, match="cpu"):
        images.permute(0, 2, 3, 1).numpy()  # the stand-in behaves as a GPU tensor
    monkeypatch.setattr(dr, "_found_in", lambda pixels: np.ones(len(pixels), dtype=bool))
    assert dr.face_found(images).tolist() == [True] * 4
    assert _png(images[0], scale=1).startswith(b"\x89PNG")
    assert make_blur_set(images, fraction=0.5, seed=0, progress=False).shape == (2, 3, 16, 16)


def load_benchmark(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_timing_marks_wait_for_the_gpu(monkeypatch):
    synced = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: synced.append(device))
    device_clock("cpu")
    assert synced == []
    device_clock(torch.device("cuda", 0))
    assert synced == [torch.device("cuda", 0)]


def test_the_training_benchmark_times_both_loops_with_device_clocks(monkeypatch):
    train_step = load_benchmark("train_step")
    marks = []
    monkeypatch.setattr(train_step, "device_clock", lambda device: marks.append(torch.device(device).type) or
                        float(len(marks)))
    setting = {"model": "DCGAN", "resolution": 32, "width": 8, "batch": 16}
    images = synthetic_images(64)
    assert train_step.reference_loop(images, setting, steps=2, warmup=1, device=torch.device("cpu")) == 32 / 1
    assert train_step.trainer_loop(images, setting, {"bf16": False}, steps=2, warmup=1, device="cpu") == 32 / 1
    assert marks == ["cpu"] * 4


def test_the_backbone_benchmark_takes_a_device_and_records_it(tmp_path):
    import subprocess

    out = tmp_path / "backbone.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "backbone.py"), "--batch", "1", "--size", "8",
                    "--steps", "1", "--repeats", "1", "--device", "cpu", "--out", str(out)], check=True,
                   capture_output=True, cwd=ROOT, env=env)
    record = json.loads(out.read_text())
    assert record["settings"]["device"] == "cpu" and record["settings"]["gpu"] is None
    assert {row["workload"] for row in record["results"]} == {"content", "style"}


def test_the_evaluation_benchmarks_previous_path_runs_on_the_chosen_device():
    evaluate = load_benchmark("evaluate")
    network = evaluate.PreviousEffNet(torch.device("meta"), compile_large_sets=False).network
    assert {t.device.type for t in [*network.parameters(), *network.buffers()]} == {"meta"}
