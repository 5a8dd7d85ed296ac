"""Conv2d: a 2-D convolution on channels-last images, as im2col + one matrix product."""

import numpy as np

from ..im2col import col2im, conv_output_size, im2col
from .base import Layer


class Conv2d(Layer):
    """y = conv(x, W) + b

    Shapes:
        x : (N, H, W, C_in)          W : (k, k, C_in, C_out)      b : (C_out,)
        y : (N, OH, OW, C_out)       OH = (H + 2*padding - k) // stride + 1, likewise OW

    Forward, with X = im2col(x) reshaped to (N*OH*OW, k*k*C_in) and Wm = W as (k*k*C_in, C_out):
        Y = X @ Wm + b
    Backward, given dY (same shape as Y), by the chain rule through that one product:
        dWm = X.T @ dY        db = sum of dY over rows
        dX  = dY @ Wm.T       dx = col2im(dX)   (overlapping windows add up)
    """

    def __init__(self, c_in, c_out, k, stride=1, padding=0, bias=True):
        super().__init__()
        self.k, self.stride, self.padding = k, stride, padding
        self.params["W"] = np.zeros((k, k, c_in, c_out), dtype=np.float32)
        if bias:
            self.params["b"] = np.zeros((c_out,), dtype=np.float32)

    def forward(self, x, train=True):
        W = self.params["W"]
        cols = im2col(x, self.k, self.stride, self.padding)
        n, oh, ow = cols.shape[:3]
        y = cols.reshape(n * oh * ow, -1) @ W.reshape(-1, W.shape[-1])
        if "b" in self.params:
            y = y + self.params["b"]
        self.x_shape, self.cols = x.shape, cols
        return y.reshape(n, oh, ow, W.shape[-1])

    def backward(self, dy):
        self.backward_params(dy)
        W = self.params["W"]
        dcols = dy.reshape(-1, W.shape[-1]) @ W.reshape(-1, W.shape[-1]).T
        return col2im(dcols.reshape(self.cols.shape), self.x_shape, self.stride, self.padding)

    def backward_params(self, dy):
        """The parameter gradients alone (when dx is not needed, e.g. the first layer)."""
        if not self.requires_grad:
            return
        W, cols = self.params["W"], self.cols
        dy2 = dy.reshape(-1, W.shape[-1])
        self.grads["W"] = (cols.reshape(len(dy2), -1).T @ dy2).reshape(W.shape)
        if "b" in self.params:
            self.grads["b"] = dy2.sum(axis=0)

    def output_shape(self, x_shape):
        n, h, w, _ = x_shape
        k, s, p = self.k, self.stride, self.padding
        return (n, conv_output_size(h, k, s, p), conv_output_size(w, k, s, p),
                self.params["W"].shape[-1])

    def macs(self, x_shape):
        """Multiply-accumulates of one forward pass on input of shape x_shape."""
        n, oh, ow, c_out = self.output_shape(x_shape)
        return n * oh * ow * c_out * self.params["W"][..., 0].size
