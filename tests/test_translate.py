"""Seed 000's translator training and evaluation: strict configs, the cycle loop (every network learns, exact
resumption, NaN stop), bad datasets, CycleGAN's linear decay, seed 004's fusion terms, and the scores."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
from pathlib import Path

import pytest
import torch
from torch import nn

from anime_gan.cli import main as cli_main
from anime_gan.config import ExperimentConfig, TranslationConfig, load_config, load_translation
from anime_gan.config.translation import save_translation
from anime_gan.errors import ConfigError, DataError, TrainingError
from anime_gan.experiment import build_cycle_trainer, load_translator, run_translation
from anime_gan.experiment.builders import linear_decay_factor
from anime_gan.losses import content_loss, feature_matching_loss, gram_matrix, style_loss
from anime_gan.models import build_discriminator, build_translator
from anime_gan.training import checkpoint as ckpt
from anime_gan.training.cycle_trainer import LOG_COLUMNS
from anime_gan.translation import evaluate_translation, score_translation, translate, translation_grid
from test_train import PINNED_SPEED

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ["s000_translator", "s000_translator_cyclegan", "s000_translator_fusion"]


def synthetic_images(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Smooth random blobs: cheap stand-ins for faces when only the mechanics are tested."""
    rng = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 4, 4, generator=rng)
    return (torch.nn.functional.interpolate(low, size=size, mode="bilinear") * 255).round().to(torch.uint8)


def tiny(*overrides: str, config: str | None = None) -> TranslationConfig:
    """A config at 32x32 with 4-channel networks (CycleGAN's with 2 blocks): with ``trainer_for``'s 16 source
    images an epoch is 4 iterations of 4, and the run 8 iterations, checkpointed after 3, 6 and 8."""
    base = ["data.resolution=32", "generator.width=4", "discriminator.width=4", "train.batch_size=4",
            "train.epochs=2", "train.device=cpu", "train.pool_size=3", "log.every=3", "log.checkpoint_every=3",
            "log.sample_every=4", "log.grid_size=4", "log.progress=false", *PINNED_SPEED]
    if config and config != "s000_translator":
        base.append("generator.n_blocks=2")
    return load_translation(ROOT / "configs" / f"{config}.yaml" if config else None, base + list(overrides))


def trainer_for(config: TranslationConfig, out_dir: Path, **kwargs):
    return build_cycle_trainer(config, out_dir, source_images=synthetic_images(16, seed=1),
                               target_images=synthetic_images(12, seed=2), **kwargs)


def save_folder(images: torch.Tensor, folder: Path) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    for i, image in enumerate(images):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i:03d}.png")
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def inert_biases(network: nn.Module) -> set[int]:
    """Biases of convs directly followed by a non-affine InstanceNorm (CycleGAN's conventions): the norm
    subtracts them again, so their gradient is zero up to rounding."""
    inert = set()
    for module in network.modules():
        if isinstance(module, nn.Sequential):
            for layer, following in zip(module, list(module)[1:]):
                if isinstance(following, nn.InstanceNorm2d) and getattr(layer, "bias", None) is not None:
                    inert.add(id(layer.bias))
    return inert


class Interrupt(Exception):
    pass


