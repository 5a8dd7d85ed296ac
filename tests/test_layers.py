"""Gradient checks and hand-computed examples for every layer and the loss."""

import numpy as np
import pytest
from conftest import CONV_CASES, TOL, assert_grads_ok, randomized

from tinygan.gan.checks import augmentation_cases
from tinygan.nn.gradcheck import check_loss, rel_error, run_all
from tinygan.nn.im2col import col2im, im2col
from tinygan.nn.layers import (
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    Flatten,
    LeakyReLU,
    Linear,
    ReLU,
    Reshape,
    Sequential,
    Sigmoid,
    Tanh,
)
from tinygan.nn.losses import bce_with_logits
from tinygan.nn.optim import SGD, Adam


@pytest.mark.parametrize("k,s,p,h,w,n,bias", CONV_CASES)
def test_conv2d_gradients(k, s, p, h, w, n, bias):
    x = np.random.default_rng(1).standard_normal((n, h, w, 3))
    assert_grads_ok(randomized(Conv2d(3, 2, k, s, p, bias=bias)), x)


@pytest.mark.parametrize("k,s,p,h,w,n,bias", CONV_CASES)
def test_conv_transpose2d_gradients(k, s, p, h, w, n, bias):
    h, w = max(1, h // 2), max(1, w // 2)
    x = np.random.default_rng(2).standard_normal((n, h, w, 3))
    assert_grads_ok(randomized(ConvTranspose2d(3, 4, k, s, p, bias=bias)), x)


@pytest.mark.parametrize("h,s,p,k", [(1, 1, 0, 4), (4, 2, 1, 4), (5, 2, 1, 4), (3, 3, 0, 3),
                                     (6, 1, 2, 5), (7, 2, 2, 5)])
def test_conv_transpose_output_size_and_adjointness(h, s, p, k):
    """ConvTranspose2d's output is (H-1)s - 2p + k, and it is the adjoint of Conv2d with the
    same weight: <conv(u), v> == <u, convT(v)> for every u, v."""
    rng = np.random.default_rng(3)
    convT = ConvTranspose2d(3, 2, k, s, p, bias=False).astype(np.float64)
    conv = Conv2d(2, 3, k, s, p, bias=False).astype(np.float64)
    W = rng.standard_normal(conv.params["W"].shape)
    conv.params["W"] = convT.params["W"] = W
    v = rng.standard_normal((2, h, h + 1, 3))
    y = convT.forward(v)
    out = (h - 1) * s - 2 * p + k
    assert y.shape == (2, out, (h + 1 - 1) * s - 2 * p + k, 2)
    u = rng.standard_normal(y.shape)
    cu = conv.forward(u)
    assert cu.shape == v.shape
    assert np.isclose(np.sum(cu * v), np.sum(u * y), rtol=1e-10)


def test_conv2d_hand_computed_example():
    # one 3x3 single-channel image, a 2x2 kernel, stride 1, no padding
    x = np.arange(1, 10, dtype=np.float64).reshape(1, 3, 3, 1)   # [[1,2,3],[4,5,6],[7,8,9]]
    conv = Conv2d(1, 1, 2, bias=True).astype(np.float64)
    conv.params["W"] = np.array([[1.0, 0.0], [0.0, -1.0]]).reshape(2, 2, 1, 1)
    conv.params["b"] = np.array([0.5])
    y = conv.forward(x)
    # each output = top-left - bottom-right + 0.5 = -4 + 0.5 everywhere
    np.testing.assert_allclose(y[0, :, :, 0], [[-3.5, -3.5], [-3.5, -3.5]])
    dx = conv.backward(np.ones_like(y))
    # dL/dx: +1 for each time a pixel is a top-left, -1 for each bottom-right
    np.testing.assert_allclose(dx[0, :, :, 0], [[1, 1, 0], [1, 0, -1], [0, -1, -1]])
    np.testing.assert_allclose(conv.grads["W"][:, :, 0, 0], [[12, 16], [24, 28]])
    np.testing.assert_allclose(conv.grads["b"], [4.0])


def test_conv2d_stride2_padding_hand_example():
    x = np.ones((1, 2, 2, 1))
    conv = Conv2d(1, 1, 3, stride=2, padding=1, bias=False).astype(np.float64)
    conv.params["W"] = np.arange(9, dtype=np.float64).reshape(3, 3, 1, 1)
    y = conv.forward(x)
    # one output at the top-left: the window covers padded rows/cols -1..1, inputs at (0..1)
    assert y.shape == (1, 1, 1, 1)
    assert y[0, 0, 0, 0] == 4 + 5 + 7 + 8


def test_im2col_col2im_are_adjoint():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 7, 5, 3))
    cols = im2col(x, 3, 2, 1)
    c = rng.standard_normal(cols.shape)
    assert np.isclose(np.sum(cols * c), np.sum(x * col2im(c, x.shape, 2, 1)))


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("shape", [(4, 3, 2, 3), (1, 5, 3, 2), (7, 1, 1, 4)])
def test_batchnorm_gradients(train, shape):
    bn = randomized(BatchNorm2d(shape[-1]))
    bn.buffers["running_mean"] = np.array([0.1, -0.2, 0.3, 0.0])[:shape[-1]]
    bn.buffers["running_var"] = np.array([1.5, 0.5, 2.0, 1.0])[:shape[-1]]
    x = np.random.default_rng(5).standard_normal(shape) * 2 + 1
    assert_grads_ok(bn, x, train)


