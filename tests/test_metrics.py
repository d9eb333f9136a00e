"""Metrics: pytorch-fid's Frechet distance, KID and IS against hand formulas and torch-fidelity, precision and
recall against a hand-computed example and a plain NumPy version, the offline extractor's known answer and its
folded form, sensitivity to degradation and to mode collapse on real faces, the Inception paths against
pytorch-fid and torch-fidelity, the real-side cache, input checks, and the distortion rate."""

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
from anime_gan.metrics.distances import KidKernel, feature_statistics, frechet_distance, inception_score, kernel_distance
from anime_gan.metrics.precision_recall import precision_recall

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


def test_pytorch_fids_printed_eps_notice_becomes_a_warning(capsys):
    """pytorch-fid prints (not warns) when sqrtm(S1 S2) is not finite and it adds eps to the diagonals.

    S1 S2 here is a Jordan block at 0 (singular, no square root), for which SciPy's sqrtm returns Inf.
    """
    from scipy.linalg import sqrtm

    sigma1, sigma2, mu = np.array([[0.0, 1.0], [0.0, 0.0]]), np.eye(2), np.zeros(2)
    assert not np.isfinite(sqrtm(sigma1 @ sigma2)).all()
    with pytest.warns(UserWarning, match="pytorch-fid: fid calculation produces singular product; adding 1e-06"):
        value = frechet_distance(mu, sigma1, mu, sigma2)
    assert capsys.readouterr().out == ""  # nothing left on the terminal only
    offset = np.eye(2) * 1e-6
    by_hand = np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(sqrtm((sigma1 + offset) @ (sigma2 + offset)).real)
    assert value == pytest.approx(by_hand, rel=1e-9)


def test_frechet_distance_refuses_non_finite_statistics():
    sigma = np.eye(3)
    sigma[0, 0] = np.nan
    with pytest.raises(MetricError, match="NaN or Inf"):
        frechet_distance(np.zeros(3), sigma, np.zeros(3), np.eye(3))
    with pytest.raises(MetricError, match="NaN or Inf"):
        feature_statistics(np.array([[0.0, np.inf], [1.0, 2.0], [3.0, 4.0]]))


def hand_kid(x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None, coef0: float = 1.0) -> float:
    """Unbiased MMD^2 with the kernel (gamma x.y + coef0)^degree (gamma = 1/d by default) on the whole sets."""
    gamma = 1 / x.shape[1] if gamma is None else gamma
    k = lambda a, b: (gamma * a @ b.T + coef0) ** degree  # noqa: E731
    m, n = len(x), len(y)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
            - 2 * kxy.mean())


def test_kid_matches_the_hand_formula_when_the_subset_is_the_whole_set():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 8)), rng.normal(0.5, 1.0, size=(40, 8))
    kid = kernel_distance(x, y, subsets=3, subset_size=40)
    assert kid.mean == pytest.approx(hand_kid(x, y), rel=1e-6)
    # Every subset is the whole set: the spread over subsets says nothing, so it is not reported.
    assert kid.std is None and "not above the subset size 40" in kid.std_reason
    assert kernel_distance(x, y, subsets=3, subset_size=20).std > 0  # 40 > 20: subsets differ


def test_kid_kernel_arguments_reach_torch_fidelity():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 6)), rng.normal(0.3, 1.3, size=(30, 6))
    cubic = kernel_distance(x, y, subsets=2, subset_size=30).mean
    linear = kernel_distance(x, y, subsets=2, subset_size=30, kernel=KidKernel(degree=1)).mean
    assert linear != pytest.approx(cubic, rel=1e-3)  # the degree is not silently ignored
    assert linear == pytest.approx(hand_kid(x, y, degree=1), rel=1e-9)
    custom = kernel_distance(x, y, subsets=2, subset_size=30, kernel=KidKernel(degree=2, gamma=0.5, coef0=0.0)).mean
    assert custom == pytest.approx(hand_kid(x, y, degree=2, gamma=0.5, coef0=0.0), rel=1e-9)


