"""Tests for the multi-scale sliced Wasserstein distance (tinygan.metrics.swd).

All images are generated here: smooth random "textures" made by summing up-sampled random noise
at a few octaves, so that every pyramid level has some content. The checks are behavioural:
zero for identical sets, small for two draws of one distribution, and clearly larger (and
ordered) when one set is blurred or made noisy.
"""

import numpy as np
import pytest

from tinygan.metrics import swd as swd_module
from tinygan.metrics.swd import laplacian_pyramid, swd

SIZE = 64
N_IMAGES = 128


def _upsample_linear(z, factor):
    """Linear interpolation of (n, h, w, c) by an integer factor along both image axes."""
    for axis in (1, 2):
        length = z.shape[axis]
        # pixel centres of the fine grid expressed in coarse-pixel coordinates
        pos = np.clip((np.arange(length * factor) + 0.5) / factor - 0.5, 0, length - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, length - 1)
        shape = [1] * z.ndim
        shape[axis] = -1
        t = (pos - lo).reshape(shape)
        z = np.take(z, lo, axis=axis) * (1 - t) + np.take(z, hi, axis=axis) * t
    return z


def smooth_images(rng, n, size=SIZE):
    """(n, size, size, 3) uint8 random textures with detail at several scales."""
    x = np.zeros((n, size, size, 3))
    for low, amplitude in ((4, 1.0), (8, 0.6), (16, 0.35)):
        x += amplitude * _upsample_linear(rng.normal(size=(n, low, low, 3)), size // low)
    x = 128 + 40 * x / x.std()
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def gaussian_blur(images, sigma):
    """Separable Gaussian blur of uint8 images, reflect borders, rounded back to uint8."""
    radius = int(np.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    x = images.astype(np.float64)
    for axis in (1, 2):
        pad = [(0, 0)] * 4
        pad[axis] = (radius, radius)
        padded = np.pad(x, pad, mode="reflect")
        length = x.shape[axis]
        x = sum(
            w * np.take(padded, np.arange(i, i + length), axis=axis) for i, w in enumerate(kernel)
        )
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def two_draws():
    """Two independent sets from the same distribution."""
    rng = np.random.default_rng(1234)
    return smooth_images(rng, N_IMAGES), smooth_images(rng, N_IMAGES)


@pytest.fixture(scope="module")
def same_distribution(two_draws):
    return swd(*two_draws)


# --------------------------------------------------------------------------------------------
# Laplacian pyramid
# --------------------------------------------------------------------------------------------


def test_pyramid_levels_and_shapes():
    images = np.random.default_rng(0).random((5, 64, 64, 3)).astype(np.float32)
    levels = laplacian_pyramid(images, min_resolution=16)
    assert [level.shape for level in levels] == [(5, 64, 64, 3), (5, 32, 32, 3), (5, 16, 16, 3)]
    assert all(level.dtype == np.float32 for level in levels)


def test_pyramid_of_constant_image_has_no_detail():
    images = np.full((2, 64, 64, 3), 173.0, dtype=np.float32)
    levels = laplacian_pyramid(images, min_resolution=16)
    # the binomial filter sums to one, so blurring, down- and up-sampling keep a constant
    for detail in levels[:-1]:
        assert np.abs(detail).max() < 1e-3
    np.testing.assert_allclose(levels[-1], 173.0, rtol=1e-6)


def test_pyramid_collapses_back_to_the_image():
    # G_k = L_k + up(G_{k+1}): rebuilding from the coarsest level must give the input back
    images = np.random.default_rng(1).random((3, 32, 32, 3)).astype(np.float32)
    levels = laplacian_pyramid(images, min_resolution=8)
    rebuilt = levels[-1]
    for detail in reversed(levels[:-1]):
        rebuilt = detail + swd_module._pyr_up(rebuilt)
    np.testing.assert_allclose(rebuilt, images, atol=1e-5)


# --------------------------------------------------------------------------------------------
# The distance
# --------------------------------------------------------------------------------------------


def test_result_keys_and_identical_sets_give_zero(two_draws):
    images, _ = two_draws
    result = swd(images, images.copy())
    assert list(result) == [64, 32, 16, "avg"]
    for value in result.values():
        assert isinstance(value, float)
        assert abs(value) < 1e-6


def test_deterministic_for_a_seed(two_draws):
    a, b = two_draws
    small = {"descriptors_per_image": 32, "n_directions": 16, "n_repeats": 2}
    first = swd(a, b, seed=7, **small)
    assert swd(a, b, seed=7, **small) == first
    assert swd(a, b, seed=8, **small)["avg"] != first["avg"]


def test_same_distribution_is_small(two_draws, same_distribution):
    a, b = two_draws
    assert same_distribution["avg"] > 0
    # a strongly blurred copy is far more different than an independent draw
    assert same_distribution["avg"] < 0.6 * swd(a, gaussian_blur(b, 2.5))["avg"]


def test_blur_increases_distance_monotonically(two_draws, same_distribution):
    a, b = two_draws
    blurred = [swd(a, gaussian_blur(b, sigma)) for sigma in (1.0, 1.5, 2.5)]
    # blur removes fine detail, so the finest level reacts most
    finest = [same_distribution[SIZE]] + [result[SIZE] for result in blurred]
    average = [same_distribution["avg"]] + [result["avg"] for result in blurred]
    assert finest == sorted(finest) and len(set(finest)) == len(finest)
    assert average == sorted(average) and len(set(average)) == len(average)
    assert finest[1] > 1.5 * finest[0]


def test_noise_increases_distance(two_draws, same_distribution):
    a, b = two_draws
    rng = np.random.default_rng(5)
    noisy = np.clip(b + rng.normal(0, 8, b.shape), 0, 255).astype(np.uint8)
    result = swd(a, noisy)
    # pixel noise lives in the finest Laplacian level
    assert result[SIZE] > 3 * same_distribution[SIZE]
    assert result["avg"] > 1.5 * same_distribution["avg"]


# --------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape_a, shape_b, dtype, message",
    [
        # different number of images
        ((8, 32, 32, 3), (9, 32, 32, 3), np.uint8, r"same number and size of images"),
        # different resolutions
        ((8, 32, 32, 3), (8, 64, 64, 3), np.uint8, r"same number and size of images"),
        ((8, 32, 48, 3), (8, 32, 48, 3), np.uint8, r"images_a must hold square images"),
        # no channel axis; not RGB
        ((8, 32, 32), (8, 32, 32), np.uint8, r"must have shape \(N, H, W, 3\)"),
        ((8, 32, 32, 1), (8, 32, 32, 1), np.uint8, r"must have shape \(N, H, W, 3\)"),
        ((8, 32, 32, 3), (8, 32, 32, 3), np.float32, r"images_a must be uint8, got float32"),
        ((0, 32, 32, 3), (0, 32, 32, 3), np.uint8, r"images_a is empty"),
        # smaller than the coarsest level
        ((8, 8, 8, 3), (8, 8, 8, 3), np.uint8, r"images are 8 px but the coarsest .* is 16 px"),
    ],
)
def test_bad_input_raises(shape_a, shape_b, dtype, message):
    """Each is refused by its own check, with its own message: an unrelated NumPy error
    further on (a ValueError too) does not count."""
    with pytest.raises(ValueError, match=message):
        swd(np.zeros(shape_a, dtype), np.zeros(shape_b, dtype))


def test_plain_python_lists_are_not_uint8():
    # lists are converted with np.asarray, which makes Python ints int64, not uint8
    images = np.zeros((2, 32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="uint8"):
        swd(images.tolist(), images)


def test_odd_level_that_must_be_halved_raises():
    # 54 -> 27, and 27 would still have to be halved (13 >= 8): the levels would not line up
    images = np.zeros((2, 54, 54, 3), np.uint8)
    with pytest.raises(ValueError, match="cannot halve a 27 px pyramid level"):
        swd(images, images, min_resolution=8)
