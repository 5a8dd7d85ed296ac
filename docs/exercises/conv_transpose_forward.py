"""Exercise 3: the transposed convolution's forward pass, via col2im (backward is written).

ConvTranspose2d(c_in -> c_out) is the adjoint of Conv2d(c_out -> c_in): its weight is that
convolution's, W (k, k, C_out, C_in). Each input pixel stamps a k x k x C_out patch, its
channels times W, into the output; overlapping stamps add up, which is exactly col2im:

    cols = x as rows (N*H*W, C_in) @ (W as (k*k*C_out, C_in)).T   -> (N, H, W, k, k, C_out)
    y    = col2im(cols, output shape, stride, padding) + b
    OH   = (H - 1) * stride - 2 * padding + k, likewise OW

Grade your copy:  tinygan gradcheck --layer conv_transpose_forward.py:ConvTranspose2d \\
                     --like ConvTranspose2d
Solution:  tinygan/nn/layers/conv_transpose.py (docs/04-transposed-convolution.md).
"""

import numpy as np

from tinygan.nn.im2col import col2im, im2col  # noqa: F401  (col2im: for the part you write)


class ConvTranspose2d:
    def __init__(self, c_in, c_out, k, stride=1, padding=0, bias=True):
        self.k, self.stride, self.padding = k, stride, padding
        self.params = {"W": np.zeros((k, k, c_out, c_in))}
        if bias:
            self.params["b"] = np.zeros(c_out)
        self.grads = {}

    def output_shape(self, x_shape):
        n, h, w, _ = x_shape
        k, s, p = self.k, self.stride, self.padding
        return n, (h - 1) * s - 2 * p + k, (w - 1) * s - 2 * p + k, self.params["W"].shape[2]

    def forward(self, x, train=True):
        # TODO: cols from x and W, then y = col2im(cols, self.output_shape(x.shape),
        # self.stride, self.padding), plus the bias; keep x as self.x for backward
        raise NotImplementedError

    def backward(self, dy):
        W = self.params["W"]
        n, h, w, c_in = self.x.shape
        dcols = im2col(dy, self.k, self.stride, self.padding).reshape(n * h * w, -1)
        self.grads["W"] = (dcols.T @ self.x.reshape(-1, c_in)).reshape(W.shape)
        if "b" in self.params:
            self.grads["b"] = dy.reshape(-1, dy.shape[-1]).sum(axis=0)
        return (dcols @ W.reshape(-1, c_in)).reshape(self.x.shape)