def test_batchnorm_statistics_are_per_channel_and_running_update():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((8, 4, 4, 3)) * np.array([1.0, 2.0, 3.0]) + np.array([0.0, 5.0, -1.0])
    bn = BatchNorm2d(3).astype(np.float64)
    y = bn.forward(x, train=True)
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-10)
    np.testing.assert_allclose(y.var(axis=(0, 1, 2)), 1, atol=1e-3)
    m = x.reshape(-1, 3)
    np.testing.assert_allclose(bn.buffers["running_mean"], 0.1 * m.mean(0))
    np.testing.assert_allclose(bn.buffers["running_var"], 0.9 + 0.1 * m.var(0, ddof=1))
    # eval mode uses the running statistics, not the batch's
    y_eval = bn.forward(x, train=False)
    expected = (x - bn.buffers["running_mean"]) / np.sqrt(bn.buffers["running_var"] + 1e-5)
    np.testing.assert_allclose(y_eval, expected)


def test_linear_and_activation_gradients():
    rng = np.random.default_rng(7)
    for bias in (True, False):
        assert_grads_ok(randomized(Linear(5, 3, bias=bias)), rng.standard_normal((4, 5)))
    for layer in (ReLU(), LeakyReLU(0.2), LeakyReLU(0.01), Sigmoid(), Tanh(), Flatten(),
                  Reshape(2, 6)):
        assert_grads_ok(layer, rng.standard_normal((3, 4, 3)))


def test_sequential_gradients_through_a_small_net():
    net = Sequential(Conv2d(3, 4, 4, 2, 1), BatchNorm2d(4), LeakyReLU(0.2),
                     ConvTranspose2d(4, 2, 4, 2, 1), Tanh(), Flatten(), Linear(2 * 6 * 4, 1))
    rng = np.random.default_rng(8)
    for layer in net.layers:
        randomized(layer, seed=int(rng.integers(100)))
    net.astype(np.float64)
    x = rng.standard_normal((2, 6, 4, 3))
    dy = rng.standard_normal((2, 1))
    net.forward(x)
    dx = net.backward(dy)
    from tinygan.nn.gradcheck import numerical_gradient
    numeric = numerical_gradient(lambda: float(np.sum(net.forward(x) * dy)), x)
    assert rel_error(dx, numeric) < TOL


