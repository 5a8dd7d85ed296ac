"""Self-attention (SAGAN): gradient checks, the layer's math by hand, where the models put it,
and a run with --attention from the command line."""

import json

import numpy as np
import pytest
from conftest import TINY, assert_grads_ok, assert_same_checkpoint, invoke, randomized

from tinygan.gan.networks import attention_side, build, forward_macs
from tinygan.gan.recipes import complete
from tinygan.nn.layers import SelfAttention
from tinygan.nn.layers.attention import softmax_last_axis
from tinygan.run import checkpoint as ckpt


def attention(channels=16, seed=0, **sizes):
    """A float64 SelfAttention with every parameter, gamma included, drawn at random."""
    return randomized(SelfAttention(channels, **sizes), seed)


@pytest.mark.parametrize("channels, sizes, shape", [
    (16, {}, (2, 3, 2, 16)),
    (8, dict(qk_channels=3, value_channels=5), (3, 2, 4, 8)),
    (4, {}, (2, 1, 1, 4)),                 # one position: attention can only take itself
    (6, dict(qk_channels=2), (1, 5, 3, 6)),
])
def test_attention_gradients(channels, sizes, shape):
    x = np.random.default_rng(1).standard_normal(shape)
    assert_grads_ok(attention(channels, **sizes), x)


def test_gamma_zero_is_the_identity():
    layer = attention()
    layer.params["gamma"][...] = 0
    x = np.random.default_rng(0).standard_normal((2, 3, 3, 16))
    np.testing.assert_array_equal(layer.forward(x), x)


def test_equal_scores_average_the_values_by_hand():
    """With no query weights every score is 0, so each position takes the mean of all values:
    y = x + gamma * mean_positions(x W_value) W_out, the same at every position."""
    layer = attention(8, qk_channels=2, value_channels=3)
    layer.params["W_query"][...] = 0
    x = np.random.default_rng(2).standard_normal((2, 4, 3, 8))
    p = layer.params
    mean_value = (x.reshape(2, 12, 8) @ p["W_value"]).mean(axis=1)        # (N, C_v)
    expected = x + p["gamma"] * (mean_value @ p["W_out"])[:, None, None, :]
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12)


def test_one_strong_match_copies_that_positions_value():
    """A query that matches one key far better than the rest takes that position's value."""
    layer = SelfAttention(2, qk_channels=1, value_channels=2).astype(np.float64)
    p = layer.params
    p["W_query"][...] = [[1.0], [0.0]]   # q = first channel
    p["W_key"][...] = [[0.0], [1.0]]     # k = second channel
    p["W_value"][...] = np.eye(2)
    p["W_out"][...] = np.eye(2)
    p["gamma"][...] = 1.0
    # position 0 asks (q = 50); position 2 has by far the largest key (k = 10)
    x = np.array([[50.0, 0.0], [0.0, 1.0], [0.0, 10.0]]).reshape(1, 1, 3, 2)
    y = layer.forward(x).reshape(3, 2)
    np.testing.assert_allclose(y[0], x.reshape(3, 2)[0] + [0.0, 10.0], atol=1e-9)
    np.testing.assert_allclose(layer.A[0].sum(axis=-1), 1.0, rtol=1e-12)


def test_softmax_survives_large_scores():
    s = np.array([[1000.0, 999.0, -1000.0]], dtype=np.float32)
    a = softmax_last_axis(s.copy())
    assert np.isfinite(a).all()
    np.testing.assert_allclose(a, [[1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1)), 0]],
                               rtol=1e-6)


def test_each_image_attends_within_itself():
    layer = attention()
    x = np.random.default_rng(3).standard_normal((4, 3, 3, 16))
    whole = layer.forward(x)
    np.testing.assert_allclose(layer.forward(x[1:2]), whole[1:2], rtol=1e-12)


def test_backward_with_requires_grad_false_still_gives_dx():
    layer = attention()
    x = np.random.default_rng(4).standard_normal((2, 2, 2, 16))
    dy = np.ones_like(x)
    layer.forward(x)
    dx = layer.backward(dy)
    layer.grads, layer.requires_grad = {}, False
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(dy), dx)
    assert layer.grads == {}


