"""Shared helpers: tiny runs that finish in seconds, and small generated image sets."""

import numpy as np
import pytest
from click.testing import CliRunner

from tinygan.cli import main

TINY = ["--size", "32", "--ngf", "8", "--ndf", "8", "--batch", "16", "--demo-count", "64",
        "--log-every", "2", "--device", "cpu"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def tiny_run(tmp_path):
    """A trained tiny run folder (6 steps on the demo faces)."""
    out = tmp_path / "run"
    result = invoke("train", "--data", "demo", "--steps", 6, "--out", out,
                    "--ckpt-every", 3, "--sample-every", 3, *TINY)
    assert result.exit_code == 0, result.output
    return out


def random_images(n, h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)
