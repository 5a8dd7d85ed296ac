"""The R1 gradient penalty (Mescheder, Geiger & Nowozin 2018), without double backpropagation.

R1 penalises how steeply D's output changes around real images, which keeps D from building
cliffs that G's gradients then fall off:

    P(theta) = gamma/2 * 1/B * sum_i ||g_i||^2,     g = df/dx,  f(x; theta) = sum_j D(x)_j

over a batch x of B real images. Its gradient with respect to D's weights is a second
derivative, (d^2 f / dtheta dx) g, which autodiff frameworks get by differentiating the
backward pass itself. A hand-written backward has no backward of its own, but the same
product is the derivative of an ordinary weight gradient along g:

    dP/dtheta = gamma/B * d/de [ df/dtheta (x + e g) ]  at e = 0
              ~ gamma/B * ( df/dtheta (x + e g) - df/dtheta (x - e g) ) / 2e

a central difference of two weight gradients that D.backward already computes (the
finite-difference Hessian-vector product). One R1 gradient costs a forward pass and an
input-gradient backward pass for g, then two forward-backward passes of D on the batch.

For a finite e the difference is, exactly, the gradient with g held constant of
    S(theta) = gamma/(2eB) * [ f(x + e g) - f(x - e g) ]
D's rise over a short segment through each real image along its own gradient. Where D is
smooth along the segment that is R1's gradient up to O(e^2). D's LeakyReLUs have kinks,
though, and in float32 e cannot be small enough to miss them all (float64 can: the tests
check the exact R1 gradient there); their bends then count too, and at the default step the
two gradients differ by about as much as R1's own (tests/test_penalty.py). So this is R1
measured over a small neighbourhood instead of at a point: it flattens D around the real
images just the same, and is what tinygan calls R1.

The step e is chosen so that the images move by `step` (root mean square over all pixels),
small against the [-1, 1] pixel range; the same e is used for the whole batch, as D's
BatchNorm ties its images together. D's buffers (BatchNorm running statistics, spectral
norm's u and v) are restored before each pass and after the last: every pass sees the same D,
and the penalty leaves no trace in D's state.
"""

import numpy as np

from ..nn.backend import array_module

STEP = 1e-2   # how far, in pixel values (root mean square), the difference moves the images
EVERY = 4     # lazy regularisation: the penalty on every EVERY-th step, EVERY times as strong


def r1_gradient(D, real, gamma, step=STEP, sum_over_ranks=None):
    """The R1 penalty on a batch of real images and its gradient with respect to D's weights.

    D: a Sequential whose forward maps (N, S, S, 3) images to (N, 1) logits.
    real: (N, S, S, 3), as D sees it (after augmentation). gamma: the penalty's weight.
    sum_over_ranks: for a batch split over several processes, a function that sums a small
    array over them (the penalty is that of the whole batch); None for one process.
    Returns (P as a float, dP/dtheta as a flat array in D.flat_parameters() order, this
    process's share: the shares of all processes add up to the whole batch's gradient).
    """
    xp = array_module(real)
    saved = _buffers(D)
    D.set_requires_grad(False)
    logits = D.forward(real)
    # a copy: a fast layer's input gradient may be a buffer that its next backward reuses
    slope = D.backward(xp.ones_like(logits)).copy()
    squares = (slope.astype(np.float64) ** 2).sum()
    totals = xp.stack([xp.asarray(len(real), dtype=np.float64), squares])
    if sum_over_ranks is not None:
        totals = sum_over_ranks(totals)
    n, squares = (float(t) for t in totals)
    penalty = gamma / 2 * squares / n
    rms = np.sqrt(squares / (n * real[0].size))
    e = step / max(rms, 1e-12)

    D.set_requires_grad(True)
    grad = None
    for sign in (1, -1):
        _restore(saved)
        logits = D.forward(real + (sign * e) * slope)
        D.backward(xp.full_like(logits, sign * gamma / (2 * e * n)), input_grad=False)
        part = D.flat_gradients()
        grad = part if grad is None else grad + part
    _restore(saved)
    return penalty, grad


def _buffers(model):
    """A copy of every layer's buffers (a SpectralNorm keeps u and v in its own)."""
    return [(layer, {k: v.copy() for k, v in layer.buffers.items()}) for layer in model.layers]


def _restore(saved):
    for layer, buffers in saved:
        for key, value in buffers.items():
            layer.buffers[key] = value.copy()

