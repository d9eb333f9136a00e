"""Metrics: pytorch-fid's Frechet distance, KID and IS against hand formulas, the offline extractor's known
answer, sensitivity to degradation on real faces, the Inception plumbing, and the distortion rate."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pytorch_fid.fid_score import calculate_frechet_distance

from anime_gan.errors import MetricError
from anime_gan.metrics import distances, evaluate_images
from anime_gan.metrics.distances import feature_statistics, frechet_distance, inception_score, kernel_distance

os.environ.setdefault("ANIME_GAN_COMPILE", "0")  # small sets: eager is faster than compiling


# ------------------------------------------------------------------ formulas


def test_frechet_distance_is_pytorch_fids():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 16)), rng.normal(0.3, 1.2, size=(250, 16))
    mu1, s1 = feature_statistics(a)
    mu2, s2 = feature_statistics(b)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(calculate_frechet_distance(mu1, s1, mu2, s2), abs=1e-6)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-6)
    # Two Gaussians with identity covariance differ by ||mu1 - mu2||^2 only.
    eye = np.eye(4)
    assert frechet_distance(np.zeros(4), eye, np.full(4, 2.0), eye) == pytest.approx(16.0, abs=1e-6)


def test_few_samples_warn_and_fewer_than_two_fail():
    with pytest.warns(UserWarning, match="singular"):
        feature_statistics(np.random.default_rng(0).normal(size=(10, 20)))
    with pytest.raises(MetricError, match="at least 2"):
        feature_statistics(np.zeros((1, 5)))


def hand_kid(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the kernel (x.y / d + 1)^3 on the whole sets."""
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    m, n = len(x), len(y)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
            - 2 * kxy.mean())


def test_kid_matches_the_hand_formula_when_the_subset_is_the_whole_set():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 8)), rng.normal(0.5, 1.0, size=(40, 8))
    mean, std = kernel_distance(x, y, subsets=3, subset_size=40)
    assert mean == pytest.approx(hand_kid(x, y), rel=1e-6)
    assert std == pytest.approx(0.0, abs=1e-9)  # every subset is the whole set


def test_inception_score_matches_the_hand_formula():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(50, 7)) * 3
    score, _ = inception_score(logits, splits=1)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    marginal = p.mean(0)
    hand = np.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1)))
    assert score == pytest.approx(hand, rel=1e-5)
    # Uniform predictions carry no information: IS = 1.
    assert inception_score(np.zeros((20, 5)), splits=2)[0] == pytest.approx(1.0)


# ------------------------------------------------------------------ offline extractor


def test_effnet_knows_grace_hopper_is_in_military_uniform():
    import matplotlib.cbook
    from PIL import Image

    from anime_gan.metrics.features import get_extractor

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        photo = np.asarray(Image.open(handle).convert("RGB"))
    image = torch.from_numpy(photo).permute(2, 0, 1)[None].contiguous()
    out = get_extractor("effnet", "cpu")(image, batch_size=1)
    assert out.features.shape == (1, 1280)
    assert int(np.argmax(out.logits[0])) == 652  # ImageNet "military uniform"


@pytest.fixture(scope="module")
def real_faces(mirror_dir, tmp_path_factory):
    from anime_gan.data import load_images

    images = load_images("anime-faces", 32, root=tmp_path_factory.mktemp("data"), progress=False)
    return images[torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:600]]


