"""The GAN losses on D's logits, each with its gradient: binary cross-entropy (the DCGAN loss)
and the hinge loss (Lim & Ye 2017; Miyato et al. 2018).

Every loss is a mean over all N_total = logits.size logits (D may give one per image or a
map of them), so every gradient carries a 1 / N_total."""

from .backend import array_module


def bce_with_logits(logits, targets):
    """Mean binary cross-entropy between sigmoid(logits) and targets in [0, 1].

    Shapes: logits (N, ...) ; targets a scalar or an array broadcastable to logits.
    Returns (loss as a 0-d array, dL/dlogits with the shape of logits).

        loss_i = -t log s(z) - (1 - t) log(1 - s(z))  = max(z, 0) - z t + log(1 + exp(-|z|))
        dL/dz_i = (s(z) - t) / N_total

    The rewritten form never exponentiates a large positive number, so it stays finite and
    exact for |z| up to 1e4 and beyond; soft targets (label smoothing, e.g. t = 0.9) just work.
    """
    xp = array_module(logits)
    z = logits
    loss = xp.maximum(z, 0) - z * targets + xp.log1p(xp.exp(-xp.abs(z)))
    sigmoid = 0.5 * (1 + xp.tanh(0.5 * z))
    grad = (sigmoid - targets) / z.size
    return loss.mean(), grad.astype(z.dtype, copy=False)


def hinge_d(logits, real):
    """The discriminator's hinge loss on one batch, real or fake; D's loss is the sum of
    hinge_d(D(x), real=True) and hinge_d(D(G(z)), real=False).

    Shapes: logits (N, ...). Returns (loss as a 0-d array, dL/dlogits with the shape of logits).

        real:  loss = mean(relu(1 - z))     dL/dz_i = -[z_i < 1] / N_total
        fake:  loss = mean(relu(1 + z))     dL/dz_i = +[z_i > -1] / N_total

    D is pushed to z >= 1 on real images and z <= -1 on fakes, and no further: a logit past
    its margin contributes neither loss nor gradient. (At the kink z = +-1 the gradient taken
    is 0, as for ReLU.)
    """
    xp = array_module(logits)
    sign = -1 if real else 1   # one code path: the two cases differ only in z's sign
    margin = 1 + sign * logits
    loss = xp.maximum(margin, 0)
    grad = sign * (margin > 0) / logits.size
    return loss.mean(), grad.astype(logits.dtype, copy=False)


def hinge_g(logits):
    """The generator's hinge loss, -mean(D(G(z))): G raises D's logits on its fakes.

    Shapes: logits (N, ...). Returns (loss as a 0-d array, dL/dlogits with the shape of logits).
        loss = -mean(z)      dL/dz_i = -1 / N_total
    """
    xp = array_module(logits)
    grad = xp.full(logits.shape, -1.0 / logits.size, dtype=logits.dtype)
    return -logits.mean(), grad