def test_kid_from_whole_kernel_matrices_is_torch_fidelitys():
    """float64 features take the subsets from kernel matrices computed once; the value is torch-fidelity's."""
    from torch_fidelity.metric_kid import kid_features_to_metric

    rng = np.random.default_rng(4)
    x, y = np.abs(rng.normal(size=(300, 16))), np.abs(rng.normal(0.2, 1.0, size=(260, 16)))
    ours = kernel_distance(x, y, subsets=20, subset_size=100, seed=7, kernel=KidKernel(degree=2))
    theirs = kid_features_to_metric(torch.from_numpy(x), torch.from_numpy(y), kid_subsets=20, kid_subset_size=100,
                                    rng_seed=7, verbose=False, kid_kernel="poly", kid_kernel_poly_degree=2,
                                    kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1)
    assert ours.mean == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-9)
    assert ours.std == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-9)


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


# ------------------------------------------------------------------ precision and recall


def numpy_precision_recall(fake: np.ndarray, real: np.ndarray, k: int) -> tuple[float, float]:
    """Kynkaanniemi et al. 2019 written out: each sample's ball reaches its k-th neighbour in its own set."""
    def distances(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))  # (len(a), len(b))

    def radii(x):
        return np.sort(distances(x, x), axis=1)[:, k]  # column 0 is the sample itself

    cross = distances(fake, real)
    precision = (cross <= radii(real)[None, :]).any(axis=1).mean()  # generated samples inside the real manifold
    recall = (cross.T <= radii(fake)[None, :]).any(axis=1).mean()  # real samples inside the generated manifold
    return float(precision), float(recall)


def test_precision_and_recall_of_a_hand_computed_example():
    """1-D points, k = 3. Real 0, 1, 2, 3, 5 and 50..53: the 3rd-neighbour radii are 3, 2, 2, 2, 4 and 3, 2, 2, 3,
    so the real manifold is [-3, 9] and [47, 56]. Generated 0..3 and 100..103: radii 3, 2, 2, 3 in each group, so
    its manifold is [-3, 6] and [97, 106]. Precision: 0..3 of the 8 generated points lie in the real manifold, 4/8.
    Recall: 0, 1, 2, 3 and 5 of the 9 real points lie in the generated manifold, 5/9."""
    real = np.array([0, 1, 2, 3, 5, 50, 51, 52, 53], dtype=np.float64)[:, None]
    fake = np.array([0, 1, 2, 3, 100, 101, 102, 103], dtype=np.float64)[:, None]
    result = precision_recall(fake, real)
    assert (result.precision, result.recall) == (pytest.approx(4 / 8, abs=1e-6), pytest.approx(5 / 9, abs=1e-6))
    assert (result.k, result.n_fake, result.n_reference) == (3, 8, 9)
    # The roles are not symmetric: swapped sets swap the two numbers (the generated set is torch-fidelity's input 1).
    swapped = precision_recall(real, fake)
    assert (swapped.precision, swapped.recall) == (pytest.approx(5 / 9, abs=1e-6), pytest.approx(4 / 8, abs=1e-6))


def test_precision_and_recall_known_answers():
    rng = np.random.default_rng(7)
    real = rng.normal(size=(60, 8))
    same = precision_recall(real.copy(), real)
    assert (same.precision, same.recall) == (1.0, 1.0)  # identical sets
    far = precision_recall(real + 1000.0, real)
    assert (far.precision, far.recall) == (0.0, 0.0)  # two clusters far apart
    # A collapsed generator: one real sample repeated. Its balls have radius 0, so it covers no other real sample.
    collapsed = precision_recall(np.repeat(real[:1], 60, axis=0), real)
    assert collapsed.precision == 1.0 and collapsed.recall == pytest.approx(1 / 60, abs=1e-6)