@pytest.fixture(autouse=True)
def one_thread():
    """Networks of width 4 are all overhead: one thread runs them faster than two, and does not collapse when
    other processes keep the cores busy (two OpenMP threads then wait on each other at every op)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- config


def test_config_is_strict_and_names_the_valid_keys():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['cycle_wieght'\].*'cycle_weight'"):
        load_translation(None, ["objective.cycle_wieght=5"])
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['sourc'\].*'source'"):
        load_translation(None, ["sourc.dataset=celeba"])
    with pytest.raises(ConfigError, match="train.weight_clip 0.01 keeps a WGAN critic Lipschitz"):
        load_translation(ROOT / "configs" / "s000_translator.yaml", ["loss.name=lsgan"])
    with pytest.raises(ConfigError, match=r"schedule.name 'cosine' is not one of \['constant', 'linear_decay'\]"):
        load_translation(None, ["schedule.name=cosine"])
    with pytest.raises(ConfigError, match="objective.style_weight must be at least 0"):
        load_translation(None, ["objective.style_weight=-1"])


def test_load_config_dispatches_on_kind(tmp_path):
    assert isinstance(load_config(ROOT / "configs" / "s000_translator.yaml"), TranslationConfig)
    assert isinstance(load_config(ROOT / "configs" / "s000_wgan.yaml", ["train.epochs=2"]), ExperimentConfig)
    odd = tmp_path / "odd.yaml"
    odd.write_text("kind: painting\n")
    with pytest.raises(ConfigError, match="kind 'painting' is not one of"):
        load_config(odd)


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_configs_build_their_networks(name):
    config = load_translation(ROOT / "configs" / f"{name}.yaml")
    assert config.name == name and config.data.resolution == 96
    assert (config.source.dataset, config.target.dataset) == ("utkface-photos", "anime-faces")
    count = lambda network: sum(p.numel() for p in network.parameters())
    generator = build_translator(config.generator, resolution=96)
    discriminator = build_discriminator(config.discriminator, resolution=96)
    # the counts asserted for the networks themselves (tests/test_translator.py), reached through the configs
    assert count(generator) == (22_008_835 if name == "s000_translator" else 7_837_699)
    assert count(discriminator) == 2_764_737
    fusion = config.objective.content_weight > 0 and config.objective.style_weight > 0
    assert fusion == (name == "s000_translator_fusion")
    if name != "s000_translator":  # the fusion config is the baseline plus its two terms, nothing else
        baseline = load_translation(ROOT / "configs" / "s000_translator_cyclegan.yaml")
        objective = dataclasses.replace(config.objective, content_weight=0.0, style_weight=0.0)
        plain = dataclasses.replace(config, name=baseline.name, description=baseline.description, objective=objective)
        assert plain == baseline


# ---------------------------------------------------------------- the loop


@pytest.mark.parametrize("config_name", ["s000_translator", "s000_translator_cyclegan"])
def test_one_iteration_moves_every_parameter_of_the_four_networks(tmp_path, config_name):
    trainer = trainer_for(tiny(config=config_name), tmp_path)
    networks = {"G": trainer.g, "F": trainer.f, "D_X": trainer.d_x, "D_Y": trainer.d_y}
    before = {name: [p.detach().clone() for p in net.parameters()] for name, net in networks.items()}
    trainer.step()
    for name, net in networks.items():
        inert = inert_biases(net)
        if config_name == "s000_translator" and name.startswith("D"):
            # the critic's output bias shifts E[D(real)] and E[D(fake)] alike, so WGAN's loss has no gradient for it
            inert.add(id(net.net[-1].bias))
        still = [i for i, (p, old) in enumerate(zip(net.parameters(), before[name]))
                 if id(p) not in inert and torch.equal(p, old)]
        assert not still, f"{name}: parameters {still} did not move"
    if config_name == "s000_translator":  # the WGAN critics are clipped after their step
        assert max(p.abs().max().item() for p in trainer.d_x.parameters()) <= 0.01 + 1e-9
    n_critic = 5 if config_name == "s000_translator" else 1  # Arjovsky's WGAN: 5 critic steps per generator step
    assert trainer.train_cfg.n_critic == n_critic
    assert (trainer.iteration, trainer.d_steps, trainer.images_drawn) == (1, n_critic, 4 * n_critic)


def test_n_critic_gives_the_discriminators_that_many_steps_each_on_fresh_batches(tmp_path, monkeypatch):
    from anime_gan.data.pixels import to_unit_range

    trainer = trainer_for(tiny("train.n_critic=3", config="s000_translator_cyclegan"), tmp_path)
    seen = []
    step = trainer.discriminator_step
    monkeypatch.setattr(trainer, "discriminator_step", lambda x, y, *fakes: seen.append((x, y)) or step(x, y, *fakes))
    generator_batches = []
    losses = trainer.generator_losses
    monkeypatch.setattr(trainer, "generator_losses", lambda x, y: generator_batches.append(x) or losses(x, y))
    trainer.step()
    assert (trainer.iteration, trainer.d_steps, trainer.images_drawn) == (1, 3, 12)
    # The first discriminator step sees the generator step's batch, the others the next batches of both streams.
    assert torch.equal(seen[0][0], generator_batches[0])
    for k, (x, y) in enumerate(seen):
        assert torch.equal(x, to_unit_range(trainer.source[trainer.source_stream.indices(4 * k, 4)]))
        assert torch.equal(y, to_unit_range(trainer.target[trainer.target_stream.indices(4 * k, 4)]))


RICH = ("data.hflip=true", "train.ema_decay=0.9", "objective.feature_matching_weight=0.1",
        "schedule.step=iteration")


@pytest.mark.parametrize("config_name,extra", [("s000_translator", ("train.n_critic=2", "train.epochs=4")),
                                               ("s000_translator_cyclegan", RICH)],
                         ids=["paper-wgan-sgd-2-critic-steps", "cyclegan-adam-decay-pool-ema-flip-fm"])
def test_interrupted_run_resumes_to_identical_weights(tmp_path, config_name, extra):
    config = tiny(*extra, config=config_name)
    unbroken = trainer_for(config, tmp_path / "unbroken")
    unbroken.fit()
    assert unbroken.iteration == 8 and len(unbroken.pool_y) == 3

    def stop_at_5(trainer):
        if trainer.iteration == 5:  # after the checkpoint at iteration 3, in the middle of a log window
            raise Interrupt

    with pytest.raises(Interrupt):
        trainer_for(config, tmp_path / "broken").fit(on_iteration=stop_at_5)
    assert ckpt.load(tmp_path / "broken" / "checkpoint.pt")["iteration"] == 3
    resumed = trainer_for(config, tmp_path / "broken")
    assert resumed.fit()["resumed"] is True

    a, b = ckpt.load(tmp_path / "unbroken" / "checkpoint.pt"), ckpt.load(tmp_path / "broken" / "checkpoint.pt")
    assert a["iteration"] == b["iteration"] == 8
    parts = ["generator_g", "generator_f", "discriminator_x", "discriminator_y"]
    parts += ["ema_g", "ema_f"] if "train.ema_decay=0.9" in extra else []
    for part in parts:
        assert a[part].keys() == b[part].keys()
        different = [k for k in a[part] if not torch.equal(a[part][k], b[part][k])]
        assert not different, f"{part} differs after resuming: {different[:5]}"
    for pool in ("x", "y"):
        assert torch.equal(a["pools"][pool]["images"], b["pools"][pool]["images"])
    assert a["g_optimizer"]["param_groups"][0]["lr"] == b["g_optimizer"]["param_groups"][0]["lr"]
    assert a["d_steps"] == b["d_steps"] == 8 * config.train.n_critic
    read = lambda p: [(r["step"], r["loss_g"], r["loss_d"], r["cycle"]) for r in csv.DictReader(p.open())]
    assert read(tmp_path / "broken" / "losses.csv") == read(tmp_path / "unbroken" / "losses.csv")
    assert sorted(p.name for p in (tmp_path / "unbroken" / "samples").iterdir()) == [
        "final.png", "iter_0000004.png", "iter_0000008.png"]


def test_nan_loss_stops_naming_iteration_and_loss_and_keeps_last_checkpoint(tmp_path, monkeypatch):
    trainer = trainer_for(tiny(), tmp_path)
    batch = trainer._batch

    def poisoned(images, stream, size):
        real = batch(images, stream, size)
        if trainer.iteration == 4 and images is trainer.source:  # the 5th iteration sees a NaN source pixel
            real[0, 0, 0, 0] = float("nan")
        return real

    monkeypatch.setattr(trainer, "_batch", poisoned)
    with pytest.raises(TrainingError) as err:
        trainer.fit()
    message = str(err.value)
    assert "non-finite loss_g (nan) at iteration 5" in message
    assert "last good checkpoint (iteration 3)" in message and str(tmp_path / "checkpoint.pt") in message
    state = ckpt.load(tmp_path / "checkpoint.pt")
    assert state["iteration"] == 3
    assert all(torch.isfinite(v).all() for v in state["generator_g"].values() if v.is_floating_point())
    rows = list(csv.DictReader((tmp_path / "losses.csv").open()))
    assert int(rows[-1]["step"]) <= 4 and list(rows[0])[-len(LOG_COLUMNS):] == list(LOG_COLUMNS)


# ---------------------------------------------------------------- bad datasets


@pytest.fixture
def run_folder(tmp_path):
    """Two folder datasets, and a finished run in tmp_path/run whose files must survive bad input untouched."""
    photos = save_folder(synthetic_images(12, seed=1), tmp_path / "photos")
    anime = save_folder(synthetic_images(12, seed=2), tmp_path / "anime")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")

    def config(source: Path, target: Path, *extra: str) -> TranslationConfig:
        return tiny("train.epochs=1", f"source.dataset=folder:{source}", f"target.dataset=folder:{target}",
                    f"data.root={tmp_path / 'data'}", *extra)

    run_translation(config(photos, anime, "train.epochs=0.4"), tmp_path / "run")  # 10 trained on: 1 iteration
    return tmp_path, photos, anime, config


def test_translation_figure_reads_the_pipelines_data_folder_wherever_it_runs(run_folder, monkeypatch):
    """A run stores its data folder as it saw it ("data", relative to the project); a notebook runs in notebooks/.
    The figure must read the pipeline's data folder, not prepare a second copy under the working directory."""
    from types import SimpleNamespace

    from anime_gan import reports

    tmp_path, photos, anime, config = run_folder
    monkeypatch.chdir(tmp_path)
    run_translation(config(photos, anime, "train.epochs=0.4", "data.root=data"), tmp_path / "relative")
    elsewhere = tmp_path / "notebooks"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    pipeline = SimpleNamespace(run_dir=lambda name: tmp_path / "relative", data_dir=tmp_path / "data",
                               params=SimpleNamespace(entry=lambda name: SimpleNamespace(row="tiny")))
    figure = reports.translation_figure(pipeline, ["tiny"], tmp_path / "figure.png", n=2)
    assert figure.stat().st_size > 0
    assert sorted(p.name for p in elsewhere.iterdir()) == []  # nothing prepared beside the notebook


