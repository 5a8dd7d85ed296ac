"""Finite-difference gradient checks: the proof that every hand-written backward is right.

For a layer y = f(x; params) and a fixed random upstream gradient dy we check the scalar
L = sum(f(x) * dy), whose exact gradients are what `backward(dy)` returns. The numerical ones
are central differences, (L(x + h) - L(x - h)) / 2h per element, in float64. Agreement is
measured with cs231n's relative error, max |a - n| / max(1e-8, |a| + |n|): well under 1e-6
when backward is right (1e-7 at worst for these layers, most 1e-9 or less), usually 1e-3 or
worse when it is not.
"""

import numpy as np

from .dcgan_init import dcgan_init
from .layers import (
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    Flatten,
    LeakyReLU,
    Linear,
    MinibatchStd,
    PixelNorm,
    ReLU,
    SelfAttention,
    Sequential,
    Sigmoid,
    SpectralNorm,
    Tanh,
)
from .losses import bce_with_logits, hinge_d, hinge_g


def rel_error(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def numerical_gradient(f, x, h=1e-5):
    """dL/dx of the scalar function f() by central differences, perturbing x in place."""
    grad = np.zeros_like(x)
    flat_x, flat_g = x.reshape(-1), grad.reshape(-1)
    for i in range(flat_x.size):
        old = flat_x[i]
        flat_x[i] = old + h
        plus = f()
        flat_x[i] = old - h
        minus = f()
        flat_x[i] = old
        flat_g[i] = (plus - minus) / (2 * h)
    return grad


def check_layer(layer, x, train=True, seed=0):
    """Relative errors {'x': e, 'W': e, ...} of layer.backward against finite differences."""
    layer.astype(np.float64)
    x = np.asarray(x, dtype=np.float64).copy()
    # the layer always gets a copy of x: a layer may work in place (the fast activations do)
    dy = np.random.default_rng(seed).standard_normal(layer.forward(x.copy(), train).shape)

    def loss():
        return float(np.sum(layer.forward(x.copy(), train) * dy))

    layer.forward(x.copy(), train)
    errors = {"x": None}
    dx = layer.backward(dy)
    analytic = {key: layer.grads[key].copy() for key in layer.params}
    errors["x"] = rel_error(dx, numerical_gradient(loss, x))
    for key, param in layer.params.items():
        errors[key] = rel_error(analytic[key], numerical_gradient(loss, param))
    return errors


def check_loss(logits, targets):
    """Relative error of bce_with_logits' gradient against finite differences."""
    z = np.asarray(logits, dtype=np.float64).copy()
    _, grad = bce_with_logits(z, targets)
    numeric = numerical_gradient(lambda: float(bce_with_logits(z, targets)[0]), z)
    return {"logits": rel_error(grad, numeric)}


def check_loss_function(loss_and_grad, logits):
    """Relative error of the gradient of any `loss, grad = loss_and_grad(logits)`."""
    z = np.asarray(logits, dtype=np.float64).copy()
    _, grad = loss_and_grad(z)
    numeric = numerical_gradient(lambda: float(loss_and_grad(z)[0]), z)
    return {"logits": rel_error(grad, numeric)}


def _init(layer, rng):
    """DCGAN-style init, but with a larger spread so finite differences are well conditioned."""
    model = dcgan_init(Sequential(layer), rng, std=0.5)
    for key in ("b", "beta"):
        if key in layer.params:
            layer.params[key] = rng.normal(0, 0.5, layer.params[key].shape).astype(np.float32)
    return model.layers[0]


def standard_cases():
    """(name, layer, input, train) for one representative shape of every layer; the CLI's
    `tinygan gradcheck` runs these, and the tests run them plus many more shapes."""
    rng = np.random.default_rng(0)

    def x(*shape):
        return rng.standard_normal(shape)

    return [
        ("Conv2d k3 s1 p1", _init(Conv2d(3, 4, 3, 1, 1), rng), x(2, 5, 6, 3), True),
        ("Conv2d k4 s2 p1 no-bias", _init(Conv2d(3, 4, 4, 2, 1, bias=False), rng), x(2, 8, 7, 3),
         True),
        ("ConvTranspose2d k4 s2 p1", _init(ConvTranspose2d(4, 3, 4, 2, 1), rng), x(2, 3, 4, 4),
         True),
        ("ConvTranspose2d k4 s1 p0 1x1", _init(ConvTranspose2d(5, 3, 4, 1, 0), rng),
         x(2, 1, 1, 5), True),
        ("BatchNorm2d train", _init(BatchNorm2d(3), rng), x(4, 3, 2, 3), True),
        ("BatchNorm2d eval", _init(BatchNorm2d(3), rng), x(4, 3, 2, 3), False),
        ("Linear", _init(Linear(6, 4), rng), x(3, 6), True),
        ("ReLU", ReLU(), x(2, 3, 3, 2), True),
        ("LeakyReLU 0.2", LeakyReLU(0.2), x(2, 3, 3, 2), True),
        ("Sigmoid", Sigmoid(), x(2, 3, 3, 2), True),
        ("Tanh", Tanh(), x(2, 3, 3, 2), True),
        ("Flatten", Flatten(), x(2, 3, 2, 2), True),
    ] + modern_cases(rng, x)


def _spectral_norm(layer, x):
    """SpectralNorm around `layer`, its u and v moved by one training pass (three steps of
    power iteration). The cases run in eval mode: there u and v stay put, as the gradient
    (u, v held constant) assumes, while each training pass would move them between the
    finite differences' evaluations."""
    wrapped = SpectralNorm(layer, n_power_iterations=3)
    wrapped.forward(x.astype(np.float32), train=True)
    return wrapped


def _apart(x):
    """Images moved 3 apart: where a group's values of a feature nearly coincide, its std
    sqrt(var + eps) bends too sharply (like |d| near 0) for finite differences to follow."""
    return x + 3.0 * np.arange(len(x)).reshape(-1, 1, 1, 1)


def _attending(layer, rng):
    """A SelfAttention with gamma away from its starting 0, where the projections' gradients
    (all multiplied by gamma) would be zero and so prove nothing."""
    layer.params["gamma"][...] = rng.normal(0, 0.5) + 1.0
    return layer


def modern_cases(rng, x):
    """The layers of modern GANs (appended to the DCGAN ones)."""
    conv_x, linear_x = x(2, 6, 6, 3), x(3, 6)
    return [
        ("SpectralNorm Conv2d k4 s2 eval",
         _spectral_norm(_init(Conv2d(3, 4, 4, 2, 1), rng), conv_x), conv_x, False),
        ("SpectralNorm Linear eval", _spectral_norm(_init(Linear(6, 4), rng), linear_x),
         linear_x, False),
        ("MinibatchStd whole batch", MinibatchStd(), _apart(x(4, 3, 2, 3)), True),
        ("MinibatchStd groups of 2", MinibatchStd(group_size=2), _apart(x(4, 3, 2, 3)), True),
        ("PixelNorm", PixelNorm(), x(2, 3, 2, 4), True),
        ("SelfAttention", _attending(_init(SelfAttention(16), rng), rng), x(2, 3, 2, 16), True),
    ]


def run_all(more_cases=()):
    """Yield (name, {what: rel_error}) for the standard cases, `more_cases` (name, layer,
    input, train) and the losses."""
    for name, layer, x, train in standard_cases() + list(more_cases):
        yield name, check_layer(layer, x, train)
    rng = np.random.default_rng(1)
    yield "bce_with_logits", check_loss(rng.standard_normal((8, 1)) * 3, rng.uniform(0, 1, (8, 1)))
    logits = HINGE_LOGITS
    yield "hinge_d real", check_loss_function(lambda z: hinge_d(z, real=True), logits)
    yield "hinge_d fake", check_loss_function(lambda z: hinge_d(z, real=False), logits)
    yield "hinge_g", check_loss_function(hinge_g, logits)


# on both sides of both kinks (z = -1 and z = 1) but not within a finite difference of them
HINGE_LOGITS = np.array([[-2.5], [-1.2], [-0.8], [-0.1], [0.3], [0.9], [1.1], [3.0]])