@pytest.mark.parametrize("k", [3, 5])
def test_precision_and_recall_are_the_plain_numpy_computation(k):
    rng = np.random.default_rng(k)
    real = rng.normal(size=(200, 12))
    fake = rng.normal(0.4, 0.7, size=(150, 12))
    result = precision_recall(fake, real, k=k)
    expected = numpy_precision_recall(fake, real, k)
    assert 0 < result.precision < 1 and 0 < result.recall < 1  # neither trivial
    assert (result.precision, result.recall) == (pytest.approx(expected[0], abs=1e-6),
                                                 pytest.approx(expected[1], abs=1e-6))
    assert result.k == k and result.settings()["k"] == k


def test_precision_and_recall_refuse_too_few_samples_and_broken_features():
    rng = np.random.default_rng(0)
    with pytest.raises(MetricError, match="more than 3 generated samples"):
        precision_recall(rng.normal(size=(3, 4)), rng.normal(size=(10, 4)))
    with pytest.raises(MetricError, match="more than 3 reference samples"):
        precision_recall(rng.normal(size=(10, 4)), rng.normal(size=(2, 4)))
    with pytest.raises(MetricError, match="NaN or Inf"):
        precision_recall(np.full((5, 4), np.nan), rng.normal(size=(10, 4)))
    with pytest.raises(MetricError, match="4-d, reference 5-d"):
        precision_recall(rng.normal(size=(5, 4)), rng.normal(size=(10, 5)))


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


def test_folded_effnet_computes_the_packages_network():
    """BatchNorm folded into the convs, channels_last: the same features and logits as the package's module."""
    from anime_gan.metrics.features import EffNetLite0, get_extractor

    extractor = get_extractor("effnet", "cpu")
    assert extractor.options.fold_batchnorm and extractor.runner is not extractor.network
    images = torch.randint(0, 256, (3, 3, 40, 40), dtype=torch.uint8, generator=torch.Generator().manual_seed(5))
    out = extractor(images, batch_size=2)
    with torch.inference_mode():
        x = EffNetLite0.preprocess(images)
        pooled = extractor.network.extract_features(x).mean((2, 3))  # the package's own forward, NCHW
        logits = extractor.network._fc(pooled)
    np.testing.assert_allclose(out.features, pooled.double().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out.logits, logits.double().numpy(), rtol=1e-4, atol=1e-4)


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


@pytest.mark.mirror
def test_recall_falls_to_zero_for_a_collapsed_generator_while_fd_effnet_stays_finite(real_faces, tmp_path):
    """One held-out face repeated 150 times against 150 real faces: recall near 0 while fd_effnet stays finite;
    150 other real faces, for scale, cover most of the reference."""
    reference, others, one = real_faces[:150], real_faces[150:300], real_faces[300:301]
    common = dict(reference_name="anime-faces", device="cpu", batch_size=50, progress=False, cache_dir=tmp_path)
    wanted = ["fd_effnet", "precision_effnet", "recall_effnet"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # N < 1280 and a zero covariance: singular, recorded in the result
        collapsed = evaluate_images(one.expand(150, -1, -1, -1).contiguous(), reference, wanted, **common)
        varied = evaluate_images(others, reference, wanted, **common)
    assert collapsed["recall_effnet"] < 0.05
    assert np.isfinite(collapsed["fd_effnet"])
    assert varied["recall_effnet"] > 0.5


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
    assert description["metrics"] == ["fd_effnet", "kid_effnet", "is_effnet"] and description["precision"] == "float32"
    assert any("singular" in w for w in result["warnings"])  # N <= D is recorded, not hidden
    assert not any("disp" in w for w in result["warnings"])  # SciPy's deprecation of pytorch-fid's call is not news
    assert result["kid_effnet_std"] is None and "subset size" in result["kid_effnet_std_reason"]
    assert result["kid_settings"]["kernel"] == "(1/d * x.y + 1) ** 3" and result["kid_settings"]["subset_size"] == 12
    assert "fid" not in result
    # Precision and recall on the same features: the images against themselves are inside each other's manifold.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        itself = evaluate_images(real, real, ["fd_effnet", "precision_effnet", "recall_effnet"], device="cpu",
                                 batch_size=12, progress=False, cache_dir=None)
    assert (itself["precision_effnet"], itself["recall_effnet"]) == (1.0, 1.0)
    settings = itself["prc_settings"]
    assert (settings["k"], settings["n_fake"], settings["n_reference"], settings["features"]) == (3, 12, 12, "effnet")
    assert settings["library"].startswith("torch-fidelity ")
    assert itself["extractors"]["effnet"]["metrics"] == ["fd_effnet", "precision_effnet", "recall_effnet"]
    with pytest.raises(MetricError, match="pass a reference set"):
        evaluate_images(fake, None, ["recall_effnet"], progress=False, cache_dir=None)
    with pytest.raises(MetricError, match="unknown metric"):
        evaluate_images(fake, real, ["fid_effnet"], progress=False)