@pytest.mark.parametrize("case", ["missing target", "empty source", "empty target"])
def test_missing_or_empty_dataset_is_one_clear_error_and_changes_nothing(run_folder, case):
    tmp_path, photos, anime, config = run_folder
    source, target = {"missing target": (photos, tmp_path / "nowhere"), "empty source": (tmp_path / "empty", anime),
                      "empty target": (photos, tmp_path / "empty")}[case]
    role = case.split()[1]
    before = snapshot(tmp_path)
    with pytest.raises(DataError) as err:
        run_translation(config(source, target, "train.epochs=2"), tmp_path / "run")
    bad = source if role == "source" else target
    message = str(err.value)
    assert message.startswith(f"{role} dataset 'folder:{bad}' ({role}.dataset):")
    assert ("does not exist" if case == "missing target" else "is empty") in message
    assert snapshot(tmp_path) == before


def test_images_of_another_resolution_are_one_clear_error_and_write_nothing(tmp_path):
    config = tiny()
    with pytest.raises(DataError, match=r"target dataset 'anime-faces' \(target.dataset\): images are 48x48, but "
                                        r"data.resolution is 32x32"):
        build_cycle_trainer(config, tmp_path / "run", source_images=synthetic_images(8),
                            target_images=synthetic_images(8, size=48))
    with pytest.raises(DataError, match=r"source dataset 'utkface-photos' \(source.dataset\): has 3 training images, "
                                        r"fewer than one batch of 4"):
        build_cycle_trainer(config, tmp_path / "run", source_images=synthetic_images(3),
                            target_images=synthetic_images(8))
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- schedule