# -------------------------------------------------------------------------------- models
def attention_layers(model):
    return [(i, layer) for i, layer in enumerate(model.layers) if isinstance(layer, SelfAttention)]


@pytest.mark.parametrize("size, side", [(32, 16), (64, 16), (96, 12), (128, 16)])
def test_models_attend_on_maps_of_sixteen_or_fewer(size, side):
    assert attention_side(size) == side
    config = dict(size=size, nz=8, ngf=8, ndf=8, recipe="modern", attention=True)
    G, D = build(config, np.random.default_rng(0))
    z = np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)
    for model, x in ((G, z), (D, G.forward(z))):
        [(index, layer)] = attention_layers(model)
        assert layer.params["gamma"][0] == 0 and layer.params["W_query"].std() > 0
        for before in model.layers[:index]:
            x = before.forward(x)
        assert x.shape[1:3] == (side, side)
        assert layer.params["W_query"].shape[0] == x.shape[-1]
    assert D.forward(G.forward(z)).shape == (2, 1)


def test_networks_without_attention_have_none_and_old_configs_build_without():
    assert complete({"size": 32})["attention"] is False
    for model in build(dict(size=32, nz=8, ngf=8, ndf=8, recipe="modern")):
        assert not attention_layers(model)


def test_at_gamma_zero_the_network_is_the_dcgan_one():
    """The attention networks, with the other layers' weights copied over, start out computing
    exactly what the networks without attention compute."""
    config = dict(size=32, nz=8, ngf=8, ndf=8, recipe="modern")
    plain = build(config, np.random.default_rng(0))
    attending = build(dict(config, attention=True), np.random.default_rng(1))
    z = np.random.default_rng(2).standard_normal((4, 8)).astype(np.float32)

    def others(G, D):
        return [layer for layer in G.layers + D.layers if not isinstance(layer, SelfAttention)]

    for source, target in zip(others(*plain), others(*attending)):
        for key in source.params:
            target.params[key][...] = source.params[key]
    (G0, D0), (G1, D1) = plain, attending
    np.testing.assert_array_equal(G1.forward(z), G0.forward(z))
    np.testing.assert_array_equal(D1.forward(G1.forward(z)), D0.forward(G0.forward(z)))


def test_forward_macs_count_the_attention():
    config = dict(size=32, nz=8, ngf=8, ndf=8, recipe="modern")
    shape = (2, 8)
    G_plain, _ = build(config)
    G, _ = build(dict(config, attention=True))
    # at 16 x 16 with C = 8: C_qk = 1, C_v = 4; per position 8 * (2 + 4) + 4 * 8 projections
    # and 256 * (1 + 4) for the scores and the mix
    per_image = 256 * (8 * 6 + 32 + 256 * 5)
    assert forward_macs(G, shape) - forward_macs(G_plain, shape) == 2 * per_image


# ------------------------------------------------------------------------------------ CLI
def test_an_attention_run_trains_resumes_and_samples(tmp_path):
    """It trains, resumes exactly where the same run without a break would be, and samples."""
    out, straight = tmp_path / "run", tmp_path / "straight"
    result = invoke("train", "--data", "demo", "--steps", 2, "--out", out, "--attention", *TINY)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["attention"] is True
    arrays, _ = ckpt.load(ckpt.list_checkpoints(out)[-1])
    gammas = [key.replace("W_query", "gamma") for key in arrays if key.endswith("W_query")
              and not key.startswith("opt")]
    assert sorted(g.split("/")[0] for g in gammas) == ["D", "G", "G_ema"]
    assert all(arrays[g][0] != 0 for g in gammas)   # trained away from the identity
    result = invoke("train", "--resume", out, "--more-steps", 1, "--device", "cpu")
    assert result.exit_code == 0, result.output
    result = invoke("train", "--data", "demo", "--steps", 3, "--out", straight, "--attention",
                    *TINY)
    assert result.exit_code == 0, result.output
    assert_same_checkpoint(out / "ckpt_00000003.npz", straight / "ckpt_00000003.npz")
    result = invoke("sample", "--checkpoint", out, "-n", 4, "--best", 4,
                    "--out", tmp_path / "s.png", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s.png").stat().st_size > 0


def test_help_explains_attention():
    result = invoke("train", "--help")
    assert "--attention / --no-attention" in result.output and "self-attention" in result.output
