"""The layers of a modern GAN recipe: spectral normalisation, the hinge loss, DiffAugment and
the minibatch standard deviation. Gradient checks, hand-computed examples, and the properties
each one promises."""

import numpy as np
import pytest
from conftest import TOL, assert_grads_ok, randomized

from tinygan.gan.augment import (
    Brightness,
    Contrast,
    Cutout,
    DiffAugment,
    Saturation,
    Translation,
    shift,
)
from tinygan.nn import backend
from tinygan.nn.gradcheck import HINGE_LOGITS, check_loss_function
from tinygan.nn.layers import (
    Conv2d,
    ConvTranspose2d,
    Flatten,
    LeakyReLU,
    Linear,
    MinibatchStd,
    PixelNorm,
    Sequential,
    SpectralNorm,
)
from tinygan.nn.losses import hinge_d, hinge_g
from tinygan.nn.optim import Adam

# ------------------------------------------------------------------------ spectral norm
SN_CASES = [  # (layer factory, input shape)
    (lambda: Conv2d(3, 4, 3, 1, 1), (2, 5, 6, 3)),
    (lambda: Conv2d(3, 4, 4, 2, 1, bias=False), (2, 6, 6, 3)),
    (lambda: Conv2d(2, 1, 4, 1, 0), (3, 4, 4, 2)),        # D's last layer: one output channel
    (lambda: Linear(6, 4), (3, 6)),
    (lambda: Linear(5, 7, bias=False), (2, 5)),
]


def spectral_norm(factory, shape, seed=0, steps=3):
    """A float64 SpectralNorm around a random layer, after `steps` training passes."""
    sn = SpectralNorm(randomized(factory(), seed)).astype(np.float64)
    x = np.random.default_rng(seed + 1).standard_normal(shape)
    for _ in range(steps):
        sn.forward(x, train=True)
    return sn, x


def reference(factory, W, b=None):
    """The plain layer with the given weights, in float64."""
    layer = factory().astype(np.float64)
    layer.params["W"] = W.copy()
    if b is not None:
        layer.params["b"] = b.copy()
    return layer


@pytest.mark.parametrize("factory,shape", SN_CASES)
def test_spectral_norm_gradients(factory, shape):
    """Checked in eval mode, where u and v stay fixed between the finite differences."""
    sn, x = spectral_norm(factory, shape)
    u = sn.buffers["u"].copy()
    assert_grads_ok(sn, x, train=False)
    np.testing.assert_array_equal(sn.buffers["u"], u)


@pytest.mark.parametrize("factory,shape", SN_CASES[:1] + SN_CASES[3:4])
def test_train_mode_backward_is_the_checked_gradient(factory, shape):
    """Train mode moves u and v, then backpropagates with them held constant: its gradients are
    the eval-mode ones at the new u and v, the ones the gradient check verifies."""
    sn, x = spectral_norm(factory, shape, steps=1)
    dy = np.random.default_rng(5).standard_normal(sn.forward(x, train=False).shape)
    u_before = sn.buffers["u"].copy()
    sn.forward(x, train=True)
    assert not np.allclose(sn.buffers["u"], u_before)     # the power iteration moved u
    dx_train = sn.backward(dy)
    grads_train = {k: v.copy() for k, v in sn.grads.items()}
    sn.forward(x, train=False)
    dx_eval = sn.backward(dy)
    np.testing.assert_allclose(dx_train, dx_eval, rtol=1e-12)
    for key in sn.params:
        np.testing.assert_allclose(grads_train[key], sn.grads[key], rtol=1e-12)


@pytest.mark.parametrize("factory,shape", SN_CASES)
def test_sigma_converges_to_the_largest_singular_value(factory, shape):
    sn, x = spectral_norm(factory, shape, steps=0)
    sn.n_power_iterations = 500
    sn.forward(x, train=True)
    W = sn.params["W"]
    M = W.reshape(-1, W.shape[-1]).T                       # (C_out, rest), as PyTorch's dim 0
    assert M.shape[0] == W.shape[-1]
    np.testing.assert_allclose(float(sn.sigma()), np.linalg.norm(M, 2), rtol=1e-8)
    # and u, v are then the top singular vectors (up to sign)
    U, _, Vt = np.linalg.svd(M)
    assert abs(abs(sn.buffers["u"] @ U[:, 0]) - 1) < 1e-6
    assert abs(abs(sn.buffers["v"] @ Vt[0]) - 1) < 1e-6