def test_linear_decay_has_the_closed_form_rate_at_every_epoch(tmp_path):
    assert [linear_decay_factor(e, 200, 0.5) for e in (0, 100, 101, 150, 199, 200)] == [1, 1, 0.99, 0.5, 0.01, 0]
    # 4 source images in batches of 4: 1 iteration per epoch; 6 epochs, decay after 3
    config = tiny("train.epochs=6", "schedule.decay_start=0.5", "log.checkpoint_every=0", "log.sample_every=0",
                  config="s000_translator_cyclegan")
    trainer = build_cycle_trainer(config, tmp_path, source_images=synthetic_images(4),
                                  target_images=synthetic_images(4, seed=3))
    seen = {}
    trainer.fit(on_iteration=lambda t: seen.setdefault(t.epochs_done, (t.g_optimizer.param_groups[0]["lr"],
                                                                         t.d_optimizer.param_groups[0]["lr"])))
    expected = {k: 2e-4 * (1.0 if k <= 3 else (6 - k) / 3) for k in range(1, 7)}  # rate after k finished epochs
    assert seen.keys() == expected.keys()
    for k, (lr_g, lr_d) in seen.items():
        assert lr_g == pytest.approx(expected[k], rel=1e-12) and lr_d == pytest.approx(expected[k], rel=1e-12)
    # per iteration, 8 source images: 2 iterations per epoch, 4 epochs, decay after 2
    per_iteration = tiny("train.epochs=4", "schedule.step=iteration", "log.checkpoint_every=0", "log.sample_every=0",
                         config="s000_translator_cyclegan")
    trainer = build_cycle_trainer(per_iteration, tmp_path / "it", source_images=synthetic_images(8),
                                  target_images=synthetic_images(8, seed=3))
    rates = []
    trainer.fit(on_iteration=lambda t: rates.append(t.g_optimizer.param_groups[0]["lr"]))
    # after n iterations: n * 4 / 8 epochs done; e.g. 5 iterations = 2.5 epochs -> (4 - 2.5) / 2 = 0.75
    assert rates == pytest.approx([2e-4 * linear_decay_factor(n / 2, 4, 0.5) for n in range(1, 9)], rel=1e-12)
    assert rates[4] == pytest.approx(2e-4 * 0.75, rel=1e-12)
    # with 2 critic steps an iteration draws 8 images: one epoch per iteration
    critic = tiny("train.epochs=4", "schedule.step=iteration", "train.n_critic=2", "log.checkpoint_every=0",
                  "log.sample_every=0", config="s000_translator_cyclegan")
    trainer = build_cycle_trainer(critic, tmp_path / "critic", source_images=synthetic_images(8),
                                  target_images=synthetic_images(8, seed=3))
    rates = []
    trainer.fit(on_iteration=lambda t: rates.append(t.g_optimizer.param_groups[0]["lr"]))
    assert rates == pytest.approx([2e-4 * linear_decay_factor(n, 4, 0.5) for n in range(1, 5)], rel=1e-12)


