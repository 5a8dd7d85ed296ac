"""metrics.sharpness, the blur measure that `sample --sharpest` picks faces with: its value by
hand, what it ignores, and that the command keeps the sharpest faces of four times as many."""

import numpy as np
from conftest import invoke
from PIL import Image

from tinygan.data.images import grid
from tinygan.metrics.sharpness import sharpness


def picture(value, size=8):
    """uint8 (1, size, size, 3), every pixel `value` in [-1, 1]."""
    return np.full((1, size, size, 3), round((value + 1) * 127.5), np.uint8)


def test_one_bright_pixel_by_hand():
    # black 8x8, one white pixel at (3, 3) inside the middle half (rows and columns 2 to 5):
    # the Laplacian is 4 * 2 = 8 there and -2 at its four neighbours, 16 in all over the
    # 16 pixels of the middle, in each colour
    x = picture(-1.0)
    x[0, 3, 3] = 255
    assert np.isclose(sharpness(x)[0], 1.0)


def test_flat_and_linear_pictures_have_none_and_blur_lowers_it():
    assert sharpness(picture(0.3))[0] == 0
    ramp = np.repeat(np.arange(0, 160, 10, dtype=np.uint8)[None, :, None], 16, axis=0)
    ramp = np.repeat(ramp[None], 3, axis=3)       # brightness rising linearly left to right
    assert np.isclose(sharpness(ramp)[0], 0, atol=1e-6)
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 256, (1, 32, 32, 3)).astype(np.float64)
    blurred = sum(np.roll(np.roll(sharp, dy, 1), dx, 2)
                  for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
    assert sharpness(blurred.round().astype(np.uint8))[0] < 0.5 * sharpness(
        sharp.astype(np.uint8))[0]


def test_only_the_middle_half_counts():
    rng = np.random.default_rng(1)
    face = rng.integers(0, 256, (1, 16, 16, 3), dtype=np.uint8)
    outside = face.copy()
    outside[:, :3], outside[:, 13:], outside[:, :, :3], outside[:, :, 13:] = 0, 0, 0, 0
    assert sharpness(outside)[0] == sharpness(face)[0]      # the border is not looked at
    inside = face.copy()
    inside[:, 6:10, 6:10] = 128
    assert sharpness(inside)[0] < sharpness(face)[0]


def test_sample_sharpest_keeps_the_sharpest_of_four_times_as_many(tiny_run, tmp_path):
    from tinygan.draw.generate import find_checkpoint, generate, latent, load_generator
    r = invoke("sample", "--sharpest", 4, "--seed", 3, "--checkpoint", tiny_run, "--out",
               tmp_path / "sharp.png", "--device", "cpu")
    assert r.exit_code == 0, r.output
    G, _, meta = load_generator(find_checkpoint(str(tiny_run)))
    faces = generate(G, latent(3, 16, meta["config"]["nz"]))
    scores = sharpness(faces)
    expected = faces[np.argsort(-scores)[:4]]
    assert scores[np.argsort(-scores)[3]] > np.median(scores)    # a real choice, not any 4
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "sharp.png")), grid(expected))


def test_best_and_sharpest_together_is_a_usage_error(tiny_run, tmp_path):
    r = invoke("sample", "--sharpest", 4, "--best", 4, "--checkpoint", tiny_run, "--out",
               tmp_path / "x.png")
    assert r.exit_code == 2
    assert "give one of them" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "x.png").exists()