@pytest.mark.parametrize("factory,shape", SN_CASES)
@pytest.mark.parametrize("train", [True, False])
def test_forward_is_the_wrapped_layer_with_w_over_sigma(factory, shape, train):
    sn, x = spectral_norm(factory, shape, steps=2)
    W_stored = sn.params["W"]
    W_before = W_stored.copy()
    y = sn.forward(x, train)
    sigma = float(sn.sigma())
    expected = reference(factory, W_before / sigma, sn.params.get("b")).forward(x)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    assert sn.params["W"] is W_stored                       # the stored W is not replaced
    np.testing.assert_array_equal(sn.params["W"], W_before)


def test_spectral_norm_by_hand():
    """W = [[3, 0], [0, 1]] has singular values 3 and 1: the layer computes x @ W / 3."""
    lin = Linear(2, 2, bias=False).astype(np.float64)
    lin.params["W"] = np.array([[3.0, 0.0], [0.0, 1.0]])
    sn = SpectralNorm(lin, n_power_iterations=30)
    y = sn.forward(np.array([[1.0, 1.0], [3.0, -6.0]]), train=True)
    np.testing.assert_allclose(y, [[1.0, 1 / 3], [3.0, -2.0]], rtol=1e-12)
    np.testing.assert_allclose(np.abs(sn.buffers["u"]), [1.0, 0.0], atol=1e-12)


def test_eval_mode_keeps_u_and_v_and_the_last_sigma():
    sn, x = spectral_norm(*SN_CASES[0], steps=1)
    y_train = sn.forward(x, train=True)
    u, v = sn.buffers["u"].copy(), sn.buffers["v"].copy()
    y_eval = sn.forward(x, train=False)
    np.testing.assert_array_equal(sn.buffers["u"], u)
    np.testing.assert_array_equal(sn.buffers["v"], v)
    np.testing.assert_allclose(y_eval, y_train, rtol=1e-12)   # same u, v, so the same sigma


def test_spectral_norm_requires_grad_false_still_gives_dx():
    sn, x = spectral_norm(*SN_CASES[0])
    dy = np.ones_like(sn.forward(x, train=False))
    dx_with = sn.backward(dy)
    sn.grads, sn.requires_grad = {}, False
    sn.forward(x, train=False)
    np.testing.assert_allclose(sn.backward(dy), dx_with)
    assert sn.grads == {}


def test_spectral_norm_refuses_layers_it_has_no_matrix_for():
    with pytest.raises(TypeError, match="Conv2d or a Linear"):
        SpectralNorm(ConvTranspose2d(4, 3, 4, 2, 1))


def small_discriminator():
    rng = np.random.default_rng(3)
    model = Sequential(SpectralNorm(Conv2d(3, 4, 4, 2, 1)), LeakyReLU(0.2), Flatten(),
                       SpectralNorm(Linear(4 * 4 * 4, 1)))
    for _, layer, key in model.parameters():
        layer.params[key][...] = rng.normal(0, 0.3, layer.params[key].shape)
    return model


def test_sequential_lists_a_wrapped_layers_parameters_once():
    model = small_discriminator()
    assert [name for name, _, _ in model.parameters()] == ["0.W", "0.b", "3.W", "3.b"]
    assert model.num_parameters() == (4 * 4 * 3 * 4 + 4) + (64 + 1)
    flat = model.flat_parameters()
    assert flat.size == model.num_parameters()
    assert np.shares_memory(flat, model.layers[0].params["W"])
    assert set(model.state_dict()) == {"0.W", "0.b", "0.u", "0.v", "3.W", "3.b", "3.u", "3.v"}


def test_adam_updates_the_raw_weight_in_the_flat_array():
    model = small_discriminator()
    sn = model.layers[0]
    flat = model.flat_parameters()
    x = np.random.default_rng(4).standard_normal((2, 8, 8, 3)).astype(np.float32)
    model.forward(x, train=True)
    model.backward(np.ones((2, 1), dtype=np.float32) / 2, input_grad=False)
    g = model.flat_gradients()
    # the gradient gathered for 0.W is dL/dW (through sigma), not the inner layer's dL/dW_sn
    np.testing.assert_array_equal(g[:sn.params["W"].size], sn.grads["W"].reshape(-1))
    assert not np.allclose(sn.grads["W"], sn.layer.grads["W"])
    before = flat.copy()
    lr = 1e-2
    Adam(model, lr=lr, betas=(0.0, 0.9)).step()
    # Adam's first step, bias-corrected, is p - lr * g / (|g| + eps): about lr * sign(g)
    expected = before - lr * g / (np.abs(g) + 1e-8)
    np.testing.assert_allclose(flat, expected, rtol=1e-5, atol=1e-7)
    assert model.flat_parameters() is flat                  # no layer replaced its array
    assert np.shares_memory(flat, sn.params["W"])
    W_expected = expected[:sn.params["W"].size].reshape(sn.params["W"].shape)
    np.testing.assert_allclose(sn.params["W"], W_expected, rtol=1e-5, atol=1e-7)
    assert np.abs(sn.params["W"] - before[:W_expected.size].reshape(W_expected.shape)).max() \
        == pytest.approx(lr, rel=1e-3)
    # the next forward normalises the updated raw weight
    sn.forward(x, train=False)
    np.testing.assert_allclose(sn.W_sn, sn.params["W"] / sn.sigma(), rtol=1e-6)