# ---------------------------------------------------------------- fusion terms


class TinyBackbone:
    """A fixed random conv net with one content layer and two style layers (a stand-in for EfficientNet-Lite0)."""

    name = "tiny"
    content_layers = ("c",)
    style_layers = ("s1", "s2")

    def __init__(self) -> None:
        torch.manual_seed(5)
        self.s1 = nn.Conv2d(3, 6, 3, 2, 1).requires_grad_(False)
        self.c = nn.Conv2d(6, 8, 3, 2, 1).requires_grad_(False)
        self.s2 = nn.Conv2d(8, 8, 3, 1, 1).requires_grad_(False)
        self.calls = 0

    def features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        self.calls += 1
        s1 = torch.relu(self.s1(images))
        c = torch.relu(self.c(s1))
        return {"s1": s1, "c": c, "s2": torch.relu(self.s2(c))}


def test_fusion_terms_enter_the_generator_loss_only_with_nonzero_weights(tmp_path):
    backbone = TinyBackbone()
    config = tiny("objective.content_weight=0.3", "objective.style_weight=7", "objective.feature_matching_weight=0.2",
                  config="s000_translator_cyclegan")
    trainer = trainer_for(config, tmp_path, backbone=backbone)
    x = trainer._batch(trainer.source, trainer.source_stream, 4)
    y = trainer._batch(trainer.target, trainer.target_stream, 4)
    weights = dataclasses.asdict(trainer.objective)

    def losses(**changed):
        trainer.objective = dataclasses.replace(config.objective, **changed)
        with torch.no_grad():
            total, terms, fake_y, fake_x = trainer.generator_losses(x, y)
        return total.item(), {name: float(value) for name, value in terms.items()}, fake_y, fake_x

    total, terms, fake_y, _ = losses()
    # each term equals the pure loss function on the same features
    to_unit = lambda t: (t + 1) / 2
    maps, source_maps = backbone.features(to_unit(fake_y)), backbone.features(to_unit(x))
    target_maps = backbone.features(to_unit(y))
    assert terms["content"] == pytest.approx(content_loss(maps["c"], source_maps["c"]).item(), rel=1e-6)
    target_grams = [gram_matrix(target_maps[n]).mean(0, keepdim=True) for n in ("s1", "s2")]  # the batch's mean
    style = style_loss([maps["s1"], maps["s2"]], target_grams, [0.5, 0.5])
    assert terms["style"] == pytest.approx(style.item(), rel=1e-6)
    with torch.no_grad():
        matching = (feature_matching_loss(trainer.d_y.features(y), trainer.d_y.features(fake_y))
                    + feature_matching_loss(trainer.d_x.features(x), trainer.d_x.features(trainer.f(y))))
    assert terms["feature_matching"] == pytest.approx(matching.item(), rel=1e-6)
    assert min(terms["content"], terms["style"], terms["feature_matching"]) > 0

    plain_total, plain_terms, _, _ = losses(content_weight=0.0, style_weight=0.0, feature_matching_weight=0.0)
    assert plain_terms["content"] == plain_terms["style"] == plain_terms["feature_matching"] == 0
    for name in ("gan_g", "gan_f", "cycle", "identity"):
        assert plain_terms[name] == pytest.approx(terms[name], rel=1e-6)
    added = (weights["content_weight"] * terms["content"] + weights["style_weight"] * terms["style"]
             + weights["feature_matching_weight"] * terms["feature_matching"])
    assert total == pytest.approx(plain_total + added, rel=1e-6)
    calls = backbone.calls
    losses(content_weight=0.0, style_weight=0.0)
    assert backbone.calls == calls  # with both weights 0 the feature network is not even run


