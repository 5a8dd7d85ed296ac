"""Fast BatchNorm2d: the textbook math in fewer whole-array passes.

BatchNorm's statistics are reduced over (N, H, W) directly, without reshaping (so an input that
is a strided view is not copied first), xhat and y live in buffers the layer reuses, and
backward builds dx in one buffer. The training passes are cut along the batch axis and run on
all cores (threads.py), and the parts' per-channel sums are added up. Those sums go through
`sync` when several processes train together (tinygan/run/mpi.py sets it), so that the mean
and variance are those of the global batch; alone, `sync` is None and the sums are this
process's.
"""


from ..nn.backend import array_module
from ..nn.layers import BatchNorm2d
from .buffers import reuse
from .threads import over_batch


class FastBatchNorm2d(BatchNorm2d):
    sync = None       # an object with .size (processes) and .allreduce_sum(array) -> array
    xhat = y = None   # kept between calls and reused: fresh big arrays cost page faults

    def _count(self, x):
        m = x.size // x.shape[-1]
        return m if self.sync is None else m * self.sync.size

    def forward(self, x, train=True):
        gamma, beta = self.params["gamma"], self.params["beta"]
        self.train = train
        if not train:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
            self.inv_std = (var + self.eps) ** -0.5
            # for an eval-mode backward (gradient checks only), which reads x again: x may be
            # a shared buffer of the layer before, valid only until that buffer's next use
            self.x = x
            scale = gamma * self.inv_std
            y = self.y = reuse(self.y, x.shape, x.dtype, array_module(x))
            over_batch(_affine, y, x, args=(scale, beta - mean * scale))
            return y
        n, m = len(x), self._count(x)
        mean = self._mean(over_batch(_channel_mean, x, args=(n,)), x)
        xhat = self.xhat = reuse(self.xhat, x.shape, x.dtype, array_module(x))
        var = self._mean(over_batch(_centre, xhat, x, args=(mean, n)), x)
        self.update_running_statistics(mean, var, m)
        self.inv_std = (var + self.eps) ** -0.5
        y = self.y = reuse(self.y, x.shape, x.dtype, array_module(x))
        over_batch(_scale_shift, y, xhat, args=(self.inv_std, gamma, beta))
        return y

    def _mean(self, weighted_means, x):
        """The whole batch's per-channel mean from its parts' (and, with `sync`, from the
        other processes')."""
        mean = _add_up(weighted_means)
        if self.sync is None:
            return mean
        return self.sync.allreduce_sum(mean * (x.size // x.shape[-1])) / self._count(x)

    def update_running_statistics(self, mean, var, m):
        """The textbook update, in place: two operations per statistic instead of three."""
        mom = self.momentum
        running_mean, running_var = self.buffers["running_mean"], self.buffers["running_var"]
        running_mean *= 1 - mom
        running_mean += mom * mean
        running_var *= 1 - mom
        running_var += (mom * m / max(m - 1, 1)) * var

    def backward(self, dy):
        axes = tuple(range(dy.ndim - 1))
        gamma = self.params["gamma"]
        if not self.train:
            if self.requires_grad:
                xhat = (self.x - self.buffers["running_mean"]) * self.inv_std
                self.grads["gamma"] = (dy * xhat).sum(axis=axes)
                self.grads["beta"] = dy.sum(axis=axes)
            return dy * (gamma * self.inv_std)
        xhat, xp = self.xhat, array_module(dy)
        sums = over_batch(_sums_for_backward, dy, xhat)
        dbeta, dgamma = _add_up([part[0] for part in sums]), _add_up([part[1] for part in sums])
        if self.requires_grad:   # this process's share; the optimizer's sum adds the others
            self.grads["beta"], self.grads["gamma"] = dbeta, dgamma
        if self.sync is not None:
            total = self.sync.allreduce_sum(xp.stack([dbeta, dgamma]))
            dbeta, dgamma = total[0], total[1]
        m = self._count(dy)
        dx = xp.empty(dy.shape, dtype=dy.dtype)
        over_batch(_input_gradient, dx, dy, xhat,
                   args=(dgamma * (-1.0 / m), dbeta * (-1.0 / m), gamma * self.inv_std))
        return dx


# The passes over one part of the batch (tinygan/fast/threads.py runs the parts in parallel).

def _channel_sum(x):
    return x.sum(axis=tuple(range(x.ndim - 1)))


def _channel_mean(x, n):
    """x's per-channel mean, weighted by its share of a batch of n (the parts' add up to the
    batch's mean; a whole batch takes one operation, one kernel on a GPU)."""
    mean = x.mean(axis=tuple(range(x.ndim - 1)))
    return mean if len(x) == n else mean * (len(x) / n)


def _centre(xhat, x, mean, n):
    """xhat = x - mean; returns the weighted per-channel mean of its squares."""
    array_module(x).subtract(x, mean, out=xhat)
    return _channel_mean(xhat * xhat, n)


def _add_up(parts):
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _scale_shift(y, xhat, inv_std, gamma, beta):
    """xhat *= inv_std (it is kept for backward); y = gamma * xhat + beta."""
    xhat *= inv_std
    array_module(y).multiply(xhat, gamma, out=y)
    y += beta


def _affine(y, x, scale, shift):
    """y = x * scale + shift (eval mode: (x - mean) / std * gamma + beta, folded)."""
    array_module(y).multiply(x, scale, out=y)
    y += shift


def _sums_for_backward(dy, xhat):
    """(sum of dy, sum of dy * xhat), per channel."""
    return _channel_sum(dy), _channel_sum(dy * xhat)


def _input_gradient(dx, dy, xhat, xhat_scale, shift, scale):
    """dx = (xhat * xhat_scale + dy + shift) * scale."""
    array_module(dx).multiply(xhat, xhat_scale, out=dx)
    dx += dy
    dx += shift
    dx *= scale