def test_input_grad_false_gives_the_same_weight_gradients():
    model = small_discriminator()
    x = np.random.default_rng(4).standard_normal((2, 8, 8, 3)).astype(np.float32)
    dy = np.ones((2, 1), dtype=np.float32)
    model.forward(x, train=False)
    assert model.backward(dy).shape == x.shape
    full = model.flat_gradients().copy()
    for _, layer, key in model.parameters():   # so the second pass must write them all again
        layer.grads[key][...] = np.nan
    model.forward(x, train=False)
    assert model.backward(dy, input_grad=False) is None    # SpectralNorm has backward_params
    np.testing.assert_allclose(model.flat_gradients(), full, rtol=1e-6)


def test_checkpoint_round_trip_keeps_u_and_v():
    model = small_discriminator()
    x = np.random.default_rng(4).standard_normal((2, 8, 8, 3)).astype(np.float32)
    model.forward(x, train=True)
    state = model.state_dict()
    copy = small_discriminator()
    copy.load_state_dict(state)
    np.testing.assert_array_equal(copy.forward(x, train=False), model.forward(x, train=False))


# ------------------------------------------------------------------------------ hinge loss
def test_hinge_by_hand():
    z = np.array([[-2.0], [-0.5], [0.3], [1.5]])
    loss, grad = hinge_d(z, real=True)      # relu(1 - z) = 3, 1.5, 0.7, 0
    assert float(loss) == pytest.approx(1.3)
    np.testing.assert_array_equal(grad, [[-0.25], [-0.25], [-0.25], [0.0]])
    loss, grad = hinge_d(z, real=False)     # relu(1 + z) = 0, 0.5, 1.3, 2.5
    assert float(loss) == pytest.approx(1.075)
    np.testing.assert_array_equal(grad, [[0.0], [0.25], [0.25], [0.25]])
    loss, grad = hinge_g(z)                 # -mean(z) = -(-0.7 / 4)
    assert float(loss) == pytest.approx(0.175)
    np.testing.assert_array_equal(grad, np.full((4, 1), -0.25))


@pytest.mark.parametrize("name,loss_fn", [
    ("real", lambda z: hinge_d(z, real=True)),
    ("fake", lambda z: hinge_d(z, real=False)),
    ("G", hinge_g),
])
def test_hinge_gradients(name, loss_fn):
    z = np.random.default_rng(2).standard_normal((6, 1)) * 2
    z = np.where(np.abs(np.abs(z) - 1) < 0.05, z + 0.1, z)     # away from the kinks
    for logits in (HINGE_LOGITS, z):
        assert check_loss_function(loss_fn, logits)["logits"] < TOL, name


def test_hinge_keeps_shape_and_dtype():
    z = np.array([[0.5], [-3.0]], dtype=np.float32)
    for loss, grad in (hinge_d(z, True), hinge_d(z, False), hinge_g(z)):
        assert np.shape(loss) == () and grad.shape == z.shape and grad.dtype == np.float32


# ---------------------------------------------------------------------------- DiffAugment
AUGMENTATIONS = [Brightness, Saturation, Contrast, Translation, Cutout, DiffAugment]


def images(shape=(3, 8, 8, 3), seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape)


@pytest.mark.parametrize("kind", AUGMENTATIONS)
@pytest.mark.parametrize("shape", [(2, 4, 4, 3), (3, 6, 5, 2)])
def test_augmentation_gradients(kind, shape):
    op = kind()
    op.resample(np.random.default_rng(7), shape)
    assert_grads_ok(op, images(shape))


def test_brightness_adds_one_number_per_image():
    x = images()
    y = Brightness().augment(x, np.random.default_rng(0))
    offsets = (y - x).reshape(len(x), -1)
    np.testing.assert_allclose(offsets, offsets[:, :1] * np.ones_like(offsets), atol=1e-12)
    assert np.all(np.abs(offsets) < 0.5) and np.ptp(offsets[:, 0]) > 0