# ------------------------------------------------------------------ input checks


def test_inputs_are_checked_with_one_clear_line():
    from anime_gan.metrics.dr import face_found

    rng = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8, generator=rng)
    none = images[:0]
    with pytest.raises(MetricError, match="generated images hold no images .* N must be at least 1"):
        evaluate_images(none, images, ["fd_effnet"], progress=False, cache_dir=None)
    with pytest.raises(MetricError, match="reference images hold no images"):
        evaluate_images(images, none, ["fd_effnet"], progress=False, cache_dir=None)
    with pytest.raises(MetricError, match=r"16x16 but the reference images are 32x32.*--resolution 16x16"):
        evaluate_images(images, torch.zeros(4, 3, 32, 32, dtype=torch.uint8), ["fd_effnet"], progress=False,
                        cache_dir=None)
    with pytest.raises(MetricError, match=r"1 channel\(s\).*expand\(-1, 3, -1, -1\)"):
        face_found(images[:, :1])
    with pytest.raises(MetricError, match=r"4 channel\(s\).*images\[:, :3\]"):
        evaluate_images(torch.cat([images, images[:, :1]], 1), images, ["fd_effnet"], progress=False, cache_dir=None)
    with pytest.raises(MetricError, match="uint8"):
        face_found(images.float())


