"""Element-wise activations: ReLU, LeakyReLU, Sigmoid, Tanh.

Each keeps what its derivative needs (a mask, a scale, or its own output) for the backward pass.
"""

from ..backend import array_module
from .base import Layer


class ReLU(Layer):
    """y = max(x, 0);   dx = dy * [x > 0]"""

    def forward(self, x, train=True):
        self.mask = x > 0
        return x * self.mask

    def backward(self, dy):
        return dy * self.mask


class LeakyReLU(Layer):
    """y = x if x > 0 else slope * x;   dx = dy * (1 if x > 0 else slope)"""

    def __init__(self, slope=0.2):
        super().__init__()
        self.slope = slope

    def forward(self, x, train=True):
        xp = array_module(x)
        # scale is 1 where x > 0 and `slope` elsewhere: the local derivative, kept for backward
        self.scale = xp.where(x > 0, 1, self.slope).astype(x.dtype)
        return x * self.scale

    def backward(self, dy):
        return dy * self.scale


class Tanh(Layer):
    """y = tanh(x);   dx = dy * (1 - y^2)"""

    def forward(self, x, train=True):
        self.y = array_module(x).tanh(x)
        return self.y

    def backward(self, dy):
        return dy * (1 - self.y * self.y)


class Sigmoid(Layer):
    """y = 1 / (1 + exp(-x)), computed as (1 + tanh(x/2)) / 2, which never overflows;
    dx = dy * y * (1 - y)"""

    def forward(self, x, train=True):
        self.y = 0.5 * (1 + array_module(x).tanh(0.5 * x))
        return self.y

    def backward(self, dy):
        return dy * self.y * (1 - self.y)