@pytest.mark.mirror
def test_fd_effnet_orders_degradations_of_real_faces(real_faces):
    from anime_gan.metrics.features import get_extractor

    extractor = get_extractor("effnet", "cpu")
    n = 150
    reference = feature_statistics(extractor(real_faces[:n]).features)

    def fd(images: torch.Tensor) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # N < 1280: singular covariance, the same for every set here
            return frechet_distance(*feature_statistics(extractor(images).features), *reference)

    other = real_faces[n : 2 * n]
    blurred = [F.avg_pool2d(other.float(), k, stride=1, padding=k // 2, count_include_pad=False).round().to(torch.uint8)
               for k in (3, 5)]
    noise = torch.randint(0, 256, other.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    scores = [fd(other), *map(fd, blurred), fd(noise)]
    assert scores == sorted(scores), scores  # more damage, larger distance
    assert scores[0] * 2 < scores[-1]


def test_evaluate_images_reports_how_it_was_made():
    rng = torch.Generator().manual_seed(0)
    fake = torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8, generator=rng)
    real = torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8, generator=rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = evaluate_images(fake, real, ["fd_effnet", "kid_effnet", "is_effnet"], reference_name="noise",
                                 device="cpu", batch_size=12, progress=False, cache_dir=None)
    assert result["n_fake"] == 12 and result["n_reference"] == 12 and result["resolution"] == [32, 32]
    description = result["extractors"]["effnet"]
    assert "not FID" in description["note"] and len(description["weights_sha256"]) == 64
    assert any("singular" in w for w in result["warnings"])  # N <= D is recorded, not hidden
    assert "fid" not in result
    with pytest.raises(MetricError, match="unknown metric"):
        evaluate_images(fake, real, ["fid_effnet"], progress=False)


# ------------------------------------------------------------------ Inception (FID, IS, KID)


def test_absent_fid_weights_say_what_to_do(monkeypatch, tmp_path):
    from anime_gan.data import assets
    from anime_gan.metrics.features import inception_weights

    if assets.asset_path("fid_inception") is not None:
        pytest.skip("the FID weights are installed on this machine")
    monkeypatch.setattr(assets, "download", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(MetricError) as err:
        inception_weights()
    message = str(err.value)
    assert "pt_inception-2015-12-05-6726825d.pth" in message and "fd_effnet" in message
    assert "ANIME_GAN_MIRROR" in message


def test_inception_path_runs_on_the_real_architecture_with_random_weights(monkeypatch, tmp_path):
    """Plumbing only: pytorch-fid's FID Inception with random weights in place of the standard file."""
    import pytorch_fid.inception as fid_inception
    from torchvision.models.inception import Inception3

    from anime_gan.metrics import features

    torch.manual_seed(0)
    state = Inception3(num_classes=1008, aux_logits=False, init_weights=False, transform_input=False).state_dict()
    weights = tmp_path / "random_inception.pth"
    torch.save(state, weights)
    monkeypatch.setattr(fid_inception, "load_state_dict_from_url", lambda *a, **k: torch.load(weights))
    monkeypatch.setattr(features, "inception_weights", lambda: weights)
    extractor = features.FIDInception(torch.device("cpu"))
    images = torch.randint(0, 256, (4, 3, 40, 40), dtype=torch.uint8)
    out = extractor(images, batch_size=2)
    assert out.features.shape == (4, 2048) and out.logits.shape == (4, 1008)
    assert np.isfinite(out.features).all() and (out.features >= 0).all()  # pooled after ReLU
    # pytorch-fid's own pipeline on the same input gives the same pool features.
    with torch.no_grad():
        direct = extractor.network(images.float() / 255)[0].flatten(1).double().numpy()
    np.testing.assert_allclose(out.features, direct, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(__import__("anime_gan.data.assets", fromlist=["asset_path"]).asset_path("fid_inception") is None,
                    reason="the standard FID Inception weights (pt_inception-2015-12-05-6726825d.pth) are not "
                           "installed here, so FID values cannot be checked; see the README to install them")
def test_fid_of_a_set_with_itself_is_zero_with_the_real_weights():
    fake = torch.randint(0, 256, (20, 3, 64, 64), dtype=torch.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = evaluate_images(fake, fake, ["fid"], progress=False, cache_dir=None)
    assert result["fid"] == pytest.approx(0.0, abs=1e-3)


# ------------------------------------------------------------------ distortion rate


def swap_quadrants(images: torch.Tensor) -> torch.Tensor:
    h, w = images.shape[-2] // 2, images.shape[-1] // 2
    top, bottom = images[..., :h, :], images[..., h:, :]
    swapped = torch.cat([bottom, top], dim=-2)
    return torch.cat([swapped[..., w:], swapped[..., :w]], dim=-1)


@pytest.mark.mirror
def test_detector_finds_real_faces_not_scrambled_ones_nor_noise(mirror_dir, tmp_path):
    from anime_gan.data import load_images
    from anime_gan.metrics.dr import distortion_rate, face_found

    faces = load_images("anime-faces", 64, root=tmp_path, progress=False)[:400]
    found_real = face_found(faces).mean()
    found_swapped = face_found(swap_quadrants(faces)).mean()
    noise = torch.randint(0, 256, (100, 3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert found_real > 0.6
    assert found_swapped < found_real / 2
    assert face_found(noise).mean() == 0
    result = distortion_rate(swap_quadrants(faces), faces)
    assert result["dr_raw"] == pytest.approx(1 - found_swapped)
    assert result["dr_real"] == pytest.approx(1 - found_real)
    assert result["dr_calibrated"] == pytest.approx(1 - found_swapped / found_real)


def test_manual_labels_give_the_papers_rate(tmp_path):
    from anime_gan.metrics.labelling import dr_from_labels, labelling_widget, write_labels

    labels = tmp_path / "labels.csv"
    write_labels(labels, 290, [True] + [False] * 255)  # 1 of 256, like the paper's granularity
    write_labels(labels, 291, [True, True] + [False] * 126)
    write_labels(labels, 290, [True, True] + [False] * 254)  # relabelling an epoch replaces it
    table = dr_from_labels(labels).set_index("epoch")
    assert table.loc[290, "dr"] == pytest.approx(2 / 256)
    assert table.loc[291, "dr"] == pytest.approx(2 / 128)
    widget = labelling_widget(torch.zeros(4, 3, 8, 8, dtype=torch.uint8), labels, epoch=300)
    assert widget is not None
