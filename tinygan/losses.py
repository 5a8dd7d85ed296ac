"""Binary cross-entropy on logits: the GAN loss, with its gradient."""

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
