"""The generator that ships inside the package: it loads, it draws varied faces, and it is
what `tinygan sample` uses when there is no run of one's own."""

import os

import numpy as np
from conftest import invoke

from tinygan import checkpoint as ckpt
from tinygan.generate import PRETRAINED, generate, latent, load_generator


def test_pretrained_generator_ships_and_is_small():
    assert os.path.exists(PRETRAINED)
    assert os.path.getsize(PRETRAINED) < 8 * 2**20
    arrays, meta = ckpt.load(PRETRAINED)
    assert meta["config"]["size"] == 64 and "model_card" in meta
    assert all(v.dtype == np.float16 for v in arrays.values())


def test_pretrained_faces_are_varied_not_collapsed():
    G, _, meta = load_generator(PRETRAINED)
    faces = generate(G, latent(0, 16, meta["config"]["nz"])).astype(np.float32)
    assert faces.shape == (16, 64, 64, 3)
    # every pair of faces differs clearly (no mode collapse), and faces are not flat colour
    diffs = [np.abs(faces[i] - faces[j]).mean() for i in range(16) for j in range(i + 1, 16)]
    assert min(diffs) > 10
    assert faces.std(axis=(1, 2)).mean() > 20


def test_sample_without_a_run_uses_the_shipped_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = invoke("sample", "-n", 4, "--out", "faces.png", "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert "pretrained" in r.output and (tmp_path / "faces.png").exists()