def test_fusion_config_trains_with_the_offline_effnet_backbone(tmp_path):
    trainer = trainer_for(tiny(config="s000_translator_fusion"), tmp_path)
    assert trainer.backbone.name == "effnet" and trainer.backbone.content_layers == ("block6",)
    frozen = [p.detach().clone() for _, stage in trainer.backbone.stages for p in stage.parameters()]
    trainer.step()
    trainer.flush_log()
    row = list(csv.DictReader((tmp_path / "losses.csv").open()))[-1]
    assert float(row["content"]) > 0 and float(row["style"]) > 0
    after = [p for _, stage in trainer.backbone.stages for p in stage.parameters()]
    assert all(torch.equal(a, b) and a.grad is None for a, b in zip(after, frozen))  # the shared network is untouched


# ---------------------------------------------------------------- evaluation


class Darken(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x - 0.5


def test_scores_of_trivial_translators_have_the_known_values_and_order():
    images = synthetic_images(8, seed=4)
    metrics = ["fd_effnet", "precision_effnet", "recall_effnet"]
    common = dict(metrics=metrics, device="cpu", progress=False, cache_dir=None)
    identity = score_translation(nn.Identity(), nn.Identity(), images, images, **common)
    darken = score_translation(Darken(), nn.Identity(), images, images, **common)
    assert identity["cycle_error_source"] == identity["cycle_error_target"] == 0.0
    assert identity["content_distance_effnet"] == 0.0 < identity["content_distance_effnet_unrelated"]
    assert identity["content_ssim"] == pytest.approx(1.0) and identity["content_ssim_unrelated"] < 1.0
    assert darken["content_ssim"] < 1.0
    assert identity["fd_effnet"] == pytest.approx(0.0, abs=1e-3)  # the translations are the reference images
    assert identity["precision_effnet"] == identity["recall_effnet"] == 1.0
    assert darken["fd_effnet"] > 1.0 and darken["content_distance_effnet"] > 0
    # F = identity cannot undo G = darken: the error is |0.5 x - 0.5 - x| = 0.5 (x + 1) averaged over pixels
    x = images.float() / 127.5 - 1
    assert darken["cycle_error_source"] == pytest.approx((0.5 * (x + 1)).mean().item(), rel=1e-5)
    assert darken["cycle_error_target"] == pytest.approx((0.5 * (x + 1)).mean().item(), rel=1e-5)
    for result in (identity, darken):
        assert all(torch.isfinite(torch.tensor(result[k])) for k in metrics + ["fd_effnet_untranslated"])
        assert (result["n_source"], result["n_target"]) == (8, 8)


def test_untranslated_distance_is_the_general_metric_and_its_real_sets_are_computed_once(tmp_path, monkeypatch):
    """fd_effnet of the untranslated photos equals evaluate_images' fd_effnet of the same two sets; both sets are
    real images, so a second translator scored on them reads their features from the reference cache."""
    from anime_gan.metrics import evaluate_images
    from anime_gan.metrics import features as features_module

    photos, anime = synthetic_images(12, seed=5), synthetic_images(12, seed=6)
    expected = evaluate_images(photos, anime, ["fd_effnet"], device="cpu", progress=False, cache_dir=None)["fd_effnet"]
    common = dict(metrics=["fd_effnet"], device="cpu", progress=False, cache_dir=tmp_path / "cache",
                  reference_name="anime (hold-out)", source_name="photos (hold-out)")
    first = score_translation(Darken(), nn.Identity(), photos, anime, **common)
    assert first["fd_effnet_untranslated"] == pytest.approx(expected, rel=1e-9)
    assert len(list((tmp_path / "cache").iterdir())) == 2  # the photos' and the anime faces' features

    passes = []
    original = features_module.FeatureExtractor.__call__
    monkeypatch.setattr(features_module.FeatureExtractor, "__call__",
                        lambda self, images, *a, **k: passes.append(len(images)) or original(self, images, *a, **k))
    second = score_translation(nn.Identity(), nn.Identity(), photos, anime, **common)
    assert passes == [12]  # the translations only: both real sets came from the cache
    assert second["fd_effnet_untranslated"] == first["fd_effnet_untranslated"]


def test_trained_checkpoint_loads_translates_and_evaluates_through_the_cli(tmp_path, capsys):
    # 50 images per domain: 10 held out (the Inception Score's 10 splits need 10), 40 trained on
    photos = save_folder(synthetic_images(50, seed=1), tmp_path / "photos")
    anime = save_folder(synthetic_images(50, seed=2), tmp_path / "anime")
    config = tiny("train.epochs=0.2", "train.ema_decay=0.5", f"source.dataset=folder:{photos}",
                  f"target.dataset=folder:{anime}", f"data.root={tmp_path / 'data'}", config="s000_translator_cyclegan")
    config_path = tmp_path / "translator.yaml"
    save_translation(config, config_path)
    assert cli_main(["train", "--config", str(config_path), "--out", str(tmp_path / "run")]) == 0
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    summary = (tmp_path / "run" / "summary.json").read_text()
    assert '"source_train_images": 40' in summary and '"holdout_images": 10' in summary  # 20% of 50 held out

    translator = load_translator(checkpoint, device="cpu")
    assert translator.sampled == "EMA of both generators (decay 0.5)" and translator.iteration == 2  # 8 images
    photos_uint8 = synthetic_images(3, seed=1)
    translated = translate(translator.g, photos_uint8)
    assert translated.dtype == torch.uint8 and translated.shape == (3, 3, 32, 32)
    grid = translation_grid(translator, photos_uint8, padding=2)
    assert grid.dtype == torch.uint8 and grid.shape == (3, 3 * 34 + 2, 3 * 34 + 2)
    assert torch.equal(grid[:, 2:34, 2:34], photos_uint8[0])  # row 1, column 1 is the first source image

    result = evaluate_translation(checkpoint, n=10, metrics=["fd_effnet", "is_effnet"], device="cpu", progress=False,
                                  cache_dir=None)
    assert (result["n_source"], result["n_target"]) == (10, 10)
    assert result["source_split"].startswith("hold-out split (20% of 50 images: 10)")
    for key in ("fd_effnet", "is_effnet", "fd_effnet_untranslated", "content_distance_effnet", "content_ssim",
                "cycle_error_source", "cycle_error_target"):
        assert torch.isfinite(torch.tensor(result[key])), key
    assert result["optimised_in_training"] == {}  # the CycleGAN baseline has no content term
    # 32 px: the 70x70 PatchGAN's 2x2 logits each see the whole image
    assert (result["discriminator_receptive_field"], result["discriminator_patch_map"],
            result["discriminator_sees_whole_images"]) == (70, [2, 2], True)
    assert 0 < result["cycle_error_source"] < 2

    assert cli_main(["sample", "--checkpoint", str(checkpoint), "--n", "3", "--out", str(tmp_path / "grid.png"),
                     "--device", "cpu"]) == 0
    from PIL import Image

    assert Image.open(tmp_path / "grid.png").size == (3 * 34 + 2, 3 * 34 + 2)

    # `evaluate --checkpoint` knows a translator too: same scores as the function, the detector left out with a word.
    import json

    out = tmp_path / "scores.json"
    assert cli_main(["evaluate", "--checkpoint", str(checkpoint), "--n", "10", "--metrics", "fd_effnet,dr",
                     "--device", "cpu", "--no-progress", "--root", str(tmp_path / "data"), "--out", str(out)]) == 0
    assert "dr skipped" in capsys.readouterr().out
    scores = json.loads(out.read_text())["metrics"]
    assert scores["fd_effnet"] == pytest.approx(result["fd_effnet"], rel=1e-6) and "dr_raw" not in scores


def test_the_fusion_rows_content_term_is_recorded_as_optimising_the_content_distance():
    from anime_gan.translation.evaluate import optimised_measures

    fusion = load_translation(ROOT / "configs" / "s000_translator_fusion.yaml")
    assert list(optimised_measures(fusion)) == ["content_distance_effnet"]
    assert "block6" in optimised_measures(fusion)["content_distance_effnet"]
    for name in ("s000_translator", "s000_translator_cyclegan"):
        assert optimised_measures(load_translation(ROOT / "configs" / f"{name}.yaml")) == {}
    assert optimised_measures(load_translation(ROOT / "configs" / "s000_translator_fusion.yaml",
                                               ["objective.backbone=vgg19"])) == {}  # its content layer is VGG's


@pytest.mark.parametrize("side, sentence", [
    (32, "D: the 70x70 PatchGAN gives 2x2 logits per 32x32 image, and every logit's 70 px window (padding included) "
         "covers the whole image: at this size it judges whole images, not patches."),
    (96, "D: the 70x70 PatchGAN gives 10x10 logits per 96x96 image, each judging a 70 px window."),
])
def test_translation_caption_says_from_the_resolution_what_the_patchgan_sees(side, sentence):
    from anime_gan.experiment.translation import discriminator_geometry
    from anime_gan.reports import translation_caption

    geometry = discriminator_geometry(load_translation(None, [f"data.resolution={side}", "discriminator.width=8"]))
    metrics = {"n_source": 4, "source_split": "s", "n_target": 4, "target_split": "t", "content_layer": "block6",
               "content_distance_effnet_unrelated": 30.0, "cycle_error_units": "L1",
               **{f"discriminator_{key}": value for key, value in geometry.items()}}
    result = {"row": "r", "metrics": metrics, "resolution": [side, side], "dataset": "a -> b", "profile": "p"}
    assert sentence in translation_caption({"r": result})
