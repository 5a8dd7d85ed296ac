"""The R1 penalty's weight gradient, taken as a finite difference of two weight gradients
(tinygan/gan/penalty.py): in float64 with a tiny step it is R1's exact gradient; at the training
step it is the exact gradient of D's rise along g over the step (the secant penalty S)."""

import numpy as np
import pytest

from tinygan.gan.networks import discriminator
from tinygan.gan.penalty import STEP, r1_gradient
from tinygan.gan.step import GAN
from tinygan.nn.dcgan_init import dcgan_init
from tinygan.nn.gradcheck import numerical_gradient, rel_error

REAL = np.random.default_rng(1).uniform(-1, 1, (4, 32, 32, 3))


def small_discriminator(norm="batchnorm", fast=False, mbstd=False, seed=0):
    """A float64 D for 32 px images. With spectral norm its u and v are converged first: the
    layer's backward holds them constant, which is the derivative only at convergence."""
    D = discriminator(32, ndf=4, fast=fast, norm=norm, mbstd=mbstd)
    dcgan_init(D, np.random.default_rng(seed))
    D.astype(np.float64)
    power = [layer for layer in D.layers if hasattr(layer, "n_power_iterations")]
    for layer in power:
        layer.n_power_iterations = 2000
    D.forward(REAL)
    for layer in power:
        layer.n_power_iterations = 1
    return D


class Fixed:
    """Evaluates a function of D's weights from the same buffers each time (spectral norm's
    power iteration moves u on every train-mode pass)."""

    def __init__(self, D):
        self.D = D
        self.saved = [(layer, {k: v.copy() for k, v in layer.buffers.items()})
                      for layer in D.layers]

    def __call__(self, x):
        for layer, saved in self.saved:
            layer.buffers.update({k: v.copy() for k, v in saved.items()})
        return self.D.forward(x)

    def slope(self, x):
        """g = d(sum of logits)/dx."""
        self.D.set_requires_grad(False)
        logits = self(x)
        return self.D.backward(np.ones_like(logits)).copy()


def picked(D, f, count=40, seed=2):
    """f's numerical gradient with respect to `count` of D's weights, and their indices."""
    flat = D.flat_parameters()
    picks = np.random.default_rng(seed).choice(flat.size, count, replace=False)
    numerical = []
    for i in picks:
        weight = flat[i:i + 1]    # a view: numerical_gradient perturbs it in place
        numerical.append(numerical_gradient(f, weight, h=1e-6)[0])
    assert np.abs(numerical).max() > 1e-3        # the check is not of zeros
    return picks, np.array(numerical)


@pytest.mark.parametrize("norm, mbstd", [("batchnorm", False), ("spectral", True)])
def test_with_a_tiny_step_it_is_r1s_gradient(norm, mbstd):
    D, gamma = small_discriminator(norm, mbstd=mbstd), 3.0
    fixed = Fixed(D)
    r1 = lambda: gamma / 2 * float((fixed.slope(REAL) ** 2).sum()) / len(REAL)  # noqa: E731
    value, grad = r1_gradient(D, REAL, gamma, step=1e-6)
    assert value == pytest.approx(r1(), rel=1e-12)
    picks, numerical = picked(D, r1)
    assert rel_error(grad[picks], numerical) < 1e-5


def test_at_the_training_step_it_is_the_gradient_of_ds_rise_along_g():
    D, gamma = small_discriminator(), 2.0
    fixed = Fixed(D)
    g = fixed.slope(REAL)
    e = STEP / np.sqrt((g ** 2).mean())

    def rise():
        return gamma / (2 * e * len(REAL)) * float(fixed(REAL + e * g).sum()
                                                   - fixed(REAL - e * g).sum())
    _, grad = r1_gradient(D, REAL, gamma)
    picks, numerical = picked(D, rise)
    assert rel_error(grad[picks], numerical) < 1e-5
    # and in float32, as training runs, it is the same gradient to float32's precision
    _, grad32 = r1_gradient(D.astype(np.float32), REAL.astype(np.float32), gamma)
    assert np.linalg.norm(grad32 - grad) < 1e-4 * np.linalg.norm(grad)


def test_the_fast_discriminator_gets_the_same_gradient():
    slow, fast = small_discriminator(fast=False), small_discriminator(fast=True)
    value_slow, grad_slow = r1_gradient(slow, REAL, 1.0)
    value_fast, grad_fast = r1_gradient(fast, REAL, 1.0)
    assert value_fast == pytest.approx(value_slow, rel=1e-10)
    assert rel_error(grad_fast, grad_slow) < 1e-6


@pytest.mark.parametrize("norm", ["batchnorm", "spectral"])
def test_the_penalty_leaves_d_as_it_was(norm):
    """BatchNorm's running statistics and spectral norm's u and v are as before: the three
    passes of the penalty are not training passes."""
    D = small_discriminator(norm)
    before = {k: v.copy() for k, v in D.state_dict().items()}
    r1_gradient(D, REAL, 1.0)
    after = D.state_dict()
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)


@pytest.mark.parametrize("every", [1, 3])
def test_train_step_adds_r1_on_every_kth_step(every):
    """D's gradient differs from the plain recipe's by the R1 gradient at weight r1 * r1_every
    on the steps the penalty is due, and not at all on the others."""
    config = dict(size=32, nz=8, ngf=4, ndf=4, recipe="dcgan")
    real = REAL[:4].astype(np.float32)
    z = np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32)
    plain, with_r1 = GAN(config), GAN(dict(config, r1=2.0, r1_every=every))
    for step in range(3):
        grads = []
        for gan in (plain, with_r1):
            seen = []
            gan.opt_D.step = lambda g, seen=seen: seen.append(g.copy())
            gan.opt_G.step = lambda g: None
            gan.steps_done = step
            if gan is with_r1:
                _, expected = r1_gradient(gan.D, real, 2.0 * every)
            gan.train_step(real, z)
            grads.append(seen[0])
        if step % every == 0:
            np.testing.assert_allclose(grads[1] - grads[0], expected,
                                       atol=1e-5 * np.abs(expected).max())
        else:
            np.testing.assert_array_equal(grads[1], grads[0])