def test_backward_never_changes_weights():
    conv = randomized(Conv2d(3, 2, 3, 1, 1))
    before = conv.params["W"].copy()
    y = conv.forward(np.ones((1, 4, 4, 3)))
    conv.backward(np.ones_like(y))
    np.testing.assert_array_equal(conv.params["W"], before)


def test_requires_grad_false_skips_parameter_gradients_but_not_dx():
    conv = randomized(Conv2d(3, 2, 3, 1, 1))
    x = np.random.default_rng(2).standard_normal((1, 4, 4, 3))
    y = conv.forward(x)
    dx_trained = conv.backward(np.ones_like(y))
    conv.grads = {}
    conv.requires_grad = False
    y = conv.forward(x)
    dx = conv.backward(np.ones_like(y))
    assert conv.grads == {}
    np.testing.assert_allclose(dx, dx_trained, rtol=1e-12)


def test_float32_forward_matches_float64():
    rng = np.random.default_rng(9)
    net = Sequential(Conv2d(3, 8, 4, 2, 1), BatchNorm2d(8), LeakyReLU(0.2),
                     ConvTranspose2d(8, 3, 4, 2, 1), Tanh())
    for layer in net.layers:
        randomized(layer)
    x = rng.standard_normal((4, 8, 8, 3))
    y64 = net.astype(np.float64).forward(x)
    y32 = net.astype(np.float32).forward(x.astype(np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y64, atol=1e-5)


@pytest.mark.parametrize("targets", [1.0, 0.0, 0.9])
def test_bce_gradient(targets):
    z = np.random.default_rng(10).standard_normal((6, 1)) * 3
    assert check_loss(z, targets)["logits"] < TOL


def test_bce_soft_target_array_gradient():
    rng = np.random.default_rng(11)
    assert check_loss(rng.standard_normal((5, 1)), rng.uniform(0, 1, (5, 1)))["logits"] < TOL


def test_bce_is_stable_for_huge_logits():
    z = np.array([[1e4], [-1e4], [0.0]], dtype=np.float32)
    loss, grad = bce_with_logits(z, np.array([[1.0], [1.0], [0.0]], dtype=np.float32))
    # right answers: 0 for a confident hit, 1e4 for a confident miss, log 2 at zero
    assert np.isclose(float(loss), (0 + 1e4 + np.log(2)) / 3, rtol=1e-6)
    np.testing.assert_allclose(grad.ravel(), [0, -1 / 3, 0.5 / 3], atol=1e-7)
    assert np.all(np.isfinite(grad))


def test_adam_matches_hand_computed_step():
    lin = Linear(2, 1, bias=False).astype(np.float64)
    lin.params["W"] = np.array([[1.0], [2.0]])
    net = Sequential(lin)
    opt = Adam(net, lr=0.1, betas=(0.9, 0.999), eps=1e-8)
    lin.grads["W"] = np.array([[0.5], [-2.0]])
    opt.step()
    # first step: m_hat = g, v_hat = g^2 -> update = lr * sign(g) (up to eps)
    np.testing.assert_allclose(lin.params["W"], [[0.9], [2.1]], atol=1e-6)
    state = opt.state_dict()
    opt2 = Adam(net, lr=0.1, betas=(0.9, 0.999))
    opt2.load_state_dict(state)
    assert opt2.t == 1
    np.testing.assert_allclose(opt2.state_dict()["m/0.W"], [[0.05], [-0.2]])  # (1 - b1) g


def test_sgd_step():
    lin = Linear(2, 1, bias=False).astype(np.float64)
    lin.params["W"] = np.array([[1.0], [2.0]])
    lin.grads["W"] = np.array([[1.0], [-1.0]])
    SGD(Sequential(lin), lr=0.5).step()
    np.testing.assert_allclose(lin.params["W"], [[0.5], [2.5]])


def test_standard_gradcheck_suite_passes():
    for name, errors in run_all(augmentation_cases()):
        assert max(errors.values()) < TOL, name
