"""Fast ReLU and LeakyReLU: in place, in one pass, over the batch on all cores.

They overwrite their input, so they belong after a layer that does not keep its output (as
in the networks); backward reads the mask from the output.
"""

import numpy as np

from ..nn.backend import array_module
from ..nn.layers import LeakyReLU, ReLU
from .threads import over_batch


class FastReLU(ReLU):
    """max(x, 0) in one pass, in place: the input's memory becomes the output, as with
    PyTorch's ReLU(inplace=True). The models put it after BatchNorm or a convolution, neither
    of which reads its output again. Backward masks with the output (y > 0 exactly where
    x > 0)."""

    def forward(self, x, train=True):
        over_batch(_relu, x)
        self.y = x
        return x

    def backward(self, dy):
        dx = array_module(dy).empty_like(dy)
        over_batch(_relu_gradient, dx, dy, self.y)
        return dx


class FastLeakyReLU(LeakyReLU):
    """max(x, slope * x) for 0 < slope < 1, in place like FastReLU; backward reads the sign
    from the output, and scales dy by a factor built from it (1 where y > 0, else slope):
    two multiplications and an addition run far faster than `where`, whose random branches
    NumPy cannot vectorise."""

    def forward(self, x, train=True):
        over_batch(_leaky_relu, x, args=(self.slope,))
        self.y = x
        return x

    def backward(self, dy):
        xp = array_module(dy)
        if xp is not np:   # on a GPU, `where` is one kernel, fewer than the factor's three
            return xp.where(self.y > 0, dy, dy * self.slope)
        dx = np.empty_like(dy)
        over_batch(_leaky_relu_gradient, dx, dy, self.y, args=(self.slope,))
        return dx


def _relu(x):
    array_module(x).maximum(x, 0, out=x)


def _relu_gradient(dx, dy, y):
    array_module(dy).multiply(dy, y > 0, out=dx)


def _leaky_relu(x, slope):
    array_module(x).maximum(x, x * slope, out=x)


def _leaky_relu_gradient(dx, dy, y, slope):
    """dx = dy * (slope + (1 - slope) * [y > 0])"""
    array_module(dy).multiply(y > 0, 1 - slope, out=dx)
    dx += slope
    dx *= dy
