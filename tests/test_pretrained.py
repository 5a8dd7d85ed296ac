"""The models that ship inside the package: they load, they draw varied faces, they carry
the discriminator `--best` needs and a model card, and `--model` picks them in every command
that draws or scores faces."""

import json
import os

import numpy as np
import pytest
from conftest import invoke
from PIL import Image

from tinygan.draw.generate import SHIPPED, generate, latent, load_generator, shipped_model
from tinygan.run import checkpoint as ckpt


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_is_small_and_has_a_card(name):
    path = shipped_model(name)
    assert os.path.getsize(path) < 12 * 2**20    # G and D, float16, deflated
    arrays, meta = ckpt.load(path)
    assert meta["config"]["size"] == 64 and "model_card" in meta
    assert all(v.dtype == np.float16 for v in arrays.values())
    assert any(k.startswith("D/") for k in arrays)          # for --best
    card = os.path.join(os.path.dirname(path), f"{name}.md")
    text = open(card).read()
    for fact in ("Data", "Recipe", "Training", "Hardware", "SWD", "floor", "licen"):
        assert fact.lower() in text.lower(), fact


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_faces_are_varied_not_collapsed(name):
    G, D, meta = load_generator(shipped_model(name), with_discriminator=True)
    faces = generate(G, latent(0, 16, meta["config"]["nz"])).astype(np.float32)
    assert faces.shape == (16, 64, 64, 3)
    # every pair of faces differs clearly (no mode collapse), and faces are not flat colour
    diffs = [np.abs(faces[i] - faces[j]).mean() for i in range(16) for j in range(i + 1, 16)]
    assert min(diffs) > 10
    assert faces.std(axis=(1, 2)).mean() > 20
    # D, with the batch statistics `--best` scores with, rates G's faces above the same
    # faces with their pixels scrambled (same colours, no face)
    x = faces / 127.5 - 1
    order = np.random.default_rng(0).permutation(64 * 64)
    scrambled = np.ascontiguousarray(x.reshape(16, -1, 3)[:, order].reshape(x.shape))
    assert D.forward(x, train=True).mean() > D.forward(scrambled, train=True).mean() + 1


def test_sample_without_a_run_uses_the_anime_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = invoke("sample", "-n", 4, "--out", "faces.png", "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert "anime.npz" in r.output and (tmp_path / "faces.png").exists()


@pytest.mark.parametrize("name", SHIPPED)
def test_model_picks_a_shipped_model_in_sample_interpolate_and_eval(name, tmp_path):
    r = invoke("sample", "-n", 4, "--best", 4, "--model", name, "--out", tmp_path / "s.png",
               "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert f"{name}.npz" in r.output
    r = invoke("interpolate", 1, 2, "--frames", 3, "--model", name, "--out",
               tmp_path / "walk.gif", "--device", "cpu")
    assert r.exit_code == 0 and f"{name}.npz" in r.output, r.output
    r = invoke("eval", "--model", name, "--data", "demo", "-n", 16, "--device", "cpu")
    assert r.exit_code == 0 and f"{name}.npz" in r.output, r.output


def test_sample_refuses_a_count_that_disagrees_with_best_or_sharpest(tiny_run, tmp_path):
    out = tmp_path / "x.png"
    _expect_usage_error(invoke("sample", "-n", 16, "--best", 8, "--checkpoint", tiny_run,
                               "--out", out), "disagree")
    _expect_usage_error(invoke("sample", "-n", 4, "--sharpest", 2, "--checkpoint", tiny_run,
                               "--out", out), "disagree")
    assert not out.exists()
    r = invoke("sample", "-n", 4, "--sharpest", 4, "--checkpoint", tiny_run, "--out", out,
               "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert Image.open(out).size == (2 * 34 + 2, 2 * 34 + 2)   # 2 x 2 faces of 32 px


def test_model_and_checkpoint_together_are_refused(tiny_run, tmp_path):
    _expect_usage_error(invoke("sample", "--model", "anime", "--checkpoint", tiny_run,
                               "--out", tmp_path / "x.png"), "not both")
    _expect_usage_error(invoke("info", tiny_run, "--model", "human"), "not both")


@pytest.mark.parametrize("name", SHIPPED)
def test_info_prints_a_shipped_models_card(name):
    r = invoke("info", "--model", name)
    assert r.exit_code == 0, r.output
    assert f"{name}.npz" in r.output and "model_card:" in r.output
    card = load_generator(shipped_model(name))[2]["model_card"]
    assert json.dumps(card["name"]) in r.output


def _expect_usage_error(result, text):
    assert result.exit_code == 2, result.output
    assert text in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("n, parts", [(25, [48, 52]), (41, [56, 52, 56]), (7, [28]),
                                      (1, [4])])
def test_best_of_works_with_a_minibatch_std_discriminator(n, parts):
    """D's minibatch-std channel takes groups of 4 images: 4n faces, cut into round(4n / 64)
    nearly equal parts for D's batch statistics, must be cut at whole groups (100 = 48 + 52,
    not 50 + 50). The expected faces are ranked here, part by part, by D's own scores, not by
    discriminator_scores, which best_of itself calls."""
    from tinygan.data.images import to_uint8
    from tinygan.draw.generate import best_of
    from tinygan.gan.networks import build
    G, D = build(dict(size=32, nz=8, ngf=8, ndf=8, mbstd=True), np.random.default_rng(0))
    z = np.random.default_rng(1).standard_normal((4 * n, 8)).astype(np.float32)
    assert sum(parts) == 4 * n and all(size % 4 == 0 for size in parts)
    faces, scores = [], []
    for part in np.split(z, np.cumsum(parts)[:-1]):
        x = G.forward(part, train=False).copy()
        faces.append(to_uint8(x))
        scores.append(D.forward(x, train=True).ravel().copy())
    faces, scores = np.concatenate(faces), np.concatenate(scores)
    best = best_of(G, D, z, n)
    assert len(best) == n
    np.testing.assert_array_equal(best, faces[np.argsort(-scores)[:n]])


def test_best_of_ranks_by_d_with_the_batch_statistics_of_each_64_faces():
    """best_of returns the faces in the order D's scores give when D normalises each batch of
    64 generated faces with that batch's statistics, as in training, not with its running
    statistics (which rank them differently here)."""
    from tinygan.data.images import to_uint8
    from tinygan.draw.generate import STATISTICS_BATCH, best_of
    from tinygan.gan.networks import build
    G, D = build(dict(size=32, nz=8, ngf=8, ndf=8), np.random.default_rng(0))
    z = np.random.default_rng(1).standard_normal((2 * STATISTICS_BATCH, 8)).astype(np.float32)
    faces, train_scores, eval_scores = [], [], []
    for part in (z[:STATISTICS_BATCH], z[STATISTICS_BATCH:]):
        x = G.forward(part, train=False).copy()
        faces.append(to_uint8(x))
        train_scores.append(D.forward(x, train=True).ravel().copy())
        eval_scores.append(D.forward(x, train=False).ravel().copy())
    train_order = np.argsort(-np.concatenate(train_scores))[:10]
    eval_order = np.argsort(-np.concatenate(eval_scores))[:10]
    assert list(train_order) != list(eval_order)   # the test can tell the two apart
    best = best_of(G, D, z, 10)
    np.testing.assert_array_equal(best, np.concatenate(faces)[train_order])
