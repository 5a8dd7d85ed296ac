"""Exercise 2: Conv2d's backward pass (the forward pass is written for you).

Forward, with cols = im2col(x) of shape (N, OH, OW, k, k, C_in) seen as rows
X (N*OH*OW, k*k*C_in), and the weight W (k, k, C_in, C_out) seen as Wm (k*k*C_in, C_out):

    Y = X @ Wm + b                      y = Y reshaped to (N, OH, OW, C_out)

Backward: given dy (N, OH, OW, C_out), seen as dY (N*OH*OW, C_out), write
    grads["W"] = dL/dW   (shape of W)     from one matrix product of X and dY
    grads["b"] = dL/db   (C_out,)         every output pixel adds b once
    return dx = dL/dx    (shape of x)     dX = dY @ Wm.T, then col2im: where windows overlap,
                                          their contributions add up (docs/02-im2col.md)

Grade your copy:  tinygan gradcheck --layer conv2d_backward.py:Conv2d --like Conv2d
Solution:  tinygan/nn/layers/conv.py (docs/03-convolution.md derives it).
"""

import numpy as np

from tinygan.nn.im2col import col2im, im2col  # noqa: F401  (col2im: for the part you write)


class Conv2d:
    def __init__(self, c_in, c_out, k, stride=1, padding=0, bias=True):
        self.k, self.stride, self.padding = k, stride, padding
        self.params = {"W": np.zeros((k, k, c_in, c_out))}
        if bias:
            self.params["b"] = np.zeros(c_out)
        self.grads = {}

    def forward(self, x, train=True):
        W = self.params["W"]
        cols = im2col(x, self.k, self.stride, self.padding)   # (N, OH, OW, k, k, C_in)
        n, oh, ow = cols.shape[:3]
        y = cols.reshape(n * oh * ow, -1) @ W.reshape(-1, W.shape[-1])
        if "b" in self.params:
            y = y + self.params["b"]
        self.x_shape, self.cols = x.shape, cols   # what backward needs
        return y.reshape(n, oh, ow, W.shape[-1])

    def backward(self, dy):
        # TODO: self.grads["W"], self.grads["b"] (if there is a bias), and return dx;
        # col2im(dcols, self.x_shape, self.stride, self.padding) takes dcols shaped like cols
        raise NotImplementedError
