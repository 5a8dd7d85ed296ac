"""Training batches: horizontal flips mirror the images they pick, and data smaller than one
batch is refused in one line."""

import numpy as np
import pytest
from conftest import TINY, invoke, random_images

from tinygan.data.batches import Batches
from tinygan.data.sources import DataError


def test_flips_mirror_about_half_the_images_left_to_right():
    images = random_images(40, 6, 5)   # random pixels: no image is its own mirror
    plain, flipping = Batches(images, 16, seed=3), Batches(images, 16, seed=3, flip=True)
    mirrored_count = 0
    for step in range(8):
        x, y = plain.batch(step), flipping.batch(step)
        mirrored = (y == x[:, :, ::-1]).all(axis=(1, 2, 3))   # width reversed
        same = (y == x).all(axis=(1, 2, 3))
        assert not (mirrored & same).any()
        assert (mirrored | same).all(), step   # each image as it is, or mirrored
        mirrored_count += mirrored.sum()
        for i in np.flatnonzero(mirrored):   # column j of the flip is column W-1-j
            for j in range(5):
                np.testing.assert_array_equal(y[i, :, j], x[i, :, 4 - j])
    # a fair coin per image: 64 of 128 on average, with a standard deviation of 5.7
    assert 40 < mirrored_count < 88


def test_data_smaller_than_one_batch_is_refused(tmp_path):
    with pytest.raises(DataError, match="^the data has 7 images, fewer than one batch of 8; "
                                        "use a smaller --batch$"):
        Batches(random_images(7, 4, 4), 8)
    exactly = Batches(random_images(8, 4, 4), 8)   # one batch is enough: every step all 8
    assert exactly.steps_per_epoch == 1
    assert sorted(exactly.indices(0)) == sorted(exactly.indices(5)) == list(range(8))
    # and the command says so in one line, before it makes a run folder
    data = tmp_path / "faces.npy"
    np.save(data, random_images(7, 32, 32))
    args = [*TINY[:TINY.index("--batch")], "--batch", "8", *TINY[TINY.index("--batch") + 2:]]
    result = invoke("train", "--data", data, "--steps", 2, "--out", tmp_path / "run", *args)
    assert result.exit_code == 2, result.output
    assert ("Error: the data has 7 images, fewer than one batch of 8; use a smaller --batch"
            in result.output.splitlines())
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()