def test_saturation_keeps_the_grey_level():
    x = images()
    op = Saturation()
    y = op.augment(x, np.random.default_rng(0))
    np.testing.assert_allclose(y.mean(axis=3), x.mean(axis=3), atol=1e-12)
    op.scale = np.zeros((3, 1, 1, 1))                       # saturation 0: grey images
    grey = op.forward(x)
    np.testing.assert_allclose(grey, np.repeat(x.mean(axis=3, keepdims=True), 3, axis=3))


def test_contrast_scales_deviations_from_the_image_mean():
    x = images()
    op = Contrast()
    y = op.augment(x, np.random.default_rng(0))
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(y.mean(axis=(1, 2, 3), keepdims=True), mean, atol=1e-12)
    np.testing.assert_allclose(y - mean, op.scale * (x - mean), atol=1e-12)
    assert np.all((op.scale >= 0.5) & (op.scale <= 1.5))


def test_translation_by_hand():
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    y = shift(x, np.array([1]), np.array([-1]))             # y[i, j] = x[i + 1, j - 1]
    np.testing.assert_array_equal(y[0, :, :, 0], [[0, 4, 5, 6],
                                                  [0, 8, 9, 10],
                                                  [0, 12, 13, 14],
                                                  [0, 0, 0, 0]])
    op = Translation()
    op.dr, op.dc = np.array([1]), np.array([-1])
    dy = np.arange(16.0).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(op.backward(dy)[0, :, :, 0], [[0, 0, 0, 0],
                                                                [1, 2, 3, 0],
                                                                [5, 6, 7, 0],
                                                                [9, 10, 11, 0]])


def test_translation_shifts_each_image_by_at_most_an_eighth():
    op = Translation()
    op.resample(np.random.default_rng(0), (200, 16, 24, 3))
    assert set(op.dr) == {-2, -1, 0, 1, 2} and set(op.dc) == {-3, -2, -1, 0, 1, 2, 3}
    x = images((200, 16, 24, 3))
    y = op.forward(x)
    for n in (0, 1, 2):   # each image is its own shift of x
        np.testing.assert_array_equal(y[n], shift(x[n:n + 1], op.dr[n:n + 1], op.dc[n:n + 1])[0])


def test_cutout_zeroes_one_square_of_half_the_size_per_image():
    x = images((100, 8, 6, 3)) + 2                          # no pixel is 0 before the cutout
    op = Cutout()
    y = op.augment(x, np.random.default_rng(0))
    full_squares = 0
    for n in range(len(y)):
        zero = y[n] == 0
        assert np.all(zero == zero[..., :1])                # every channel alike
        rows, cols = np.nonzero(zero[..., 0])
        assert 0 < len(rows)
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert height <= 4 and width <= 3 and len(rows) == height * width   # one rectangle
        full_squares += (height, width) == (4, 3)
    assert 20 < full_squares < 100                          # some clipped at the border
    np.testing.assert_array_equal(y[y != 0], x[y != 0])


def test_diffaugment_is_seeded_and_draws_anew_per_batch():
    x = images()
    first, second = DiffAugment(), DiffAugment()
    y1 = first.augment(x, np.random.default_rng(0))
    np.testing.assert_array_equal(second.augment(x, np.random.default_rng(0)), y1)
    rng = np.random.default_rng(0)
    real, fake = DiffAugment().augment(x, rng), DiffAugment().augment(x, rng)
    assert not np.allclose(real, fake)                      # each batch its own draws


def test_diffaugment_backward_is_the_ops_in_reverse():
    x, dy = images(), images(seed=1)
    augment = DiffAugment()
    augment.augment(x, np.random.default_rng(0))
    expected = dy
    for op in reversed(augment.ops):
        expected = op.backward(expected)
    np.testing.assert_array_equal(augment.backward(dy), expected)
    assert [type(op) for op in augment.ops] == [Brightness, Saturation, Contrast, Translation,
                                                Cutout]


def test_diffaugment_policies():
    assert [type(op) for op in DiffAugment("translation").ops] == [Translation]
    x = images()
    np.testing.assert_array_equal(DiffAugment("").augment(x, np.random.default_rng(0)), x)
    with pytest.raises(ValueError, match="unknown DiffAugment policy"):
        DiffAugment("color,flip")


# ------------------------------------------------------------------- minibatch std. dev.
def test_minibatch_std_by_hand():
    x = np.array([1.0, 3.0]).reshape(2, 1, 1, 1)            # std over the batch: 1
    y = MinibatchStd(eps=0.0).forward(x)
    np.testing.assert_array_equal(y.reshape(2, 2), [[1.0, 1.0], [3.0, 1.0]])
    x = np.array([[0.0, 2.0], [0.0, 6.0]]).reshape(2, 1, 1, 2)   # stds 0 and 2: mean 1
    y = MinibatchStd(eps=0.0).forward(x)
    np.testing.assert_array_equal(y[..., 2].reshape(-1), [1.0, 1.0])


