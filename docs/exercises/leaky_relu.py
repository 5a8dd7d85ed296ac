"""Exercise 1: LeakyReLU, forward and backward.

    y = x        where x > 0          dy/dx = 1
    y = slope x  elsewhere            dy/dx = slope

Shapes: x and y are (N, H, W, C) (any shape works: the layer acts element by element).
backward(dy) receives dL/dy and returns dL/dx; it may use what forward kept on self.

Grade your copy:  tinygan gradcheck --layer leaky_relu.py:LeakyReLU --like LeakyReLU
Solution:  tinygan/nn/layers/activations.py (docs/03-convolution.md explains activations).
"""

import numpy as np


class LeakyReLU:
    def __init__(self, slope=0.2):
        self.slope = slope
        self.params, self.grads = {}, {}   # no weights

    def forward(self, x, train=True):
        # TODO: return y, and keep on self what backward needs (the local derivative)
        raise NotImplementedError

    def backward(self, dy):
        # TODO: return dx = dy * dy/dx, element by element
        raise NotImplementedError


if __name__ == "__main__":   # a first look before grading
    layer = LeakyReLU(0.2)
    print(layer.forward(np.array([-2.0, -0.5, 0.0, 1.5])))   # expect [-0.4, -0.1, 0, 1.5]
