"""Fast BatchNorm2d and activations: the textbook math in fewer whole-array passes.

BatchNorm's statistics are reduced over (N, H, W) directly, without reshaping (so an input
that is a strided view is not copied first), the centred input is turned into xhat in place,
and backward builds dx in one buffer. Per-channel sums go through `sync` when several
processes train together (tinygan/parallel.py sets it), so that the mean and variance are
those of the global batch; alone, `sync` is None and the sums are this process's.
"""

from ..backend import array_module
from ..layers import BatchNorm2d, LeakyReLU, ReLU


class FastBatchNorm2d(BatchNorm2d):
    sync = None   # an object with .size (processes) and .allreduce_sum(array) -> array

    def _count(self, x):
        m = x.size // x.shape[-1]
        return m if self.sync is None else m * self.sync.size

    def forward(self, x, train=True):
        axes = tuple(range(x.ndim - 1))
        gamma, beta = self.params["gamma"], self.params["beta"]
        self.train = train
        if not train:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
            self.inv_std = (var + self.eps) ** -0.5
            # for an eval-mode backward (gradient checks only), which reads x again: x may be
            # a shared buffer of the layer before, valid only until that buffer's next use
            self.x = x
            y = x - mean
            y *= gamma * self.inv_std
            y += beta
            return y
        m = self._count(x)
        if self.sync is None:
            mean = x.mean(axis=axes)
        else:
            mean = self.sync.allreduce_sum(x.sum(axis=axes)) / m
        xhat = x - mean
        squares = xhat * xhat
        if self.sync is None:
            var = squares.mean(axis=axes)
        else:
            var = self.sync.allreduce_sum(squares.sum(axis=axes)) / m
        self.update_running_statistics(mean, var, m)
        self.inv_std = (var + self.eps) ** -0.5
        xhat *= self.inv_std
        self.xhat = xhat
        y = xhat * gamma
        y += beta
        return y

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
        xhat = self.xhat
        dbeta, dgamma = dy.sum(axis=axes), (dy * xhat).sum(axis=axes)
        if self.requires_grad:   # this process's share; the optimizer's sum adds the others
            self.grads["beta"], self.grads["gamma"] = dbeta, dgamma
        if self.sync is not None:
            total = self.sync.allreduce_sum(array_module(dy).stack([dbeta, dgamma]))
            dbeta, dgamma = total[0], total[1]
        m = self._count(dy)
        dx = xhat * (dgamma * (-1.0 / m))
        dx += dy
        dx -= dbeta * (1.0 / m)
        dx *= gamma * self.inv_std
        return dx


class FastReLU(ReLU):
    """max(x, 0) in one pass, in place: the input's memory becomes the output, as with
    PyTorch's ReLU(inplace=True). The models put it after BatchNorm or a convolution, neither
    of which keeps its output for its own backward. Backward masks with the output (y > 0
    exactly where x > 0)."""

    def forward(self, x, train=True):
        self.y = array_module(x).maximum(x, 0, out=x)
        return self.y

    def backward(self, dy):
        return dy * (self.y > 0)


class FastLeakyReLU(LeakyReLU):
    """max(x, slope * x) for 0 < slope < 1, in place like FastReLU; backward reads the sign
    from the output."""

    def forward(self, x, train=True):
        self.y = array_module(x).maximum(x, x * self.slope, out=x)
        return self.y

    def backward(self, dy):
        return array_module(dy).where(self.y > 0, dy, dy * self.slope)