def test_minibatch_std_groups_are_neighbours():
    x = np.random.default_rng(0).standard_normal((4, 2, 2, 3))
    x[3] = x[2]                                              # group 1 (images 2, 3): identical
    y = MinibatchStd(group_size=2).forward(x)
    np.testing.assert_allclose(y[[2, 3], ..., 3], 1e-4)      # sqrt(eps)
    assert np.all(y[[0, 1], ..., 3] > 0.1)
    # a batch split into halves gives each half's groups the same values
    halves = [MinibatchStd(group_size=2).forward(x[i:i + 2]) for i in (0, 2)]
    np.testing.assert_allclose(np.concatenate(halves), y, rtol=1e-12)
    np.testing.assert_array_equal(y[..., :3], x)
    with pytest.raises(ValueError, match="groups of 3"):
        MinibatchStd(group_size=3).forward(x)


@pytest.mark.parametrize("group_size,shape", [(None, (4, 3, 2, 3)), (2, (6, 2, 3, 2)),
                                              (3, (6, 1, 1, 4)), (8, (2, 2, 2, 1))])
def test_minibatch_std_gradients(group_size, shape):
    x = np.random.default_rng(1).standard_normal(shape)
    assert_grads_ok(MinibatchStd(group_size), x)


# ---------------------------------------------------------------------------- pixel norm
def test_pixel_norm_by_hand():
    x = np.array([3.0, 4.0, 0.0, 0.0, 1.0, -1.0]).reshape(1, 1, 3, 2)   # three pixels
    y = PixelNorm(eps=0.0).forward(x[:, :, [0, 2]])   # without eps, the zero pixel is 0/0
    # (3, 4): mean square 12.5; (1, -1): 1; (0, 0) stays 0 with eps > 0
    np.testing.assert_allclose(y.reshape(2, 2), [[3 / 12.5 ** 0.5, 4 / 12.5 ** 0.5],
                                                 [1.0, -1.0]])
    np.testing.assert_array_equal(PixelNorm().forward(x).reshape(3, 2)[1], [0.0, 0.0])


def test_pixel_norm_is_per_image_and_pixel():
    """Unit mean square at every pixel, whatever the scale, and no dependence on the batch."""
    x = np.random.default_rng(0).standard_normal((4, 3, 3, 5)) * [[[[1], [10], [0.1]]]]
    y = PixelNorm(eps=0.0).forward(x)
    np.testing.assert_allclose((y * y).mean(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(PixelNorm(eps=0.0).forward(x[2:3]), y[2:3], rtol=1e-12)


@pytest.mark.parametrize("shape", [(2, 3, 2, 4), (3, 1, 1, 7), (2, 5)])
def test_pixel_norm_gradients(shape):
    x = np.random.default_rng(2).standard_normal(shape)
    assert_grads_ok(PixelNorm(), x)


# -------------------------------------------------------------------------------- devices
def test_new_layers_match_numpy_on_the_gpu(gpu):
    """The same numbers on the device as on the host (the randomness is drawn on the host)."""
    x = np.random.default_rng(0).uniform(-1, 1, (4, 8, 8, 3)).astype(np.float32)
    dy = np.random.default_rng(1).standard_normal((4, 1)).astype(np.float32)
    results = {}
    for device in ("cpu", "gpu"):
        model = small_discriminator().to(device)
        augment = DiffAugment()
        images_on = backend.to_device(x, device)
        seen = augment.augment(images_on, np.random.default_rng(0))
        std = MinibatchStd(2).forward(seen)
        logits = model.forward(seen, train=True)
        loss, dlogits = hinge_d(logits, real=False)
        dx = augment.backward(model.backward(backend.to_device(dy, device) + dlogits))
        dstd = MinibatchStd(2)
        dstd.forward(seen)
        results[device] = [backend.to_host(a) for a in (
            seen, std, logits, loss, dx, dstd.backward(std), model.flat_gradients(),
            model.layers[0].buffers["u"], hinge_g(logits)[1])]
        assert backend.device_of(dx) == device
    for name, cpu, on_gpu in zip("augmented std logits loss dx dstd grads u dg".split(),
                                 results["cpu"], results["gpu"]):
        np.testing.assert_allclose(on_gpu, cpu, rtol=1e-4, atol=1e-5, err_msg=name)
