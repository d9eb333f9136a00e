"""Seed 004's style transfer: the loss terms against hand-computed values, the traditional methods' invariants,
neural style transfer lowering its style loss, and the stylize command on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from anime_gan.cli import main
from anime_gan.errors import DataError
from anime_gan.losses import content_loss, feature_matching_loss, gram_matrix, style_loss, total_variation_loss
from anime_gan.style import cartoon, histogram_match, patch_synthesis, stylize
from conftest import mirror_path

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- loss terms


def test_gram_matrix_of_a_known_tensor_is_ffT_over_chw():
    # C=2 channels of a 2x2 map: rows of F are [1, 2, 3, 4] and [0, 1, 0, 1].
    features = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 1.0]]]])  # (1, 2, 2, 2)
    # F F^T = [[1+4+9+16, 2+4], [2+4, 1+1]] = [[30, 6], [6, 2]]; divided by C*H*W = 8.
    expected = torch.tensor([[[30.0, 6.0], [6.0, 2.0]]]) / 8
    assert torch.allclose(gram_matrix(features), expected)


def test_content_loss_is_the_mean_squared_error():
    features = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    target = torch.tensor([[[[1.0, 0.0], [3.0, 1.0]]]])
    assert content_loss(features, target).item() == pytest.approx((0 + 4 + 0 + 9) / 4)


def test_style_loss_is_zero_for_identical_inputs_and_the_weighted_gram_mse_otherwise():
    torch.manual_seed(0)
    layers = [torch.rand(2, 3, 4, 4), torch.rand(2, 5, 2, 2)]
    assert style_loss(layers, [x.clone() for x in layers]).item() == 0.0
    assert style_loss(layers, [gram_matrix(x) for x in layers]).item() == 0.0

    # One 1-channel map [[1, 2], [3, 4]]: Gram = 30 / 4 = 7.5. Against a map of zeros (Gram 0): (7.5)^2 = 56.25.
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    zero = torch.zeros_like(x)
    assert style_loss([x], [zero]).item() == pytest.approx(56.25)
    assert style_loss([x, x], [zero, zero], weights=[0.5, 2.0]).item() == pytest.approx(2.5 * 56.25)
    # A batch of one target Gram is compared with every image of a batch.
    other = torch.rand(3, 3, 4, 4)
    assert style_loss([other], [gram_matrix(layers[0][:1])]).item() > 0


def test_total_variation_of_a_constant_image_is_zero_and_of_a_known_image_by_hand():
    assert total_variation_loss(torch.full((2, 3, 5, 7), 0.3)).item() == 0.0
    image = torch.tensor([[[[0.0, 1.0], [3.0, 7.0]]]])  # (1, 1, 2, 2)
    # vertical |3-0|, |7-1| -> mean 4.5; horizontal |1-0|, |7-3| -> mean 2.5
    assert total_variation_loss(image).item() == pytest.approx(7.0)


def test_feature_matching_is_the_squared_distance_of_mean_features_of_a_tiny_discriminator():
    # D: x (2,) -> h1 = relu(W1 x) (2,) -> h2 = w2 . h1 (1,); its intermediate layers are h1 and h2.
    layer1, layer2 = nn.Linear(2, 2, bias=False), nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        layer1.weight.copy_(torch.tensor([[1.0, 0.0], [1.0, -1.0]]))
        layer2.weight.copy_(torch.tensor([[2.0, 1.0]]))
    real = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    fake = torch.tensor([[0.0, 1.0], [2.0, 2.0], [1.0, 0.0]], requires_grad=True)

    def layers(x):
        h1 = torch.relu(layer1(x))
        return [h1, layer2(h1)]

    # real h1: relu([1, -1]) = [1, 0], relu([3, 3]) = [3, 3] -> mean [2, 1.5]; h2: 2, 9 -> mean 5.5
    # fake h1: [0, 0], [2, 0], [1, 1] -> mean [1, 1/3]; h2: 0, 4, 3 -> mean 7/3
    expected = (2 - 1) ** 2 + (1.5 - 1 / 3) ** 2 + (5.5 - 7 / 3) ** 2
    loss = feature_matching_loss(layers(real), layers(fake))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert feature_matching_loss(layers(real)[0], layers(fake)[0]).item() == pytest.approx(1 + (1.5 - 1 / 3) ** 2)
    # A generator term: the gradient reaches the fakes; the real batch is a constant.
    real_leaf = real.clone().requires_grad_(True)
    feature_matching_loss(layers(real_leaf), layers(fake)).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert real_leaf.grad is None


# ---------------------------------------------------------------- traditional methods


def test_histogram_matching_gives_each_channel_the_reference_quantiles():
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 96)
    content = np.stack([np.add.outer(ramp, ramp) / 2, np.outer(ramp, np.ones(96)), rng.uniform(0, 255, (96, 96))], -1)
    content = content.astype(np.uint8)
    style = np.stack([rng.beta(2, 5, (80, 80)) * 255, rng.beta(5, 1, (80, 80)) * 255, rng.normal(128, 20, (80, 80))],
                     -1).clip(0, 255).astype(np.uint8)
    result = histogram_match(content, style)
    assert result.dtype == np.uint8 and result.shape == content.shape
    quantiles = [0.05, 0.25, 0.5, 0.75, 0.95]
    for channel in range(3):
        got = np.quantile(result[..., channel], quantiles)
        want = np.quantile(style[..., channel], quantiles)
        before = np.quantile(content[..., channel], quantiles)
        # within 3 grey levels (the result is rounded to uint8 and content ties share one value)
        assert np.abs(got - want).max() <= 3, (channel, got, want)
        assert np.abs(before - want).max() > 20  # the check is not met by the content already
    as_tensor = histogram_match(torch.from_numpy(content).permute(2, 0, 1), torch.from_numpy(style).permute(2, 0, 1))
    assert torch.equal(as_tensor, torch.from_numpy(result).permute(2, 0, 1))


def two_colour_style(size: int = 48) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dark, bright = np.array([40, 20, 90], np.uint8), np.array([230, 200, 120], np.uint8)
    style = np.empty((size, size, 3), np.uint8)
    style[:, : size // 2], style[:, size // 2 :] = dark, bright
    return style, dark, bright


def dark_left_bright_right(size: int = 40) -> np.ndarray:
    rng = np.random.default_rng(1)
    content = np.empty((size, size, 3), np.uint8)
    content[:, : size // 2] = rng.integers(0, 60, (size, size // 2, 3))
    content[:, size // 2 :] = rng.integers(180, 256, (size, size - size // 2, 3))
    return content


def test_patch_synthesis_from_two_flat_colours_returns_only_those_colours():
    style, dark, bright = two_colour_style()
    content = dark_left_bright_right()
    tiled = patch_synthesis(content, style, patch_size=4, stride=4)  # no overlap: style pixels only
    colours = {tuple(c) for c in tiled.reshape(-1, 3)}
    assert colours == {tuple(dark), tuple(bright)}
    # the dark half of the content is rebuilt from the dark style colour, the bright half from the bright one
    assert (tiled[:, :16] == dark).all() and (tiled[:, -16:] == bright).all()

    blended = patch_synthesis(content, style)  # overlapping patches are averaged: points between the two colours
    t = ((blended.astype(float) - dark) @ (bright - dark.astype(float))) / np.sum((bright - dark.astype(float)) ** 2)
    on_segment = dark + np.clip(t, 0, 1)[..., None] * (bright - dark.astype(float))
    assert np.abs(blended - on_segment).max() <= 1.0
    assert blended.shape == content.shape


def test_cartoon_uses_the_style_palette_and_draws_no_lines_on_a_flat_image():
    style = np.zeros((30, 30, 3), np.uint8)
    style[:10], style[10:20], style[20:] = (200, 30, 30), (30, 200, 30), (20, 20, 20)
    flat = np.full((40, 50, 3), (180, 60, 40), np.uint8)
    assert (cartoon(flat, style) == (200, 30, 30)).all()  # the nearest palette colour, no edge lines

    content = dark_left_bright_right()
    result = cartoon(content, style)
    assert {tuple(c) for c in result.reshape(-1, 3)} <= {(200, 30, 30), (30, 200, 30), (20, 20, 20)}
    assert cartoon(content, style, seed=3).shape == content.shape


def test_unknown_method_or_option_is_a_config_error():
    style, _, _ = two_colour_style()
    with pytest.raises(Exception, match="not one of"):
        stylize("oil-paint", style, style)
    with pytest.raises(Exception, match="unknown option"):
        stylize("patch", style, style, patchsize=4)
    with pytest.raises(DataError, match="uint8"):
        histogram_match(style.astype(np.float32), style)


# ---------------------------------------------------------------- backbones and neural style transfer


def test_vgg_layer_indices_are_gatys_layers():
    from torchvision.models.vgg import cfgs, make_layers

    from anime_gan.style.backbones import VGG_LAYERS

    with torch.device("meta"):  # structure only: no memory, no weight initialisation
        features = make_layers(cfgs["E"])  # VGG-19's conv part, as torchvision builds it
    for name, index in VGG_LAYERS.items():
        block, position = (int(v) for v in name.removeprefix("conv").split("_"))
        assert isinstance(features[index], nn.ReLU)  # the rectified response of ...
        conv = features[index - 1]
        assert isinstance(conv, nn.Conv2d) and conv.out_channels == min(64 * 2 ** (block - 1), 512)
        pools = sum(isinstance(m, nn.MaxPool2d) for m in features[:index])
        convs_in_block = sum(isinstance(m, nn.Conv2d) for m in features[:index]) - sum(
            [0, 2, 4, 8, 12][: block][-1:])
        assert pools == block - 1 and convs_in_block == position, name


def test_without_vgg_weights_auto_uses_effnet_with_a_note_and_its_layers_span_five_scales(tmp_path, monkeypatch):
    from anime_gan.style.backbones import load_backbone

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("ANIME_GAN_MIRROR", str(tmp_path / "mirror"))
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "vgg19-dcbb9e9d.pth").write_bytes(b"not the weights")  # fails its sha256: not used
    backbone = load_backbone("auto", "cpu")
    assert backbone.name == "effnet" and "VGG-19" in backbone.note and "effnet" in backbone.note
    with torch.no_grad():
        maps = backbone.features(torch.rand(1, 3, 64, 64))  # resized to 224 inside, as the metrics do
    sides = [maps[name].shape[-1] for name in backbone.style_layers]
    assert sides == [112, 56, 28, 14, 7]
    assert maps[backbone.content_layers[0]].shape[-1] == 14


def test_effnet_backbone_runs_the_folded_network_with_the_packages_maps_and_pixel_gradients():
    """The backbone runs the metrics' folded, channels_last EfficientNet-Lite0: every layer's maps equal the
    package's conv-BatchNorm-ReLU6 stages to float32 rounding, the pixel gradient of a loss through them agrees
    (ReLU6 is not differentiable at 0 and 6: a rounding-sized move flips a few units' masks, hence the norm
    tolerance), and the weights stay frozen."""
    from anime_gan.metrics.features import get_extractor
    from anime_gan.style.backbones import EffNetBackbone, effnet_backbone, effnet_stages

    fast = effnet_backbone(torch.device("cpu"))
    assert "folded" in fast.description["network"] and fast.channels_last
    package = get_extractor("effnet", torch.device("cpu")).network  # the module as the package builds it
    reference = EffNetBackbone(name="effnet", stages=effnet_stages(package), content_layers=fast.content_layers,
                               style_layers=fast.style_layers)
    images = torch.rand(4, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    results = []
    for backbone in (reference, fast):
        pixels = images.clone().requires_grad_(True)
        maps = backbone.features(pixels)
        loss = sum(gram_matrix(maps[name]).sum() for name in backbone.style_layers) + maps["block6"].pow(2).mean()
        (gradient,) = torch.autograd.grad(loss, [pixels])
        results.append(({name: m.detach() for name, m in maps.items()}, gradient))
    (expected, expected_gradient), (got, got_gradient) = results
    assert sorted(got) == sorted(expected) == sorted({*fast.style_layers, *fast.content_layers})
    for name in expected:
        scale = expected[name].abs().max()
        assert torch.allclose(got[name], expected[name], rtol=0, atol=1e-5 * scale), name
    assert ((got_gradient - expected_gradient).norm() / expected_gradient.norm()) < 2e-3
    assert not any(p.requires_grad for _, stage in fast.stages for p in stage.parameters())

def read_first_image(archive: Path) -> np.ndarray:
    from anime_gan.data.images import decode_image, resize_image

    with tarfile.open(archive) as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".jpg"):
                return resize_image(decode_image(tar.extractfile(member).read(), member.name).pixels, (64, 64))
    raise AssertionError(f"no image in {archive}")


def nst_pair() -> tuple[np.ndarray, np.ndarray, str]:
    """A real photo and a real anime face from the mirror when present, else a synthetic pair."""
    mirror = mirror_path()
    if mirror is not None and (mirror / "utkface-photos-5k.tar").is_file():
        return (read_first_image(mirror / "utkface-photos-5k.tar"), read_first_image(mirror / "anime-faces-10k.tar"),
                "mirror")
    yy, xx = np.mgrid[0:64, 0:64]
    disk = ((yy - 30) ** 2 + (xx - 32) ** 2 < 20**2)[..., None]
    content = np.where(disk, (210, 170, 140), (90, 110, 130)).astype(np.uint8)  # a face-like disk on a background
    stripes = ((xx + yy) // 4 % 2)[..., None]
    style = np.where(stripes, (240, 120, 200), (60, 30, 110)).astype(np.uint8)  # diagonal two-colour stripes
    return content, style, "synthetic"


@pytest.fixture
def one_thread():
    # A tiny network on a 2-core machine shared with other jobs: one thread avoids oversubscription stalls.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_nst_lowers_the_style_loss_more_than_tenfold(one_thread):
    # Measured with 100 Adam steps on the effnet backbone (VGG-19 absent): 32.5x on the mirror pair (the first
    # UTKFace photo and the first anime face of the archives, 64x64), 22.0x on the synthetic pair; 8-17 s on one
    # CPU thread of a busy 2-core machine.
    content, style, source = nst_pair()
    result, record = stylize("nst", content, style, steps=100, backbone="auto", progress=False)
    assert result.shape == content.shape and result.dtype == np.uint8
    assert record["backbone"] in ("vgg19", "effnet") and record["style_layers"] and record["content_layers"]
    factor = record["losses_start"]["style"] / record["losses_end"]["style"]
    assert factor >= 10, (source, factor, record["losses_start"], record["losses_end"])
    assert record["losses_start"]["content"] == 0.0  # it starts from the content image
    assert record["steps"] == 100 and record["seconds"] > 0


# ---------------------------------------------------------------- the stylize command


def save(path: Path, pixels: np.ndarray, mode: str | None = None) -> Path:
    image = Image.fromarray(pixels)
    if mode:
        image = image.convert(mode)
    image.save(path)
    return path


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def sources(tmp_path) -> Path:
    folder = tmp_path / "sources"
    folder.mkdir()
    style, _, _ = two_colour_style()
    content = dark_left_bright_right()
    save(folder / "style.png", style)
    save(folder / "rgb.png", content)
    save(folder / "grey.png", content, "L")
    rgba = np.dstack([content, np.full(content.shape[:2], 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    save(folder / "palette.png", content, "P")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return folder


def stylize_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["stylize", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_stylize_missing_and_unreadable_files_give_one_clear_line(sources, tmp_path, capsys):
    before = snapshot(sources)
    style = str(sources / "style.png")
    env = {**os.environ, "ANIME_GAN_COMPILE": "0", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "anime_gan", "stylize", "--method", "histogram", "--content",
                           str(sources / "corrupt.png"), "--style", style, "--out", str(tmp_path / "o.png")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2 and "cannot read the content image" in done.stderr and "corrupt.png" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    for args, expected in ((["--content", str(sources / "nowhere.png"), "--style", style], "not found: "),
                           (["--content", str(sources / "rgb.png"), "--style", str(sources / "corrupt.png")],
                            "cannot read the style image"),
                           (["--content", str(sources / "rgb.png"), "--style", str(sources)], "is not a file")):
        code, _, err = stylize_cli(capsys, "--method", "histogram", *args, "--out", str(tmp_path / "o.png"))
        assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o.png").exists()
    assert snapshot(sources) == before


def test_stylize_converts_grey_rgba_and_palette_images_and_leaves_sources_alone(sources, tmp_path, capsys):
    before = snapshot(sources)
    for name in ("grey.png", "rgba.png", "palette.png"):
        out = tmp_path / f"out-{name}"
        code, stdout, _ = stylize_cli(capsys, "--method", "patch", "--content", str(sources / name), "--style",
                                      str(sources / "style.png"), "--out", str(out))
        assert code == 0 and str(out) in stdout
        with Image.open(out) as written:
            assert written.mode == "RGB" and written.size == (40, 40)
            assert json.loads(written.text["anime_gan.stylize"])["method"] == "patch"
    assert snapshot(sources) == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_stylize_folder_skips_and_counts_the_corrupt_image(sources, tmp_path, capsys):
    before = snapshot(sources)
    out = tmp_path / "styled"
    code, stdout, _ = stylize_cli(capsys, "--method", "histogram", "--content", str(sources), "--style",
                                  str(sources / "style.png"), "--out", str(out), "--size", "32")
    assert code == 0
    assert "skipped 1 unreadable image(s)" in stdout and "corrupt.png" in stdout
    written = sorted(p.name for p in out.iterdir())
    assert written == ["grey.png", "palette.png", "rgb.png", "rgba.png", "style.png", "stylize-records.json"]
    records = json.loads((out / "stylize-records.json").read_text())
    assert records["n_written"] == 5 and records["n_skipped"] == 1
    assert snapshot(sources) == before


def test_stylize_refuses_bad_numbers_and_overwriting_a_source(sources, tmp_path, capsys):
    common = ["--content", str(sources / "rgb.png"), "--style", str(sources / "style.png")]
    for extra, message in ((["--method", "nst", "--steps", "0"], "--steps must be between"),
                           (["--method", "patch", "--size", "4"], "--size must be between"),
                           (["--method", "patch", "--seed", "-1"], "--seed must be between"),
                           (["--method", "patch", "--steps", "5"], "nst only")):
        code, _, err = stylize_cli(capsys, *extra, *common, "--out", str(tmp_path / "o.png"))
        assert code == 2 and message in err
    before = snapshot(sources)
    code, _, err = stylize_cli(capsys, "--method", "histogram", *common, "--out", str(sources / "rgb.png"))
    assert code == 2 and "overwrite the source" in err
    code, _, err = stylize_cli(capsys, "--method", "histogram", "--content", str(sources), "--style",
                               str(sources / "style.png"), "--out", str(sources))
    assert code == 2 and "overwrite the source" in err
    assert snapshot(sources) == before


def test_nst_output_is_labelled_with_its_backbone(sources, tmp_path, capsys, one_thread):
    out = tmp_path / "nst.png"
    code, stdout, _ = stylize_cli(capsys, "--method", "nst", "--content", str(sources / "rgb.png"), "--style",
                                  str(sources / "style.png"), "--out", str(out), "--steps", "2", "--size", "32",
                                  "--backbone", "effnet", "--no-progress")
    assert code == 0 and "backbone effnet" in stdout
    with Image.open(out) as written:
        record = json.loads(written.text["anime_gan.stylize"])
    assert record["backbone"] == "effnet" and record["style_layers"] == ["stem", "block1", "block3", "block5",
                                                                         "block11"]
    assert written.size == (32, 32)


def test_outputs_are_written_atomically(tmp_path, monkeypatch):
    from anime_gan.commands.stylize import _save

    target = tmp_path / "out" / "result.png"
    _save(np.zeros((8, 8, 3), np.uint8), target, {"method": "test"})
    assert target.is_file()
    original = target.read_bytes()

    def broken_save(self, handle, *args, **kwargs):
        handle.write(b"half an image")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        _save(np.full((8, 8, 3), 255, np.uint8), target, {"method": "test"})
    assert target.read_bytes() == original  # the old file stands; the half-written one was removed
    assert sorted(p.name for p in target.parent.iterdir()) == ["result.png"]