def test_a_resolution_mismatch_allowed_is_recorded():
    rng = torch.Generator().manual_seed(1)
    fake = torch.randint(0, 256, (10, 3, 16, 16), dtype=torch.uint8, generator=rng)
    real = torch.randint(0, 256, (10, 3, 24, 24), dtype=torch.uint8, generator=rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = evaluate_images(fake, real, ["kid_effnet"], progress=False, cache_dir=None, device="cpu",
                                 allow_resolution_mismatch=True)
    assert result["resolution"] == [16, 16] and result["reference_resolution"] == [24, 24]


# ------------------------------------------------------------------ real-side cache


class CountingExtractor:
    """A cheap stand-in extractor (mean colour and contrast) that counts its calls."""

    def __init__(self) -> None:
        from anime_gan.metrics.features import FeatureExtractor

        self.inner = FeatureExtractor(name="toy", dims=6, description={"preprocess": "none", "weights_sha256": "0" * 64,
                                                                        "runtime": {"threads": 1}})
        self.inner._forward = lambda batch: (torch.cat([batch.float().mean((2, 3)), batch.float().std((2, 3))], 1), None)
        self.calls = 0
        self.name, self.dims, self.description = "toy", 6, self.inner.description

    def key_description(self) -> dict:
        return self.inner.key_description()

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.inner(*args, **kwargs)


def test_reference_cache_follows_the_extractor_and_survives_a_corrupt_file(tmp_path, monkeypatch):
    from anime_gan.metrics import reference_features

    images = torch.randint(0, 256, (8, 3, 12, 12), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    extractor = CountingExtractor()
    first = reference_features(extractor, images, "toy-set", tmp_path, 4, False)
    again = reference_features(extractor, images, "toy-set", tmp_path, 4, False)
    assert extractor.calls == 1 and np.array_equal(first.features, again.features)
    [path] = tmp_path.glob("toy-set-12x12-toy-n8-*.npz")
    # The runtime entry cannot change the numbers: not part of the key.
    monkeypatch.setitem(extractor.description, "runtime", {"threads": 2})
    reference_features(extractor, images, "toy-set", tmp_path, 4, False)
    assert extractor.calls == 1
    # A new preprocessing (or weights, precision, library version) is a new key: computed again, not served stale.
    monkeypatch.setitem(extractor.description, "preprocess", "resize to 224 first")
    reference_features(extractor, images, "toy-set", tmp_path, 4, False)
    assert extractor.calls == 2 and len(list(tmp_path.glob("*.npz"))) == 2
    monkeypatch.setitem(extractor.description, "preprocess", "none")
    # Other images under the same name: another key too.
    reference_features(extractor, images.flip(0), "toy-set", tmp_path, 4, False)
    assert extractor.calls == 3
    # A corrupt file is rebuilt (atomically), with a warning instead of an exception.
    path.write_bytes(b"not an npz file")
    with pytest.warns(UserWarning, match="unreadable"):
        rebuilt = reference_features(extractor, images, "toy-set", tmp_path, 4, False)
    assert extractor.calls == 4 and np.array_equal(rebuilt.features, first.features)
    reference_features(extractor, images, "toy-set", tmp_path, 4, False)
    assert extractor.calls == 4  # the rebuilt file is readable again
    assert not list(tmp_path.glob("*.tmp"))


def test_the_cache_key_names_weights_preprocessing_precision_and_versions():
    from anime_gan.metrics.cache import cache_key
    from anime_gan.metrics.features import get_extractor

    extractor = get_extractor("effnet", "cpu")
    images = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    key = cache_key("effnet", "set", images, extractor.key_description(), packages=("efficientnet-lite-pytorch",))
    computation = key["computation"]
    assert len(computation["weights_sha256"]) == 64 and "224x224" in computation["preprocess"]
    assert computation["precision"] == "float32" and "folded" in computation["network"]
    assert "runtime" not in computation
    assert set(key["versions"]) >= {"torch", "numpy", "efficientnet-lite-pytorch"}
    assert key["format"] >= 2 and len(key["images_sha256"]) == 64 and key["resolution"] == [8, 8] and key["n"] == 2


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


@pytest.fixture
def random_inception_weights(monkeypatch, tmp_path):
    """A weights file of the FID Inception's architecture with random values, in place of the standard file."""
    import pytorch_fid.inception as fid_inception
    from torchvision.models.inception import Inception3

    import anime_gan.metrics
    from anime_gan.metrics import features

    torch.manual_seed(0)
    network = Inception3(num_classes=1008, aux_logits=False, init_weights=False, transform_input=False)
    # Random convs with identity BatchNorm statistics shrink activations to ~1e-8 (every IS = 1): set the running
    # statistics from one batch so that features and logits vary between images.
    for layer in network.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.momentum = None
    with torch.no_grad():
        network.train()(torch.rand(2, 3, 299, 299) * 2 - 1)
    state = network.state_dict()
    state["fc.bias"] = torch.randn(1008) * 3  # a visible bias: IS with and without it must differ
    weights = tmp_path / "random_inception.pth"
    torch.save(state, weights)
    monkeypatch.setattr(fid_inception, "load_state_dict_from_url", lambda *a, **k: torch.load(weights))
    monkeypatch.setattr(features, "inception_weights", lambda: weights)
    monkeypatch.setattr(anime_gan.metrics, "inception_weights", lambda: weights)
    features._cached.cache_clear()
    yield weights
    features._cached.cache_clear()


class ImageList(torch.utils.data.Dataset):
    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


def test_is_and_kid_are_torch_fidelitys_on_the_same_weights(random_inception_weights):
    """IS and KID through torch-fidelity's own Inception path equal torch_fidelity.calculate_metrics."""
    import torch_fidelity

    from anime_gan.metrics.features import get_extractor

    rng = torch.Generator().manual_seed(0)
    fake = torch.randint(0, 256, (20, 3, 24, 24), dtype=torch.uint8, generator=rng)
    real = torch.randint(0, 256, (4, 3, 24, 24), dtype=torch.uint8, generator=rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = evaluate_images(fake, real, ["is", "kid"], device="cpu", batch_size=10, progress=False, cache_dir=None,
                               seed=2020)
    theirs = torch_fidelity.calculate_metrics(
        input1=ImageList(fake), input2=ImageList(real), isc=True, kid=True, feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(random_inception_weights), kid_subset_size=4, batch_size=10, rng_seed=2020,
        cuda=False, cache=False, verbose=False, save_cpu_ram=True)
    assert ours["is"] == pytest.approx(theirs["inception_score_mean"], rel=1e-6)
    assert ours["is_std"] == pytest.approx(theirs["inception_score_std"], rel=1e-6)
    assert ours["kid"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-6)
    assert "TF1-exact" in ours["extractors"]["fidelity_inception"]["preprocess"]
    # The logits with the fc bias (what IS used before) give another score: the test tells the two apart.
    extractor = get_extractor("fidelity_inception", "cpu")
    unbiased = extractor(fake, batch_size=10).logits.astype(np.float64)
    biased = unbiased + extractor.network.fc.bias.double().numpy()
    assert inception_score(biased)[0] != pytest.approx(theirs["inception_score_mean"], rel=1e-2)


def test_fid_statistics_are_pytorch_fids_on_the_same_weights_and_pngs(random_inception_weights, tmp_path):
    """The FID path's mean and covariance equal pytorch-fid's own, bit for bit, on the same images as PNG files."""
    from PIL import Image
    from pytorch_fid.fid_score import calculate_activation_statistics
    from pytorch_fid.inception import InceptionV3

    from anime_gan.metrics.features import get_extractor

    images = torch.randint(0, 256, (3, 3, 24, 24), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    files = []
    for i, image in enumerate(images):
        files.append(tmp_path / f"{i}.png")
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(files[-1])
    extractor = get_extractor("inception", "cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mu, sigma = feature_statistics(extractor(images, batch_size=3).features)
        their_mu, their_sigma = calculate_activation_statistics(files, InceptionV3([3]).eval(), batch_size=3,
                                                                dims=2048, device="cpu", num_workers=0)
    assert np.array_equal(mu, their_mu) and np.array_equal(sigma, their_sigma)
    assert extractor.description["used_for"] == "fid"


def test_a_complex_square_root_is_a_metric_error():
    """pytorch-fid raises a bare ValueError when sqrtm(S1 S2) is far from real; it becomes one clear line.

    A negative eigenvalue stands for what rounding does to the covariances of a few samples in many dimensions
    (5 random-weight Inception features in 2,048 dimensions gave an imaginary part of 60).
    """
    with pytest.raises(MetricError, match="imaginary component of 2 .* more samples"):
        frechet_distance(np.zeros(2), np.diag([1.0, -4.0]), np.zeros(2), np.eye(2))


@pytest.mark.skipif(__import__("anime_gan.data.assets", fromlist=["asset_path"]).asset_path("fid_inception") is None,
                    reason="the standard FID Inception weights (pt_inception-2015-12-05-6726825d.pth) are not "
                           "installed here, so FID values cannot be checked; see docs/metrics.md to install them")
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


@pytest.mark.mirror
def test_real_detector_hits_are_cached_under_their_settings(mirror_dir, real_faces, tmp_path, monkeypatch):
    from anime_gan.metrics import dr

    faces = real_faces[:40]
    calls = []
    detect = dr.face_found
    monkeypatch.setattr(dr, "face_found", lambda images, workers=1: calls.append(len(images)) or detect(images, workers))
    rate = dr.real_detection_rate(faces, "anime-faces", tmp_path)
    assert rate == pytest.approx(detect(faces).mean()) and calls == [40]
    assert dr.real_detection_rate(faces, "anime-faces", tmp_path) == rate and calls == [40]  # served from the cache
    result = dr.distortion_rate(faces[:8], faces, reference_name="anime-faces", cache_dir=tmp_path)
    assert result["dr_real"] == pytest.approx(1 - rate) and calls == [40, 8]  # only the fakes were detected
    [path] = tmp_path.glob("anime-faces-32x32-dr-n40-*.npz")
    # Other detector settings are another key; a corrupt file is rebuilt.
    monkeypatch.setitem(dr.SETTINGS, "min_neighbors", 4)
    dr.real_detection_rate(faces, "anime-faces", tmp_path)
    assert calls == [40, 8, 40]
    monkeypatch.setitem(dr.SETTINGS, "min_neighbors", 3)
    path.write_bytes(path.read_bytes()[:50])
    with pytest.warns(UserWarning, match="unreadable"):
        assert dr.real_detection_rate(faces, "anime-faces", tmp_path) == rate
    assert calls == [40, 8, 40, 40]
    # Any number of worker threads gives the same answer.
    np.testing.assert_array_equal(detect(faces, workers=2), detect(faces, workers=1))


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


# ---------------------------------------------------------------- classical per-pair measures


def grey_image(value: int, side: int = 16) -> torch.Tensor:
    return torch.full((1, 3, side, side), value, dtype=torch.uint8)  # R = G = B: its grey is the value itself


def test_ssim_of_flat_images_is_the_luminance_term_and_one_for_identical_images():
    from anime_gan.metrics.classical import structural_similarity_grey

    # Flat images have no variance, so SSIM is its luminance term (2ab + C1) / (a^2 + b^2 + C1), C1 = (0.01 * 255)^2.
    c1 = (0.01 * 255) ** 2
    got = structural_similarity_grey(torch.cat([grey_image(100), grey_image(7)]), torch.cat([grey_image(120),
                                                                                           grey_image(7)]))
    assert got == pytest.approx([(2 * 100 * 120 + c1) / (100**2 + 120**2 + c1), 1.0], rel=1e-9)
    noise = torch.randint(0, 256, (3, 3, 24, 24), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert structural_similarity_grey(noise, noise) == pytest.approx([1.0, 1.0, 1.0])
    unrelated = structural_similarity_grey(noise, noise.roll(1, dims=0))
    assert (np.abs(unrelated) < 0.2).all()  # independent noise images share no structure
    with pytest.raises(MetricError, match="at least 11x11"):
        structural_similarity_grey(grey_image(1, side=10), grey_image(1, side=10))
    with pytest.raises(MetricError, match="pairs of equal shape"):
        structural_similarity_grey(grey_image(1), grey_image(1, side=12))


def test_hue_saturation_distance_has_the_bhattacharyya_values_of_known_histograms():
    from anime_gan.metrics.classical import hue_saturation_distance

    red, blue = torch.zeros(1, 3, 8, 8, dtype=torch.uint8), torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    red[:, 0], blue[:, 2] = 255, 255
    half = red.clone()
    half[:, :, :4] = blue[:, :, :4]  # half the pixels blue
    # Two histograms summing to 1: d = sqrt(1 - sum sqrt(h1 h2)); red vs half red: sqrt(1 - sqrt(0.5)).
    got = hue_saturation_distance(torch.cat([red, red, red]), torch.cat([red, blue, half]))
    assert got == pytest.approx([0.0, 1.0, np.sqrt(1 - np.sqrt(0.5))], abs=1e-6)
    with pytest.raises(MetricError, match=r"uint8 images \(N, 3, H, W\)"):
        hue_saturation_distance(red.float(), red)
