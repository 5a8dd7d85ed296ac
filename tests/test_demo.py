"""Tests for the built-in procedural face data set (tinygan.data.demo)."""

import numpy as np
import pytest

from tinygan.data.demo import demo_faces


@pytest.fixture(scope="module")
def faces():
    # One shared batch keeps the suite fast; 48 faces is plenty for statistics.
    return demo_faces(48, size=64, seed=0)


def test_shape_and_dtype(faces):
    assert faces.shape == (48, 64, 64, 3)
    assert faces.dtype == np.uint8


@pytest.mark.parametrize("size", [16, 32, 96, 128])
def test_other_sizes(size):
    x = demo_faces(3, size=size, seed=1)
    assert x.shape == (3, size, size, 3)
    assert x.dtype == np.uint8


def test_same_seed_same_faces(faces):
    assert np.array_equal(demo_faces(48, size=64, seed=0), faces)


def test_prefix_does_not_depend_on_n(faces):
    # Asking for more faces must not change the first ones.
    assert np.array_equal(demo_faces(5, size=64, seed=0), faces[:5])


def test_different_seeds_differ(faces):
    other = demo_faces(48, size=64, seed=1)
    diff = np.abs(other.astype(int) - faces.astype(int)).mean(axis=(1, 2, 3))
    assert np.all(diff > 5)


def test_faces_are_diverse(faces):
    x = faces.astype(np.float32)
    diff = np.abs(x[:, None] - x[None]).mean(axis=(2, 3, 4))
    pairs = diff[np.triu_indices(len(x), k=1)]
    # Nearly every pair of faces should look clearly different.
    assert np.mean(pairs > 15) > 0.95
    # And every pixel position should vary across the set, i.e. no
    # constant frame that a generator could copy for free.
    assert x.std(axis=0).min() > 5


def test_face_in_the_centre(faces):
    x = faces.astype(np.float32)
    centre = x[:, 24:40, 24:40].mean(axis=(1, 2))
    k = 8
    corners = np.concatenate(
        [x[:, :k, :k], x[:, :k, -k:], x[:, -k:, :k], x[:, -k:, -k:]], axis=1
    ).mean(axis=(1, 2))
    gap = np.abs(centre - corners).mean(axis=1)
    assert gap.mean() > 25
    # The centre holds eyes and mouth, so it has more detail than a corner.
    assert x[:, 24:40, 24:40].std(axis=(1, 2)).mean() > x[:, :k, :k].std(axis=(1, 2)).mean()


@pytest.mark.parametrize("n, size", [(0, 64), (-3, 64), (4, 15), (4, 0)])
def test_bad_arguments(n, size):
    with pytest.raises(ValueError):
        demo_faces(n, size=size)
